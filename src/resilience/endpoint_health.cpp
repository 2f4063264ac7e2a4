#include "llmgate/resilience/endpoint_health.hpp"

#include <algorithm>
#include <string>

#include "llmgate/log/log.hpp"

namespace llmgate::resilience {

bool countsAgainstEndpoint(const core::GatewayError& error) {
  switch (error.kind) {
    case core::ErrorKind::Connect:
    case core::ErrorKind::Timeout:
    case core::ErrorKind::Unavailable:
    case core::ErrorKind::Upstream:
    case core::ErrorKind::Protocol:
      return true;
    default:
      return false;  // the client's fault, a rate limit (cooled down instead), or a cancellation
  }
}

std::string_view breakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::Closed: return "closed";
    case BreakerState::Open: return "open";
    case BreakerState::HalfOpen: return "half_open";
  }
  return "closed";
}

EndpointHealth::EndpointHealth(const BreakerConfig& config, std::string name)
    : config_(config), name_(std::move(name)) {}

void EndpointHealth::transitionIfDue(Clock::time_point now) const {
  if (state_ == BreakerState::Open && now >= openedAt_ + config_.openFor) {
    state_ = BreakerState::HalfOpen;
    probesInFlight_ = 0;
    log::message(spdlog::level::info, "circuit " + name_ + " half-open: probing");
  }
}

bool EndpointHealth::tryAcquire(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  transitionIfDue(now);
  if (now < coolDownUntil_ || state_ == BreakerState::Open) return false;
  if (state_ == BreakerState::HalfOpen) {
    if (probesInFlight_ >= config_.halfOpenProbes) return false;
    ++probesInFlight_;
  }
  ++inFlight_;
  return true;
}

void EndpointHealth::acquireAnyway() {
  std::lock_guard lock(mutex_);
  ++inFlight_;
  if (state_ == BreakerState::HalfOpen) ++probesInFlight_;
}

Clock::time_point EndpointHealth::availableAt(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  transitionIfDue(now);
  Clock::time_point at = std::max(now, coolDownUntil_);
  if (state_ == BreakerState::Open) at = std::max(at, openedAt_ + config_.openFor);
  return at;
}

void EndpointHealth::recordSuccess(Millis timeToFirstByte, Clock::time_point) {
  std::lock_guard lock(mutex_);
  --inFlight_;
  const double sample = static_cast<double>(timeToFirstByte.count());
  ewmaMs_ = ewmaMs_ < 0 ? sample : 0.8 * ewmaMs_ + 0.2 * sample;
  consecutiveFailures_ = 0;
  // A success while open came from a send made anyway: it proves the way as a probe would.
  if (state_ != BreakerState::Closed) {
    probesInFlight_ = std::max(0, probesInFlight_ - 1);
    if (++halfOpenSuccesses_ >= config_.successThreshold) {
      state_ = BreakerState::Closed;
      halfOpenSuccesses_ = 0;
      log::message(spdlog::level::info, "circuit " + name_ + " closed after " +
                                            std::to_string(config_.successThreshold) + " successful probes");
    }
  }
}

void EndpointHealth::recordFailure(const core::GatewayError& error, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  --inFlight_;
  if (state_ == BreakerState::HalfOpen) probesInFlight_ = std::max(0, probesInFlight_ - 1);
  if (!countsAgainstEndpoint(error)) return;
  lastFailureCode_ = error.code.empty() ? "upstream_http_" + std::to_string(error.status) : error.code;
  lastFailureAt_ = std::chrono::system_clock::now();
  if (state_ == BreakerState::Open) {
    // A send made anyway failed, as a probe would: still open, counted from now.
    openedAt_ = now;
    halfOpenSuccesses_ = 0;
    return;
  }
  if (state_ == BreakerState::HalfOpen || ++consecutiveFailures_ >= config_.failureThreshold) {
    // A failed probe reopens at once; in closed state it takes the threshold.
    log::message(spdlog::level::warn, "circuit " + name_ + " opened for " + std::to_string(config_.openFor.count()) +
                                          " ms (last failure: " +
                                          (error.code.empty() ? "HTTP " + std::to_string(error.status) : error.code) + ")");
    state_ = BreakerState::Open;
    openedAt_ = now;
    consecutiveFailures_ = 0;
    halfOpenSuccesses_ = 0;
  }
}

void EndpointHealth::release() {
  std::lock_guard lock(mutex_);
  --inFlight_;
  if (state_ == BreakerState::HalfOpen) probesInFlight_ = std::max(0, probesInFlight_ - 1);
}

void EndpointHealth::coolDown(Clock::time_point until) {
  std::lock_guard lock(mutex_);
  coolDownUntil_ = std::max(coolDownUntil_, until);
}

BreakerState EndpointHealth::state(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  transitionIfDue(now);
  return state_;
}

bool EndpointHealth::coolingDown(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  return now < coolDownUntil_;
}

Clock::time_point EndpointHealth::coolDownUntil() const {
  std::lock_guard lock(mutex_);
  return coolDownUntil_;
}

std::pair<std::string, std::chrono::system_clock::time_point> EndpointHealth::lastFailure() const {
  std::lock_guard lock(mutex_);
  return {lastFailureCode_, lastFailureAt_};
}

double EndpointHealth::latencyEwmaMs() const {
  std::lock_guard lock(mutex_);
  return ewmaMs_;
}

int EndpointHealth::inFlight() const {
  std::lock_guard lock(mutex_);
  return inFlight_;
}

}  // namespace llmgate::resilience
