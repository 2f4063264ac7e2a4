// What the gateway counts, declared once: the metric families it records on the hot path and
// the recent-requests window behind /v1/performance. Scrape-time values (breakers, pools,
// caches, credentials) are read from their owners by admin::prometheusText. Every family's
// name and help come from metric_families.hpp.
#pragma once

#include "llmgate/log/log.hpp"
#include "llmgate/metrics/metrics.hpp"
#include "llmgate/metrics/performance_window.hpp"
#include "llmgate/proxy/metric_families.hpp"

namespace llmgate::proxy {

struct GatewayMetrics {
  metrics::Family<metrics::Counter> requests{families::kRequests, {"endpoint", "dialect", "provider", "model", "status"}};
  /// What is timed and counted per provider and model, found with one lookup per request.
  struct TargetSeries {
    metrics::Histogram duration;   ///< receipt of the request to its last byte
    metrics::Histogram firstByte;  ///< receipt to the first byte sent
    metrics::Histogram upstream;   ///< waiting on upstreams (all attempts)
    metrics::Histogram overhead;   ///< duration minus upstream time
    metrics::Counter inputTokens;
    metrics::Counter outputTokens;
  };
  /// Written as one family per member (writeTargets); this spec names none of them.
  static constexpr metrics::FamilySpec kTargetSeries{"llmgate_target", "", "Series per provider and model."};
  metrics::Family<TargetSeries> targets{kTargetSeries, {"provider", "model"}};
  metrics::Family<metrics::Counter> retries{families::kRetries, {"provider"}};
  metrics::Family<metrics::Counter> fallbacks{families::kFallbacks, {"from", "to"}};
  metrics::Gauge activeStreams;
  metrics::Counter internalErrors;  ///< requests failed by a contained exception
  metrics::PerformanceWindow window;

  /// Counts one finished request (from the access record).
  void record(const log::AccessRecord& record);
  /// Appends the per-target histograms and token counters in the Prometheus text format.
  void writeTargets(std::string& out) const;
  /// Recordings that found their series table full (see metrics::kMaxSeriesPerFamily).
  std::uint64_t overflowed() const {
    return requests.overflowed() + targets.overflowed() + retries.overflowed() + fallbacks.overflowed() + window.overflowed();
  }
};

}  // namespace llmgate::proxy
