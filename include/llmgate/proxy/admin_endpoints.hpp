// The gateway's own endpoints besides chat, as functions over what they report on: the model
// list, the detailed health, the performance summary and the Prometheus text. No request, no
// sink: the Gateway answers with what these return.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llmgate/core/chat.hpp"
#include "llmgate/limits/key_limiter.hpp"
#include "llmgate/proxy/conversation_store.hpp"
#include "llmgate/proxy/gateway_metrics.hpp"
#include "llmgate/proxy/generation.hpp"
#include "llmgate/proxy/model_catalog.hpp"
#include "llmgate/proxy/response_cache.hpp"
#include "llmgate/redis/connections.hpp"
#include "llmgate/routing/router.hpp"
#include "llmgate/server/request_handler.hpp"
#include "llmgate/upstream/http_client.hpp"

namespace llmgate::proxy::admin {

/// Reloads of the config since start.
struct ReloadHistory {
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::string lastError;  ///< of the latest failed one (a config error names the key, never a value)
  std::optional<std::chrono::system_clock::time_point> lastFailedAt;
};

/// What the reports read: the current generation (providers, pool, conversions, refresher, when
/// it was loaded) and the Gateway's own counters.
struct Sources {
  const Generation& generation;
  const GatewayMetrics& metrics;
  const ConversationStore& conversations;
  const limits::KeyLimiter& limiter;
  const redis::Connections& redis;
  const ResponseCache& responseCache;
  std::uint64_t coalesced;  ///< requests that followed an identical one in flight
  const std::vector<std::unique_ptr<upstream::HttpClient>>& clients;
  const server::ServerState* server;  ///< null until the server runs
  std::chrono::steady_clock::time_point startedAt;
  ReloadHistory reloads;
};

/// /v1/models: the configured names, then what the upstreams list that routes here.
std::string modelList(core::Dialect dialect, const routing::Router& router, const ModelCatalog& catalog);

struct Report {
  int status;
  std::string state;  ///< ok, degraded, unavailable or draining
  std::string body;
};
/// /v1/health/detailed: every provider and deployment; 503 when none can take traffic.
Report detailedHealth(const Sources& sources);

/// /v1/performance: percentiles over the last `window`, cache and stream figures.
std::string performanceSummary(const Sources& sources, std::chrono::seconds window);

/// /metrics: every family of metric_families.hpp in the Prometheus text format (0.0.4).
std::string prometheusText(const Sources& sources);

}  // namespace llmgate::proxy::admin
