#include "llmgate/resilience/retry_policy.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

namespace llmgate::resilience {

bool isRetryable(const core::GatewayError& error) {
  switch (error.kind) {
    case core::ErrorKind::Connect:
    case core::ErrorKind::Timeout:
    case core::ErrorKind::RateLimited:
    case core::ErrorKind::Unavailable:
    case core::ErrorKind::Upstream:
    case core::ErrorKind::Protocol:
      return true;
    case core::ErrorKind::InvalidRequest:
      return error.status == 408 || error.status == 409;
    default:
      return error.status >= 500 && error.kind != core::ErrorKind::Cancelled && error.kind != core::ErrorKind::Internal;
  }
}

namespace {

std::optional<double> parseNumber(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < 0) return std::nullopt;
  return value;
}

std::optional<std::time_t> parseHttpDate(std::string_view text) {
  // RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms.
  static const char* kFormats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"};
  const std::string value(text);
  for (const char* format : kFormats) {
    std::tm parts{};
    const char* end = strptime(value.c_str(), format, &parts);
    if (end != nullptr && *end == '\0') return timegm(&parts);
  }
  return std::nullopt;
}

}  // namespace

std::string retryAfterSeconds(Millis wait) { return std::to_string((wait.count() + 999) / 1000); }

std::optional<Millis> parseRetryAfter(std::string_view retryAfterMs, std::string_view retryAfter,
                                      std::chrono::system_clock::time_point now) {
  // The upstream's number is capped before it becomes a duration: 1e300 seconds or a date in
  // the year 9999 would overflow the clock arithmetic that follows.
  constexpr double kLongestMs = static_cast<double>(kLongestRetryAfter.count());
  if (auto ms = parseNumber(retryAfterMs)) return Millis(static_cast<std::int64_t>(std::ceil(std::min(*ms, kLongestMs))));
  if (auto seconds = parseNumber(retryAfter)) {
    return Millis(static_cast<std::int64_t>(std::ceil(std::min(*seconds * 1000, kLongestMs))));
  }
  if (auto date = parseHttpDate(retryAfter)) {
    const double secondsAhead = std::difftime(*date, std::chrono::system_clock::to_time_t(now));
    return Millis(static_cast<std::int64_t>(std::clamp(secondsAhead * 1000, 0.0, kLongestMs)));
  }
  return std::nullopt;
}

Millis backoff(const RetryConfig& config, int retry, double unitRandom) {
  const double base = static_cast<double>(config.baseDelay.count()) * retry;
  const double jittered = base * (1.0 + config.jitter * (2.0 * unitRandom - 1.0));
  return std::min(config.maxDelay, Millis(static_cast<std::int64_t>(std::max(0.0, jittered))));
}

RetryBudget::RetryBudget(const RetryConfig& config)
    : ratio_(config.budgetRatio),
      perSecond_(config.budgetMinPerSecond),
      tokens_(std::max(1.0, config.budgetMinPerSecond)),
      capacity_(std::max(10.0, config.budgetMinPerSecond * 10)) {}

void RetryBudget::recordRequest() {
  std::lock_guard lock(mutex_);
  tokens_ = std::min(capacity_, tokens_ + ratio_);
}

bool RetryBudget::tryRetry(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const double elapsed = std::chrono::duration<double>(now - refilledAt_).count();
  if (elapsed > 0) {
    tokens_ = std::min(capacity_, tokens_ + elapsed * perSecond_);
    refilledAt_ = now;
  }
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

}  // namespace llmgate::resilience
