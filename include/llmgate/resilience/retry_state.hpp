// What to do after a failed attempt, as a pure function of what happened (in the spirit of
// Envoy's RetryStateImpl::shouldRetry): retry now on a candidate, retry on it after a wait, or
// give up with the error. No clock, no timers, no randomness of its own: a table of cases tests
// it without a server.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "llmgate/core/error.hpp"
#include "llmgate/resilience/retry_policy.hpp"

namespace llmgate::resilience {

/// One target of the request as the retry decision sees it.
struct CandidateState {
  bool tried = false;           ///< an attempt went there already
  bool takesTrafficNow = false; ///< a deployment of it that this request has not excluded takes traffic now
  bool anyDeploymentLeft = true;///< it has a deployment this request has not excluded (after a timeout)
};

struct RetryInput {
  const core::GatewayError& error;
  /// The policy of the route's first target: one policy governs a request, whichever
  /// candidate failed (so a fallback target cannot grant itself more attempts).
  const RetryConfig& policy;
  bool contentSent = false;  ///< the client has content: nothing can be retried
  int attempts = 0;          ///< attempts made so far, the failed one included
  std::size_t failed = 0;    ///< index of the candidate that failed
  std::vector<CandidateState> candidates;
  std::optional<Millis> retryAfter;  ///< what the upstream asked to wait, when it said
  std::optional<Millis> timeLeft;    ///< until the request's deadline, when it has one
  double unitRandom = 0.5;           ///< in [0,1): the backoff's jitter
};

struct RetryDecision {
  enum class Action { RetryNow, RetryAfter, GiveUp };
  Action action = Action::GiveUp;
  std::size_t candidate = 0;  ///< where the retry goes
  Millis delay{0};            ///< RetryAfter: how long to wait first
  const char* reason = "";    ///< GiveUp: why, for the log
};

/// - Content sent, a failure that is not retryable, the deadline passed, or no attempt left
///   (max_attempts spent and every candidate with a deployment left tried): give up.
/// - An untried candidate after the failed one: retry there now (fallback).
/// - A rate limit, or a timeout (its deployment excluded unless sameDeploymentAfterTimeout), and
///   a candidate with a free deployment (another key, say): retry there now.
/// - A timeout with sameDeploymentAfterTimeout off and nothing free: give up.
/// - Otherwise the next candidate in turn that has a deployment left (the same one when it is
///   alone) after a wait: Retry-After when the upstream said (more than max_delay_ms: give up,
///   the client's SDK backs off with the retry-after it is passed), else the linear backoff.
/// - A wait that would end at or past the deadline: give up.
RetryDecision decideRetry(const RetryInput& input);

}  // namespace llmgate::resilience
