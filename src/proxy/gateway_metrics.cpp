#include "llmgate/proxy/gateway_metrics.hpp"

namespace llmgate::proxy {
namespace {

std::string_view endpointLabel(std::string_view path) {
  if (path == "/v1/chat/completions") return "chat_completions";
  if (path == "/v1/messages") return "messages";
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
  requests.with({endpointLabel(r.path), r.dialect, r.provider, r.model, statusClass}).add();
  if (r.dialect.empty()) return;  // only chat requests have latencies worth a histogram
  window.record({r.provider, r.model, r.durationMs, r.firstByteMs, std::max(0.0, r.overheadMs()), r.status});
  if (r.provider.empty()) return;  // refused before routing: counted, but no target to time
  duration.with({r.provider, r.model}).observe(r.durationMs / 1000);
  if (r.firstByteMs >= 0) firstByte.with({r.provider, r.model}).observe(r.firstByteMs / 1000);
  if (r.attempts > 0) upstream.with({r.provider, r.model}).observe(r.upstreamMs / 1000);
  overhead.with({r.provider, r.model}).observe(std::max(0.0, r.overheadMs()) / 1000);
  if (r.inputTokens > 0) tokens.with({r.provider, r.model, "input"}).add(static_cast<std::uint64_t>(r.inputTokens));
  if (r.outputTokens > 0) tokens.with({r.provider, r.model, "output"}).add(static_cast<std::uint64_t>(r.outputTokens));
}

}  // namespace llmgate::proxy
