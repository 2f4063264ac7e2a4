// The retry decision as a table: failure kind x what was sent x attempts x candidates x
// Retry-After x deadline -> retry now, retry after a wait, or give up. No server, no clock.
#include "llmgate/resilience/retry_state.hpp"

#include <gtest/gtest.h>

namespace llmgate::resilience {
namespace {

using Action = RetryDecision::Action;
using core::ErrorKind;

core::GatewayError errorOf(ErrorKind kind, int status) {
  auto error = core::GatewayError::make(kind, "x", "x");
  error.status = status;
  return error;
}

struct Case {
  const char* name;
  core::GatewayError error;
  bool contentSent;
  int attempts;
  std::size_t failed;
  std::vector<CandidateState> candidates;
  std::optional<Millis> retryAfter;
  std::optional<Millis> timeLeft;
  bool sameDeploymentAfterTimeout;
  Action action;
  std::size_t candidate;  // when retrying
  Millis delay;           // when retrying after a wait
};

// Candidates: {tried, takes traffic now, has a deployment left}.
const CandidateState kTriedFree{true, true, true};
const CandidateState kTriedBusy{true, false, true};
const CandidateState kTriedGone{true, false, false};
const CandidateState kUntried{false, true, true};
const CandidateState kUntriedBusy{false, false, true};

TEST(RetryState, DecidesEveryCaseOfTheTable) {
  const auto e503 = errorOf(ErrorKind::Upstream, 503);
  const auto e429 = errorOf(ErrorKind::RateLimited, 429);
  const auto timeout = errorOf(ErrorKind::Timeout, 504);
  const auto e400 = errorOf(ErrorKind::InvalidRequest, 400);
  const auto e408 = errorOf(ErrorKind::InvalidRequest, 408);
  const auto malformed = errorOf(ErrorKind::Protocol, 502);
  const auto cancelled = errorOf(ErrorKind::Cancelled, 499);
  const std::vector<Case> cases{
      // what was sent and what failed
      {"content already sent", e503, true, 1, 0, {kTriedBusy}, {}, {}, false, Action::GiveUp, 0, Millis(0)},
      {"a client error is final", e400, false, 1, 0, {kTriedFree, kUntried}, {}, {}, false, Action::GiveUp, 0, Millis(0)},
      {"a cancellation is final", cancelled, false, 1, 0, {kTriedFree}, {}, {}, false, Action::GiveUp, 0, Millis(0)},
      {"408 is retried", e408, false, 1, 0, {kTriedFree}, {}, {}, false, Action::RetryAfter, 0, Millis(500)},
      {"a malformed answer is retried", malformed, false, 1, 0, {kTriedFree}, {}, {}, false, Action::RetryAfter, 0, Millis(500)},
      // attempts
      {"503, attempts left: linear backoff", e503, false, 2, 0, {kTriedFree}, {}, {}, false, Action::RetryAfter, 0, Millis(1000)},
      {"503, attempts spent", e503, false, 3, 0, {kTriedFree}, {}, {}, false, Action::GiveUp, 0, Millis(0)},
      {"attempts spent, a fallback untried: it still gets one", e503, false, 3, 0, {kTriedFree, kUntried}, {}, {}, false,
       Action::RetryNow, 1, Millis(0)},
      {"the untried fallback after the failed one, even when busy", e503, false, 1, 1, {kUntriedBusy, kTriedFree, kUntried},
       {}, {}, false, Action::RetryNow, 2, Millis(0)},
      {"fallbacks wrap around", e503, false, 1, 2, {kUntried, kTriedFree, kTriedFree}, {}, {}, false, Action::RetryNow, 0,
       Millis(0)},
      // Retry-After
      {"Retry-After replaces the backoff", e503, false, 1, 0, {kTriedBusy}, Millis(3000), {}, false, Action::RetryAfter, 0,
       Millis(3000)},
      {"Retry-After past max_delay: the client's SDK waits", e503, false, 1, 0, {kTriedBusy}, Millis(30000), {}, false,
       Action::GiveUp, 0, Millis(0)},
      {"429 and another key free: now, not after Retry-After", e429, false, 1, 0, {kTriedFree}, Millis(5000), {}, false,
       Action::RetryNow, 0, Millis(0)},
      {"429 and nothing free: after Retry-After", e429, false, 1, 0, {kTriedBusy}, Millis(1000), {}, false,
       Action::RetryAfter, 0, Millis(1000)},
      {"429, another target free", e429, false, 1, 0, {kTriedBusy, kTriedFree}, Millis(1000), {}, false, Action::RetryNow,
       1, Millis(0)},
      {"503 does not jump to a free key: it backs off", e503, false, 1, 0, {kTriedFree, kTriedFree}, {}, {}, false,
       Action::RetryAfter, 1, Millis(500)},
      // timeouts move on
      {"timeout, another deployment free", timeout, false, 1, 0, {kTriedFree}, {}, {}, false, Action::RetryNow, 0, Millis(0)},
      {"timeout, nothing else: give up, not wait", timeout, false, 1, 0, {kTriedGone}, {}, {}, false, Action::GiveUp, 0,
       Millis(0)},
      {"timeout, the rest busy: give up", timeout, false, 1, 0, {kTriedBusy}, {}, {}, false, Action::GiveUp, 0, Millis(0)},
      {"timeout, a fallback untried", timeout, false, 1, 0, {kTriedGone, kUntried}, {}, {}, false, Action::RetryNow, 1,
       Millis(0)},
      {"timeout, the same deployment allowed: backoff", timeout, false, 1, 0, {kTriedBusy}, {}, {}, true,
       Action::RetryAfter, 0, Millis(500)},
      // deadline
      {"the wait fits the deadline", e503, false, 1, 0, {kTriedBusy}, {}, Millis(600), false, Action::RetryAfter, 0,
       Millis(500)},
      {"the wait ends past the deadline", e503, false, 1, 0, {kTriedBusy}, {}, Millis(400), false, Action::GiveUp, 0,
       Millis(0)},
      {"a retry now needs no time", e503, false, 1, 0, {kTriedBusy, kUntried}, {}, Millis(1), false, Action::RetryNow, 1,
       Millis(0)},
      {"no candidate at all", e503, false, 1, 0, {}, {}, {}, false, Action::GiveUp, 0, Millis(0)},
      {"the deadline has passed: not even a fallback", e503, false, 1, 0, {kTriedBusy, kUntried}, {}, Millis(0), false,
       Action::GiveUp, 0, Millis(0)},
      {"a target with no deployment left is skipped", e503, false, 2, 2, {kTriedGone, kTriedBusy, kTriedBusy}, {}, {},
       false, Action::RetryAfter, 1, Millis(1000)},
      {"an untried target with no deployment left lifts no cap", e503, false, 3, 0,
       {kTriedFree, CandidateState{false, false, false}}, {}, {}, false, Action::GiveUp, 0, Millis(0)},
      {"timeout, the same deployment allowed, a key free: backoff all the same", timeout, false, 1, 0, {kTriedFree}, {},
       {}, true, Action::RetryAfter, 0, Millis(500)},
  };
  for (const auto& c : cases) {
    RetryConfig policy;  // 3 attempts, 500 ms base, 20 s max delay
    policy.jitter = 0;
    policy.sameDeploymentAfterTimeout = c.sameDeploymentAfterTimeout;
    const auto decision = decideRetry({.error = c.error,
                                       .policy = policy,
                                       .contentSent = c.contentSent,
                                       .attempts = c.attempts,
                                       .failed = c.failed,
                                       .candidates = c.candidates,
                                       .retryAfter = c.retryAfter,
                                       .timeLeft = c.timeLeft,
                                       .unitRandom = 0.5});
    EXPECT_EQ(decision.action, c.action) << c.name;
    if (decision.action == c.action && c.action != Action::GiveUp) {
      EXPECT_EQ(decision.candidate, c.candidate) << c.name;
      EXPECT_EQ(decision.delay, c.delay) << c.name;
    }
    if (c.action == Action::GiveUp) EXPECT_STRNE(decision.reason, "") << c.name;
  }
}

TEST(RetryState, TheBackoffIsJitteredWithinItsBounds) {
  RetryConfig policy;  // 500 ms base, 20% jitter
  const auto error = errorOf(ErrorKind::Upstream, 503);
  for (double random : {0.0, 0.25, 0.5, 0.999}) {
    const auto decision = decideRetry({.error = error,
                                       .policy = policy,
                                       .contentSent = false,
                                       .attempts = 2,
                                       .failed = 0,
                                       .candidates = {kTriedBusy},
                                       .retryAfter = std::nullopt,
                                       .timeLeft = std::nullopt,
                                       .unitRandom = random});
    ASSERT_EQ(decision.action, Action::RetryAfter);
    EXPECT_GE(decision.delay, Millis(800)) << random;
    EXPECT_LE(decision.delay, Millis(1200)) << random;
  }
}

}  // namespace
}  // namespace llmgate::resilience
