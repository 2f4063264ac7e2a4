// Resilience policy as data: which failures are retried, how long to wait, how much retrying a
// provider may add, when an endpoint's circuit opens. Pure functions and small thread-safe
// state; the Exchange applies them.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "llmgate/core/error.hpp"

namespace llmgate::resilience {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

struct RetryConfig {
  int maxAttempts = 3;           ///< attempts per request, fallbacks included (each target still gets one)
  Millis baseDelay{500};         ///< linear backoff: base * attempt
  Millis maxDelay{20000};        ///< cap on any wait, Retry-After included
  double jitter = 0.2;           ///< +-20% of the backoff
  double budgetRatio = 0.2;      ///< retries may add at most this share of the provider's requests ...
  double budgetMinPerSecond = 5; ///< ... plus this many retries a second
  /// After a timeout, whether the deployment that timed out may be tried again in the same
  /// request. Off: a timeout moves on to another deployment or target, or ends the request.
  bool sameDeploymentAfterTimeout = false;
};

struct BreakerConfig {
  int failureThreshold = 5;  ///< consecutive failures that open the circuit
  Millis openFor{60000};     ///< cool-down before probing again
  int successThreshold = 3;  ///< successful probes that close it
  int halfOpenProbes = 1;    ///< probes allowed at once while half-open
};

/// Whether a failed attempt may be tried again (elsewhere or later): connect and timeout
/// failures, resets, 408, 409, 429 and 5xx. Client errors and cancellations are final.
bool isRetryable(const core::GatewayError& error);

/// Whether a failure speaks against the endpoint's health (counts towards opening its circuit).
bool countsAgainstEndpoint(const core::GatewayError& error);

/// Longer waits an upstream asks for are taken as this long (nobody holds a request a day).
inline constexpr Millis kLongestRetryAfter{24 * 3600 * 1000};
/// The longest a rate-limited key is kept out of rotation, whatever Retry-After said: a key is
/// never blackholed for longer (LiteLLM's cooldown_time default is the same).
inline constexpr Millis kLongestCoolDown{60 * 1000};

/// The wait an upstream asks for: `retry-after-ms` (milliseconds, fractions allowed), else
/// `retry-after` as seconds or an HTTP-date (IMF-fixdate, RFC 850, asctime). Past dates give 0;
/// anything longer than kLongestRetryAfter gives kLongestRetryAfter.
std::optional<Millis> parseRetryAfter(std::string_view retryAfterMs, std::string_view retryAfter,
                                      std::chrono::system_clock::time_point now);
/// A wait as the `retry-after` value we send clients: whole seconds, rounded up.
std::string retryAfterSeconds(Millis wait);

/// Linear backoff for retry number `retry` (1 = first retry), jittered by `unitRandom` in [0,1).
Millis backoff(const RetryConfig& config, int retry, double unitRandom);

/// A provider's retry budget: a token bucket filled by requests (budgetRatio each) and by time
/// (budgetMinPerSecond), drained by retries. Thread-safe.
class RetryBudget {
 public:
  explicit RetryBudget(const RetryConfig& config);
  void recordRequest();
  /// Takes one retry token; false when the budget is spent.
  bool tryRetry(Clock::time_point now = Clock::now());

 private:
  std::mutex mutex_;
  double ratio_;
  double perSecond_;
  double tokens_;
  double capacity_;
  Clock::time_point refilledAt_ = Clock::now();
};

enum class BreakerState { Closed, Open, HalfOpen };
std::string_view breakerStateName(BreakerState state);

/// Health of one upstream deployment (a provider's credential serving one configured model):
/// circuit breaker, rate-limit cool-down, latency EWMA and in-flight count. Thread-safe; shared
/// by all workers.
class EndpointHealth {
 public:
  /// `name` identifies it in logs ("openai#0 gpt-4o": provider, key index and model, never the key).
  EndpointHealth(const BreakerConfig& config, std::string name);

  /// Whether an attempt may go here now (takes a half-open probe slot when it returns true).
  bool tryAcquire(Clock::time_point now = Clock::now());
  /// An attempt goes here although it takes no traffic (nothing else could be tried): counted
  /// in flight like any other; its success counts towards closing an open circuit.
  void acquireAnyway();
  /// When tryAcquire may succeed again: `now`, or when the cool-down or the open circuit ends.
  Clock::time_point availableAt(Clock::time_point now = Clock::now()) const;
  /// The attempt ended: ok, or failed with `error`. Releases what tryAcquire took.
  void recordSuccess(Millis timeToFirstByte, Clock::time_point now = Clock::now());
  void recordFailure(const core::GatewayError& error, Clock::time_point now = Clock::now());
  /// The attempt was abandoned (client gone): no verdict on the endpoint.
  void release();
  /// Rate limited: take no traffic until `until`.
  void coolDown(Clock::time_point until);

  BreakerState state(Clock::time_point now = Clock::now()) const;
  bool coolingDown(Clock::time_point now = Clock::now()) const;
  Clock::time_point coolDownUntil() const;
  double latencyEwmaMs() const;
  int inFlight() const;
  const std::string& name() const { return name_; }
  /// The last failure that counted against the endpoint (code, when); empty code if none.
  std::pair<std::string, std::chrono::system_clock::time_point> lastFailure() const;

 private:
  void transitionIfDue(Clock::time_point now) const;

  BreakerConfig config_;
  std::string name_;
  mutable std::mutex mutex_;
  mutable BreakerState state_ = BreakerState::Closed;
  mutable int probesInFlight_ = 0;
  int consecutiveFailures_ = 0;
  int halfOpenSuccesses_ = 0;
  Clock::time_point openedAt_;
  Clock::time_point coolDownUntil_;
  double ewmaMs_ = -1;
  int inFlight_ = 0;
  std::string lastFailureCode_;
  std::chrono::system_clock::time_point lastFailureAt_;
};

}  // namespace llmgate::resilience
