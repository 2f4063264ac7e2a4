// Retrying as data: which failures are retried, how long to wait (backoff, Retry-After), how
// much retrying a provider may add (its budget). Pure functions and a small thread-safe bucket;
// decideRetry (retry_state.hpp) applies them.
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

/// Whether a failed attempt may be tried again (elsewhere or later): connect and timeout
/// failures, resets, 408, 409, 429 and 5xx. Client errors and cancellations are final.
bool isRetryable(const core::GatewayError& error);

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

}  // namespace llmgate::resilience
