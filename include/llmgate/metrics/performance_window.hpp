// The recent past for /v1/performance: each worker keeps its last requests (duration, time to
// first byte, gateway overhead, status) in its own ring, written without locks; a query reads
// every ring and computes percentiles over the requests of the last `window` (bounded by the
// ring size: at most kSlots requests per thread).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmgate/metrics/metrics.hpp"

namespace llmgate::metrics {

struct RequestSample {
  std::string_view provider;
  std::string_view model;
  double durationMs = 0;
  double firstByteMs = -1;
  double overheadMs = 0;
  int status = 0;
};

class PerformanceWindow {
 public:
  static constexpr std::size_t kSlots = 4096;
  /// Distinct (provider, model) targets kept apart; later ones share an overflow target.
  static constexpr std::size_t kMaxTargets = 1000;

  PerformanceWindow();
  ~PerformanceWindow();
  void record(const RequestSample& sample);
  /// Requests recorded under the overflow target.
  std::uint64_t overflowed() const { return overflowed_.load(std::memory_order_relaxed); }
  /// {window_seconds, requests, requests_per_second, errors (5xx), error_rate, client_errors (4xx),
  ///  duration_ms/ttfb_ms/overhead_ms: {p50,p90,p95,p99,max}, by_target: [{provider, model, ...}]}.
  nlohmann::json summary(std::chrono::seconds window) const;

 private:
  struct Slot {
    std::atomic<std::int64_t> atMs{0};
    std::atomic<float> durationMs{0};
    std::atomic<float> firstByteMs{-1};
    std::atomic<float> overheadMs{0};
    std::atomic<std::uint32_t> target{0};
    std::atomic<std::uint16_t> status{0};
  };
  struct Ring {
    std::array<Slot, kSlots> slots;
    std::atomic<std::uint64_t> written{0};
  };
  std::uint32_t targetId(std::string_view provider, std::string_view model);
  Ring& ring();

  std::array<std::atomic<Ring*>, kShards> rings_{};
  mutable std::mutex targetsMutex_;
  std::unordered_map<std::string, std::uint32_t> targetIds_;
  std::vector<std::pair<std::string, std::string>> targets_;  // id -> (provider, model)
  std::atomic<std::uint64_t> overflowed_{0};
};

}  // namespace llmgate::metrics
