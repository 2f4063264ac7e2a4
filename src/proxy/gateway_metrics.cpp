#include "llmgate/proxy/gateway_metrics.hpp"

namespace llmgate::proxy {
namespace {

std::string_view endpointLabel(std::string_view path) {
  if (path == "/v1/chat/completions") return "chat_completions";
  if (path == "/v1/messages") return "messages";
  if (path == "/v1/responses") return "responses";
  if (path == "/v1/messages/count_tokens") return "count_tokens";
  if (path == "/v1/models") return "models";
  if (path == "/health" || path == "/v1/health/detailed") return "health";
  if (path == "/metrics" || path == "/v1/performance") return "observability";
  return "other";  // unknown paths are not labels of their own: a scanner cannot blow up the series
}

}  // namespace

void GatewayMetrics::record(const log::AccessRecord& r) {
  static constexpr const char* kClasses[] = {"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"};
  const int hundreds = r.status / 100;
  const char* statusClass = hundreds >= 1 && hundreds <= 5 ? kClasses[hundreds] : "other";
  requests.with({endpointLabel(r.path), r.handler.dialect, r.handler.provider, r.handler.modelLabel, statusClass}).add();
  if (r.handler.dialect.empty()) return;  // only chat requests have latencies worth a histogram
  window.record({r.handler.provider, r.handler.modelLabel, r.durationMs, r.firstByteMs, std::max(0.0, r.overheadMs()), r.status});
  if (r.handler.provider.empty()) return;  // refused before routing: counted, but no target to time
  auto& target = targets.with({r.handler.provider, r.handler.modelLabel});
  target.duration.observe(r.durationMs / 1000);
  if (r.firstByteMs >= 0) target.firstByte.observe(r.firstByteMs / 1000);
  if (r.handler.stages.attempts > 0) target.upstream.observe(r.handler.stages.upstreamMs / 1000);
  target.overhead.observe(std::max(0.0, r.overheadMs()) / 1000);
  if (r.handler.inputTokens > 0) target.inputTokens.add(static_cast<std::uint64_t>(r.handler.inputTokens));
  if (r.handler.outputTokens > 0) target.outputTokens.add(static_cast<std::uint64_t>(r.handler.outputTokens));
}

void GatewayMetrics::writeTargets(std::string& out) const {
  // Prometheus wants each metric's samples together: one pass over the targets per metric.
  struct Timed {
    const metrics::FamilySpec& family;
    metrics::Histogram TargetSeries::*histogram;
  };
  static const Timed kTimed[] = {
      {families::kRequestDuration, &TargetSeries::duration},
      {families::kTimeToFirstByte, &TargetSeries::firstByte},
      {families::kUpstreamDuration, &TargetSeries::upstream},
      {families::kGatewayOverhead, &TargetSeries::overhead},
  };
  for (const auto& timed : kTimed) {
    metrics::writeHeader(out, timed.family);
    targets.forEach([&](const std::vector<std::string>& values, const TargetSeries& series) {
      metrics::writeHistogramSeries(out, timed.family.name, targets.labels(), values, series.*timed.histogram);
    });
  }
  const std::vector<std::string> tokenLabels{"provider", "model", "direction"};
  metrics::writeHeader(out, families::kTokens);
  targets.forEach([&](const std::vector<std::string>& values, const TargetSeries& series) {
    for (const auto& [direction, counter] : {std::pair{"input", &series.inputTokens}, std::pair{"output", &series.outputTokens}}) {
      std::vector<std::string> labelled = values;
      labelled.emplace_back(direction);
      metrics::writeScalarSeries(out, families::kTokens.name, tokenLabels, labelled, static_cast<std::int64_t>(counter->value()));
    }
  });
}

}  // namespace llmgate::proxy
