#include "llmgate/proxy/admin_endpoints.hpp"

#include <ctime>
#include <set>

#include <nlohmann/json.hpp>

#include "llmgate/api/dialect.hpp"

namespace llmgate::proxy::admin {

using nlohmann::json;

namespace {

/// "2026-12-01T13:40:00Z"
std::string utcTimestamp(std::chrono::system_clock::time_point at) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  return std::string(text, std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc));
}

}  // namespace

std::string modelList(core::Dialect dialect, const routing::Router& router, const ModelCatalog& catalog) {
  std::vector<std::pair<std::string, std::string>> models;
  std::set<std::string> named;
  for (const auto& model : router.models()) {
    named.insert(model.id);
    models.emplace_back(model.id, model.ownedBy);
  }
  for (const auto& listed : catalog.listed()) {
    // Only what routes (through a pattern, mostly) is worth naming to a client.
    if (named.count(listed.id) > 0) continue;
    if (auto route = router.resolve(listed.id)) {
      named.insert(listed.id);
      models.emplace_back(listed.id, route->targets.front().provider->name());
    }
  }
  return api::encodeModelList(dialect, models);
}

Report detailedHealth(const Sources& sources) {
  const auto now = resilience::Clock::now();
  json providers = json::array();
  bool anyAvailable = false;
  bool anyImpaired = false;
  for (std::size_t i = 0; i < sources.generation.providers.size(); ++i) {
    const auto& provider = *sources.generation.providers[i];
    const auto& block = provider.config();
    json item{{"name", block.name}, {"type", block.type}, {"enabled", block.enabled}};
    if (!block.enabled) {
      item["disabled_reason"] = block.disabledReason.empty() ? "enabled is false" : block.disabledReason;
      providers.push_back(std::move(item));
      continue;
    }
    json endpoints = json::array();
    if (provider.isLocal()) anyAvailable = true;
    // The deployment of unlisted provider/model names speaks for the provider only when it
    // lists no model of its own.
    const bool listsModels = !block.models.empty();
    sources.generation.pool.forEachDeployment(provider, [&](const balancing::UpstreamPool::DeploymentView& deployment) {
      const auto& health = deployment.health;
      const auto state = health.state(now);
      const bool cooling = health.coolingDown(now);
      const bool available = state != resilience::BreakerState::Open && !cooling;
      if (!listsModels || deployment.model != routing::kUnlistedDeployment) {
        anyAvailable = anyAvailable || available;
        anyImpaired = anyImpaired || !available;
      }
      json entry{{"endpoint", balancing::UpstreamPool::endpointName(provider, deployment.credential)},
                 {"model", deployment.model},
                 {"breaker", resilience::breakerStateName(state)},
                 {"cooldown_ms", cooling ? std::chrono::duration_cast<resilience::Millis>(health.coolDownUntil() - now).count() : 0},
                 {"in_flight", health.inFlight()},
                 {"latency_ewma_ms", health.latencyEwmaMs() < 0 ? json(nullptr) : json(health.latencyEwmaMs())}};
      const auto [code, at] = health.lastFailure();
      if (!code.empty()) {
        entry["last_error"] = {{"code", code},
                               {"at", std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count()}};
      }
      if (const auth::OAuthAccount* account = provider.account(deployment.credential)) {
        // When the token expires and how refreshing goes; never the token.
        const auto oauth = account->status();
        entry["credential"] = {{"type", "oauth"},
                               {"expires_in_s", oauth.expiresAtMs == 0 ? json(nullptr)
                                                                       : json((oauth.expiresAtMs - auth::nowEpochMs()) / 1000)},
                               {"refreshes", oauth.refreshes}};
        if (!oauth.lastError.empty()) {
          entry["credential"]["last_refresh_error"] = {{"message", oauth.lastError}, {"at", oauth.lastErrorAtMs / 1000}};
        }
      }
      endpoints.push_back(std::move(entry));
    });
    item["endpoints"] = std::move(endpoints);
    providers.push_back(std::move(item));
  }
  // A draining replica is on its way out: readiness probes must see it as such.
  const bool draining = sources.server != nullptr && sources.server->draining;
  // Redis down costs only the sharing of limits: degraded, still serving (200).
  const auto shared = sources.redis.report();
  const bool sharedDown = shared.configured && shared.connected < shared.workers;
  const char* status = draining          ? "draining"
                       : !anyAvailable   ? "unavailable"
                       : anyImpaired || sharedDown ? "degraded"
                                         : "ok";
  const auto cache = sources.generation.conversions.stats();
  const auto kept = sources.conversations.stats();
  const auto answers = sources.responseCache.stats();
  const auto& reloads = sources.reloads;
  json config{{"generation", sources.generation.number},
              {"loaded_at", utcTimestamp(sources.generation.loadedAt)},
              {"reloads", reloads.succeeded},
              {"failed_reloads", reloads.failed}};
  if (reloads.lastFailedAt) {
    config["last_failed_reload"] = {{"at", utcTimestamp(*reloads.lastFailedAt)}, {"error", reloads.lastError}};
  }
  json body{{"status", status},
            {"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(now - sources.startedAt).count()},
            {"config", std::move(config)},
            {"providers", std::move(providers)},
            {"conversion_cache",
             {{"entries", cache.size}, {"capacity", cache.capacity}, {"hits", cache.hits}, {"misses", cache.misses},
              {"evictions", cache.evictions}}},
            {"conversations",
             {{"entries", kept.entries}, {"bytes", kept.bytes}, {"max_bytes", kept.maxBytes},
              {"evictions", kept.evictions}, {"expirations", kept.expirations}}},
            {"response_cache",
             {{"entries", answers.store.entries}, {"bytes", answers.store.bytes}, {"max_bytes", answers.store.maxBytes},
              {"hits", answers.hits}, {"shared_hits", answers.sharedHits}, {"misses", answers.misses},
              {"shared_unreadable", answers.sharedUnreadable}, {"evictions", answers.store.evictions},
              {"expirations", answers.store.expirations}}},
            {"shared_state",
             {{"backend", shared.configured ? "redis" : "memory"},
              {"status", !shared.configured ? "local" : sharedDown ? "degraded: state held per replica" : "ok"},
              {"connections", shared.connected},
              {"workers", shared.workers},
              {"connects", shared.connects},
              {"failures", shared.failures},
              {"timeouts", shared.timeouts},
              {"local_decisions", sources.limiter.localDecisions()}}}};
  return {anyAvailable && !draining ? 200 : 503, status, body.dump()};
}

std::string performanceSummary(const Sources& sources, std::chrono::seconds window) {
  json body = sources.metrics.window.summary(window);
  const auto cache = sources.generation.conversions.stats();
  const auto lookups = cache.hits + cache.misses;
  body["conversion_cache"] = {{"hits", cache.hits}, {"misses", cache.misses},
                              {"hit_rate", lookups == 0 ? 0.0 : static_cast<double>(cache.hits) / static_cast<double>(lookups)}};
  body["active_streams"] = sources.metrics.activeStreams.value();
  body["uptime_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(resilience::Clock::now() - sources.startedAt).count();
  return body.dump();
}

std::string prometheusText(const Sources& sources) {
  std::string out;
  out.reserve(16384);
  using metrics::writeHeader;
  using metrics::writeSample;
  using metrics::writeScalar;
  metrics::writeFamily(out, sources.metrics.requests);
  sources.metrics.writeTargets(out);
  metrics::writeFamily(out, sources.metrics.retries);
  metrics::writeFamily(out, sources.metrics.fallbacks);
  writeScalar(out, families::kActiveStreams, static_cast<double>(sources.metrics.activeStreams.value()));

  const auto now = resilience::Clock::now();
  writeHeader(out, families::kBreakerState);
  std::string cooling;
  for (const auto& provider : sources.generation.providers) {
    sources.generation.pool.forEachDeployment(*provider, [&](const balancing::UpstreamPool::DeploymentView& deployment) {
      const std::vector<std::pair<std::string, std::string>> labels{{"provider", provider->name()},
                                   {"endpoint", balancing::UpstreamPool::endpointName(*provider, deployment.credential)},
                                   {"model", deployment.model}};
      const auto state = deployment.health.state(now);
      const double value = state == resilience::BreakerState::Closed ? 0 : state == resilience::BreakerState::HalfOpen ? 1 : 2;
      writeSample(out, families::kBreakerState.name, labels, value);
      writeSample(cooling, families::kCoolingDown.name, labels, deployment.health.coolingDown(now) ? 1 : 0);
    });
  }
  writeHeader(out, families::kCoolingDown);
  out += cooling;

  std::uint64_t transfers = 0, opened = 0;
  for (const auto& client : sources.clients) {
    transfers += client->stats().transfers.load(std::memory_order_relaxed);
    opened += client->stats().connectionsOpened.load(std::memory_order_relaxed);
  }
  writeScalar(out, families::kUpstreamRequests, static_cast<double>(transfers));
  writeScalar(out, families::kUpstreamConnections, static_cast<double>(opened));

  const auto cache = sources.generation.conversions.stats();
  writeScalar(out, families::kConversionHits, static_cast<double>(cache.hits));
  writeScalar(out, families::kConversionMisses, static_cast<double>(cache.misses));
  writeScalar(out, families::kConversionEvictions, static_cast<double>(cache.evictions));
  writeScalar(out, families::kConversionEntries, static_cast<double>(cache.size));
  const auto kept = sources.conversations.stats();
  writeScalar(out, families::kConversationEntries, static_cast<double>(kept.entries));
  writeScalar(out, families::kConversationBytes, static_cast<double>(kept.bytes));
  writeScalar(out, families::kConversationEvictions, static_cast<double>(kept.evictions));

  const auto answers = sources.responseCache.stats();
  writeScalar(out, families::kCacheHits, static_cast<double>(answers.hits));
  writeScalar(out, families::kCacheSharedHits, static_cast<double>(answers.sharedHits));
  writeScalar(out, families::kCacheMisses, static_cast<double>(answers.misses));
  writeScalar(out, families::kCacheEvictions, static_cast<double>(answers.store.evictions));
  writeScalar(out, families::kCacheEntries, static_cast<double>(answers.store.entries));
  writeScalar(out, families::kCacheBytes, static_cast<double>(answers.store.bytes));
  writeScalar(out, families::kCoalesced, static_cast<double>(sources.coalesced));
  const auto keys = sources.limiter.usage();
  writeHeader(out, families::kKeyRequests);
  for (const auto& key : keys) writeSample(out, families::kKeyRequests.name, {{"key", key.name}}, static_cast<double>(key.requests));
  writeHeader(out, families::kKeyTokens);
  for (const auto& key : keys) {
    writeSample(out, families::kKeyTokens.name, {{"key", key.name}, {"direction", "input"}}, static_cast<double>(key.inputTokens));
    writeSample(out, families::kKeyTokens.name, {{"key", key.name}, {"direction", "output"}}, static_cast<double>(key.outputTokens));
  }
  writeHeader(out, families::kKeyRejected);
  for (const auto& key : keys) {
    for (const auto& [reason, count] : key.rejected) {
      writeSample(out, families::kKeyRejected.name, {{"key", key.name}, {"reason", reason}}, static_cast<double>(count));
    }
  }
  writeHeader(out, families::kKeyInFlight);
  for (const auto& key : keys) writeSample(out, families::kKeyInFlight.name, {{"key", key.name}}, static_cast<double>(key.inFlight));
  const auto shared = sources.redis.report();
  writeScalar(out, families::kRedisConnections, static_cast<double>(shared.connected));
  writeScalar(out, families::kRedisFailures, static_cast<double>(shared.failures));
  writeScalar(out, families::kLocalDecisions, static_cast<double>(sources.limiter.localDecisions()));

  writeHeader(out, families::kOAuthExpiry);
  for (const auto& provider : sources.generation.providers) {
    if (!provider->config().enabled) continue;
    for (std::size_t c = 0; c < provider->credentialCount(); ++c) {
      const auth::OAuthAccount* account = provider->account(c);
      const std::int64_t expiresAt = account != nullptr ? account->token()->expiresAtMs : 0;
      if (expiresAt != 0) {
        writeSample(out, families::kOAuthExpiry.name, {{"provider", provider->name()}, {"account", account->label()}},
                    static_cast<double>(expiresAt - auth::nowEpochMs()) / 1000.0);
      }
    }
  }
  writeScalar(out, families::kOAuthRefreshes, static_cast<double>(sources.generation.refresher.refreshesSent()));
  if (sources.server != nullptr) {
    writeScalar(out, families::kOpenConnections, static_cast<double>(sources.server->openConnections.load()));
    writeScalar(out, families::kInFlight, static_cast<double>(sources.server->inFlight.load()));
    writeScalar(out, families::kAcceptErrors, static_cast<double>(sources.server->acceptErrors.load()));
    writeScalar(out, families::kConnectionsRefused, static_cast<double>(sources.server->refusedConnections.load()));
  }
  writeScalar(out, families::kSeriesOverflow, static_cast<double>(sources.metrics.overflowed()));
  writeScalar(out, families::kInternalErrors, static_cast<double>(sources.metrics.internalErrors.value()));
  writeScalar(out, families::kUptime, std::chrono::duration<double>(resilience::Clock::now() - sources.startedAt).count());
  writeScalar(out, families::kConfigGeneration, static_cast<double>(sources.generation.number));
  writeHeader(out, families::kConfigReloads);
  writeSample(out, families::kConfigReloads.name, {{"result", "ok"}}, static_cast<double>(sources.reloads.succeeded));
  writeSample(out, families::kConfigReloads.name, {{"result", "error"}}, static_cast<double>(sources.reloads.failed));
  return out;
}

}  // namespace llmgate::proxy::admin
