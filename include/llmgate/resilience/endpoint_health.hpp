// The health of one deployment: a circuit breaker, a rate-limit cool-down, latency and load.
// Thread-safe; the upstream pool keeps one per deployment.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "llmgate/core/error.hpp"
#include "llmgate/resilience/retry_policy.hpp"

namespace llmgate::resilience {

struct BreakerConfig {
  int failureThreshold = 5;  ///< consecutive failures that open the circuit
  Millis openFor{60000};     ///< cool-down before probing again
  int successThreshold = 3;  ///< successful probes that close it
  int halfOpenProbes = 1;    ///< probes allowed at once while half-open
};

/// Whether a failure speaks against the endpoint's health (counts towards opening its circuit).
bool countsAgainstEndpoint(const core::GatewayError& error);

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
