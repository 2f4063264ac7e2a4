#include "llmgate/resilience/retry_state.hpp"

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
  bool untried = false;
  for (const auto& candidate : input.candidates) untried = untried || !candidate.tried;
  if (input.attempts >= input.policy.maxAttempts && !untried) return giveUp("no attempt left");

  const bool timedOut = input.error.kind == core::ErrorKind::Timeout;
  const bool movesOn = timedOut && !input.policy.sameDeploymentAfterTimeout;
  for (std::size_t offset = 1; offset <= count; ++offset) {
    const std::size_t index = (input.failed + offset) % count;
    const auto& candidate = input.candidates[index];
    if (!candidate.tried && candidate.anyDeploymentLeft) return retryNow(index);
  }
  if (input.error.kind == core::ErrorKind::RateLimited || timedOut) {
    for (std::size_t offset = 1; offset <= count; ++offset) {
      const std::size_t index = (input.failed + offset) % count;
      if (input.candidates[index].takesTrafficNow) return retryNow(index);
    }
  }
  if (movesOn) return giveUp("timed out, and no other deployment is free");

  const std::size_t next = (input.failed + 1) % count;
  if (!input.candidates[next].anyDeploymentLeft) return giveUp("no deployment left");
  if (input.retryAfter && *input.retryAfter > input.policy.maxDelay) {
    return giveUp("the upstream asks to wait longer than retry.max_delay_ms");
  }
  const Millis delay = input.retryAfter ? *input.retryAfter : backoff(input.policy, input.attempts, input.unitRandom);
  if (input.timeLeft && delay >= *input.timeLeft) return giveUp("the wait would pass the deadline");
  return {RetryDecision::Action::RetryAfter, next, delay, ""};
}

}  // namespace llmgate::resilience
