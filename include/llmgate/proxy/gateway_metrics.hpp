// What the gateway counts, declared once: the metric families it records on the hot path and
// the recent-requests window behind /v1/performance. Scrape-time values (breakers, pools,
// caches, credentials) are read from their owners by Gateway::handleMetrics.
#pragma once

#include "llmgate/log/log.hpp"
#include "llmgate/metrics/metrics.hpp"
#include "llmgate/metrics/performance_window.hpp"

namespace llmgate::proxy {

struct GatewayMetrics {
  metrics::Family<metrics::Counter> requests{
      "llmgate_requests_total", "Requests answered, by endpoint, client dialect, provider, model and status class.",
      {"endpoint", "dialect", "provider", "model", "status"}};
  /// What is timed and counted per provider and model, found with one lookup per request.
  struct TargetSeries {
    metrics::Histogram duration;   ///< receipt of the request to its last byte
    metrics::Histogram firstByte;  ///< receipt to the first byte sent
    metrics::Histogram upstream;   ///< waiting on upstreams (all attempts)
    metrics::Histogram overhead;   ///< duration minus upstream time
    metrics::Counter inputTokens;
    metrics::Counter outputTokens;
  };
  metrics::Family<TargetSeries> targets{"llmgate_target", "Series per provider and model, written by writeTargets.",
                                        {"provider", "model"}};
  metrics::Family<metrics::Counter> retries{
      "llmgate_upstream_retries_total", "Attempts after a request's first, by the provider they went to.", {"provider"}};
  metrics::Family<metrics::Counter> fallbacks{
      "llmgate_fallbacks_total", "Attempts moved from one provider to another.", {"from", "to"}};
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
