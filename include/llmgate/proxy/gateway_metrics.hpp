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
  metrics::Family<metrics::Histogram> duration{
      "llmgate_request_duration_seconds", "From receiving a request whole to its last byte sent.", {"provider", "model"}};
  metrics::Family<metrics::Histogram> firstByte{
      "llmgate_time_to_first_byte_seconds", "From receiving a request whole to the first response byte sent.",
      {"provider", "model"}};
  metrics::Family<metrics::Histogram> upstream{
      "llmgate_upstream_duration_seconds", "Time spent waiting on upstreams per request (all attempts).",
      {"provider", "model"}};
  metrics::Family<metrics::Histogram> overhead{
      "llmgate_gateway_overhead_seconds", "Request duration minus the time spent waiting on upstreams.",
      {"provider", "model"}};
  metrics::Family<metrics::Counter> retries{
      "llmgate_upstream_retries_total", "Attempts after a request's first, by the provider they went to.", {"provider"}};
  metrics::Family<metrics::Counter> fallbacks{
      "llmgate_fallbacks_total", "Attempts moved from one provider to another.", {"from", "to"}};
  metrics::Family<metrics::Counter> tokens{
      "llmgate_tokens_total", "Tokens the upstreams reported (or llmgate estimated), by direction.",
      {"provider", "model", "direction"}};
  metrics::Gauge activeStreams;
  metrics::PerformanceWindow window;

  /// Counts one finished request (from the access record).
  void record(const log::AccessRecord& record);
};

}  // namespace llmgate::proxy
