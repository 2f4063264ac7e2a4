#include "llmgate/resilience/retry_state.hpp"

#include <optional>

namespace llmgate::resilience {
namespace {

RetryDecision giveUp(const char* reason) {
  RetryDecision decision;
  decision.reason = reason;
  return decision;
}

RetryDecision retryNow(std::size_t candidate) {
  return {RetryDecision::Action::RetryNow, candidate, Millis(0), ""};
}

}  // namespace

RetryDecision decideRetry(const RetryInput& input) {
  const std::size_t count = input.candidates.size();
  if (count == 0) return giveUp("no candidate");
  if (input.contentSent) return giveUp("the client already has content");
  if (!isRetryable(input.error)) return giveUp("not retryable");
  if (input.timeLeft && *input.timeLeft <= Millis(0)) return giveUp("the deadline has passed");
  bool untried = false;
  for (const auto& candidate : input.candidates) untried = untried || (!candidate.tried && candidate.anyDeploymentLeft);
  if (input.attempts >= input.policy.maxAttempts && !untried) return giveUp("no attempt left");

  // Candidates in turn after the one that failed, that one last.
  auto firstAfterFailed = [&](auto&& accepts) -> std::optional<std::size_t> {
    for (std::size_t offset = 1; offset <= count; ++offset) {
      const std::size_t index = (input.failed + offset) % count;
      if (accepts(input.candidates[index])) return index;
    }
    return std::nullopt;
  };
  if (auto fallback = firstAfterFailed([](const CandidateState& c) { return !c.tried && c.anyDeploymentLeft; })) {
    return retryNow(*fallback);
  }
  const bool timedOut = input.error.kind == core::ErrorKind::Timeout;
  const bool movesOn = timedOut && !input.policy.sameDeploymentAfterTimeout;
  // After a rate limit, or a timeout whose deployment is now excluded, a free deployment
  // (another key) is a different one: it goes at once.
  if (input.error.kind == core::ErrorKind::RateLimited || movesOn) {
    if (auto free = firstAfterFailed([](const CandidateState& c) { return c.takesTrafficNow; })) return retryNow(*free);
  }
  if (movesOn) return giveUp("timed out, and no other deployment is free");

  const auto next = firstAfterFailed([](const CandidateState& c) { return c.anyDeploymentLeft; });
  if (!next) return giveUp("no deployment left");
  if (input.retryAfter && *input.retryAfter > input.policy.maxDelay) {
    return giveUp("the upstream asks to wait longer than retry.max_delay_ms");
  }
  const Millis delay = input.retryAfter ? *input.retryAfter : backoff(input.policy, input.attempts, input.unitRandom);
  if (input.timeLeft && delay >= *input.timeLeft) return giveUp("the wait would pass the deadline");
  return {RetryDecision::Action::RetryAfter, *next, delay, ""};
}

}  // namespace llmgate::resilience
