#include "llmgate/proxy/gateway.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <set>
#include <stdexcept>

#include "llmgate/api/anthropic_codec.hpp"
#include "llmgate/api/dialect.hpp"
#include "llmgate/log/log.hpp"
#include "llmgate/proxy/exchange.hpp"
#include "llmgate/core/json_field.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/core/json_text.hpp"

namespace llmgate::proxy {
namespace {

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;

constexpr std::string_view kJson = "application/json";

std::vector<std::unique_ptr<providers::Provider>> buildProviders(const config::Config& config,
                                                                 const std::vector<providers::ProviderFactory>& factories) {
  std::vector<std::unique_ptr<providers::Provider>> out;
  for (std::size_t i = 0; i < config.providers.size(); ++i) {
    const auto& block = config.providers[i];
    out.push_back(providers::createProvider(block, "providers[" + std::to_string(i) + "]", factories));
    if (!block.enabled) {
      log::message(spdlog::level::warn, "provider " + block.name + " disabled: " +
                                            (block.disabledReason.empty() ? "enabled is false" : block.disabledReason));
    }
  }
  return out;
}

}  // namespace

Gateway::Gateway(std::shared_ptr<const config::Config> config, const std::vector<providers::ProviderFactory>& factories)
    : config_(std::move(config)),
      providers_(buildProviders(*config_, factories)),
      router_(std::make_unique<routing::Router>(*config_, providers_)),
      auth_(config_->apiKeys) {
  std::vector<std::shared_ptr<auth::OAuthAccount>> accounts;
  for (const auto& provider : providers_) {
    if (!provider->config().enabled) continue;
    for (auto& account : provider->accounts()) accounts.push_back(std::move(account));
  }
  pool_ = std::make_unique<balancing::UpstreamPool>(providers_);
  refresher_ = std::make_unique<auth::TokenRefresher>(std::move(accounts), config_->upstream);
  conversions_ = std::make_unique<ConversionCache>(config_->conversionCache);
  catalog_ = std::make_shared<ModelCatalog>(providers_);
}

ExchangeContext Gateway::exchangeContext(std::size_t worker) {
  return ExchangeContext{*loops_[worker], *clients_[worker], *conversions_, *pool_,
                         *refresher_,     metrics_,          config_->streamKeepaliveMs};
}

std::optional<resilience::Clock::time_point> Gateway::deadlineFor(server::IncomingRequest& request,
                                                                  const routing::Target& first, bool stream) const {
  const auto now = resilience::Clock::now();
  if (auto header = request.header("x-llmgate-timeout-ms"); !header.empty()) {
    std::int64_t ms = 0;
    auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), ms);
    if (ec == std::errc() && end == header.data() + header.size() && ms > 0) return now + resilience::Millis(ms);
  }
  const auto& timeouts = first.provider->config().timeouts;
  const std::int64_t total = stream ? timeouts.streamTotalMs : timeouts.totalMs;
  if (total <= 0) return std::nullopt;
  return now + resilience::Millis(total);
}

Gateway::~Gateway() = default;

void Gateway::attachWorkers(const std::vector<boost::asio::io_context*>& loops,
                            std::shared_ptr<const server::ServerState> state) {
  loops_ = loops;
  serverState_ = std::move(state);
  clients_.clear();
  for (auto* loop : loops) clients_.push_back(std::make_unique<upstream::HttpClient>(*loop, config_->upstream));
  refresher_->start();
}

void Gateway::detachWorkers() {
  refresher_->stop();
  clients_.clear();
  loops_.clear();
}

void Gateway::reject(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                     const GatewayError& error) {
  try {
    log::message(spdlog::level::info, "request rejected (" + error.code + "): " + error.message);
    sendError(request, *sink, error);
  } catch (const std::exception& failure) {
    failInternally(request, *sink, failure.what());
  }
}

void Gateway::handle(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                     std::size_t worker) {
  try {
    dispatch(request, sink, worker);
  } catch (const std::exception& error) {
    failInternally(request, *sink, error.what());
  } catch (...) {
    failInternally(request, *sink, "an exception of unknown type");
  }
}

void Gateway::onEscapedException(std::string_view what) noexcept {
  metrics_.internalErrors.add();
  log::message(spdlog::level::critical, "an exception escaped to a worker loop (the worker goes on): " + std::string(what));
}

void Gateway::failInternally(server::IncomingRequest& request, server::ResponseSink& sink, std::string_view what) noexcept {
  try {
    failInternally(request.requestId(), api::dialectForPath(request.path()), sink, what);
  } catch (...) {
    metrics_.internalErrors.add();
    sink.abort();
  }
}

void Gateway::failInternally(const std::string& requestId, core::Dialect dialect, server::ResponseSink& sink,
                             std::string_view what) noexcept {
  metrics_.internalErrors.add();
  try {
    log::message(spdlog::level::err, "request " + requestId + ": internal error: " + std::string(what));
    if (!sink.started()) {
      sendError(dialect, sink,
                GatewayError::make(ErrorKind::Internal, "internal_error",
                                   "the gateway failed while handling this request (see its x-request-id "
                                   "in the gateway log)"));
      return;
    }
  } catch (...) {
    // Even the error answer failed: the connection is all that is left to end.
  }
  sink.abort();
}

void Gateway::dispatch(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                       std::size_t worker) {
  const std::string_view path = request.path();
  const std::string_view method = request.method();
  if (path == "/health") {
    sink->log().quiet = true;  // probes every few seconds would drown the access log
    sink->sendResponse(200, kJson, R"({"status":"ok"})");
    return;
  }
  if (path == "/metrics" && method == "GET") {
    // Open like /health, as scrapers expect: counts and latencies only, never keys or bodies.
    handleMetrics(*sink);
    return;
  }
  enum class Endpoint { Chat, Messages, CountTokens, Models, HealthDetailed, Performance };
  std::optional<Endpoint> endpoint;
  if (path == "/v1/chat/completions") endpoint = Endpoint::Chat;
  if (path == "/v1/messages") endpoint = Endpoint::Messages;
  if (path == "/v1/messages/count_tokens") endpoint = Endpoint::CountTokens;
  if (path == "/v1/models") endpoint = Endpoint::Models;
  if (path == "/v1/health/detailed") endpoint = Endpoint::HealthDetailed;
  if (path == "/v1/performance") endpoint = Endpoint::Performance;
  if (!endpoint) {
    sendError(request, *sink, GatewayError::make(ErrorKind::NotFound, "not_found", "no route for " + std::string(path)));
    return;
  }
  const bool read = *endpoint == Endpoint::Models || *endpoint == Endpoint::HealthDetailed || *endpoint == Endpoint::Performance;
  const std::string_view wanted = read ? "GET" : "POST";
  if (method != wanted) {
    auto error = GatewayError::make(ErrorKind::InvalidRequest, "method_not_allowed",
                                    std::string(method) + " is not allowed on " + std::string(path));
    error.status = 405;
    sendError(request, *sink, error);
    return;
  }
  if (!auth_.allows(request.header("authorization"), request.header("x-api-key"))) {
    sendError(request, *sink,
              GatewayError::make(ErrorKind::Authentication, "invalid_api_key",
                                 "missing or invalid gateway API key (send Authorization: Bearer <key> or x-api-key)"));
    return;
  }
  switch (*endpoint) {
    case Endpoint::Chat: handleChat(request, std::move(sink), worker, core::Dialect::OpenAi); return;
    case Endpoint::Messages: handleChat(request, std::move(sink), worker, core::Dialect::Anthropic); return;
    case Endpoint::CountTokens: handleCountTokens(request, std::move(sink), worker); return;
    case Endpoint::HealthDetailed: handleHealthDetailed(*sink); return;
    case Endpoint::Performance: handlePerformance(request, *sink); return;
    case Endpoint::Models:
      // Anthropic's SDKs send anthropic-version and expect their own list shape.
      handleModels(request, sink, request.header("anthropic-version").empty() ? core::Dialect::OpenAi : core::Dialect::Anthropic,
                   worker);
      return;
  }
}

void Gateway::handleModels(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                           core::Dialect dialect, std::size_t worker) {
  // The Gateway outlives its worker loops, as every Exchange relies on.
  catalog_->whenListed(*clients_[worker], *loops_[worker], [this, sink, dialect, requestId = request.requestId()] {
    try {
      answerModels(*sink, dialect);
    } catch (const std::exception& error) {
      failInternally(requestId, dialect, *sink, error.what());
    }
  });
}

void Gateway::answerModels(server::ResponseSink& sink, core::Dialect dialect) {
  std::vector<std::pair<std::string, std::string>> models;
  std::set<std::string> named;
  for (const auto& model : router_->models()) {
    named.insert(model.id);
    models.emplace_back(model.id, model.ownedBy);
  }
  for (const auto& listed : catalog_->listed()) {
    // Only what routes (through a pattern, mostly) is worth naming to a client.
    if (named.count(listed.id) > 0) continue;
    if (auto route = router_->resolve(listed.id)) {
      named.insert(listed.id);
      models.emplace_back(listed.id, route->targets.front().provider->name());
    }
  }
  sink.sendResponse(200, kJson, api::encodeModelList(dialect, models));
}

void Gateway::handleHealthDetailed(server::ResponseSink& sink) {
  sink.log().quiet = true;
  const auto now = resilience::Clock::now();
  json providers = json::array();
  bool anyAvailable = false;
  bool anyImpaired = false;
  for (std::size_t i = 0; i < providers_.size(); ++i) {
    const auto& provider = *providers_[i];
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
    pool_->forEachDeployment(provider, [&](const balancing::UpstreamPool::DeploymentView& deployment) {
      const auto& health = deployment.health;
      const auto state = health.state(now);
      const bool cooling = health.coolingDown(now);
      const bool available = state != resilience::BreakerState::Open && !cooling;
      if (!listsModels || deployment.model != balancing::UpstreamPool::kUnlistedModels) {
        anyAvailable = anyAvailable || available;
        anyImpaired = anyImpaired || !available;
      }
      json entry{{"endpoint", block.name + "#" + std::to_string(deployment.credential)},
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
  const char* status = !anyAvailable ? "unavailable" : anyImpaired ? "degraded" : "ok";
  const auto cache = conversions_->stats();
  json body{{"status", status},
            {"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(now - startedAt_).count()},
            {"providers", std::move(providers)},
            {"conversion_cache",
             {{"entries", cache.size}, {"capacity", cache.capacity}, {"hits", cache.hits}, {"misses", cache.misses},
              {"evictions", cache.evictions}}}};
  sink.sendResponse(anyAvailable ? 200 : 503, kJson, body.dump());
}

void Gateway::handlePerformance(server::IncomingRequest& request, server::ResponseSink& sink) {
  sink.log().quiet = true;
  std::int64_t seconds = 60;
  if (auto given = request.queryParameter("window"); !given.empty()) {
    auto [end, ec] = std::from_chars(given.data(), given.data() + given.size(), seconds);
    if (ec != std::errc() || end != given.data() + given.size() || seconds < 1 || seconds > 3600) {
      auto error = GatewayError::make(ErrorKind::InvalidRequest, "invalid_request", "window: seconds between 1 and 3600");
      error.param = "window";
      sendError(request, sink, error);
      return;
    }
  }
  json body = metrics_.window.summary(std::chrono::seconds(seconds));
  const auto cache = conversions_->stats();
  const auto lookups = cache.hits + cache.misses;
  body["conversion_cache"] = {{"hits", cache.hits}, {"misses", cache.misses},
                              {"hit_rate", lookups == 0 ? 0.0 : static_cast<double>(cache.hits) / static_cast<double>(lookups)}};
  body["active_streams"] = metrics_.activeStreams.value();
  body["uptime_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(resilience::Clock::now() - startedAt_).count();
  sink.sendResponse(200, kJson, body.dump());
}

void Gateway::handleMetrics(server::ResponseSink& sink) {
  sink.log().quiet = true;
  using metrics::writeHeader;
  using metrics::writeSample;
  std::string out;
  out.reserve(16384);
  metrics::writeFamily(out, metrics_.requests);
  metrics_.writeTargets(out);
  metrics::writeFamily(out, metrics_.retries);
  metrics::writeFamily(out, metrics_.fallbacks);
  writeHeader(out, "llmgate_active_streams", "Streaming responses in progress.", "gauge");
  writeSample(out, "llmgate_active_streams", {}, static_cast<double>(metrics_.activeStreams.value()));

  const auto now = resilience::Clock::now();
  writeHeader(out, "llmgate_breaker_state",
              "Circuit breaker of each upstream deployment (key and model): 0 closed, 1 half-open, 2 open.", "gauge");
  std::string cooling;
  for (const auto& provider : providers_) {
    pool_->forEachDeployment(*provider, [&](const balancing::UpstreamPool::DeploymentView& deployment) {
      const std::vector<std::pair<std::string, std::string>> labels{{"provider", provider->name()},
                                   {"endpoint", provider->name() + "#" + std::to_string(deployment.credential)},
                                   {"model", deployment.model}};
      const auto state = deployment.health.state(now);
      const double value = state == resilience::BreakerState::Closed ? 0 : state == resilience::BreakerState::HalfOpen ? 1 : 2;
      writeSample(out, "llmgate_breaker_state", labels, value);
      writeSample(cooling, "llmgate_endpoint_cooling_down", labels, deployment.health.coolingDown(now) ? 1 : 0);
    });
  }
  writeHeader(out, "llmgate_endpoint_cooling_down", "1 while a rate-limited deployment takes no traffic.", "gauge");
  out += cooling;

  std::uint64_t transfers = 0, opened = 0;
  for (const auto& client : clients_) {
    transfers += client->stats().transfers.load(std::memory_order_relaxed);
    opened += client->stats().connectionsOpened.load(std::memory_order_relaxed);
  }
  writeHeader(out, "llmgate_upstream_requests_total", "HTTP requests sent to upstreams.", "counter");
  writeSample(out, "llmgate_upstream_requests_total", {}, static_cast<double>(transfers));
  writeHeader(out, "llmgate_upstream_connections_opened_total",
              "New upstream connections; the other requests reused a pooled one.", "counter");
  writeSample(out, "llmgate_upstream_connections_opened_total", {}, static_cast<double>(opened));

  const auto cache = conversions_->stats();
  writeHeader(out, "llmgate_conversion_cache_hits_total", "Translated requests served from the conversion cache.", "counter");
  writeSample(out, "llmgate_conversion_cache_hits_total", {}, static_cast<double>(cache.hits));
  writeHeader(out, "llmgate_conversion_cache_misses_total", "Translated requests converted anew.", "counter");
  writeSample(out, "llmgate_conversion_cache_misses_total", {}, static_cast<double>(cache.misses));
  writeHeader(out, "llmgate_conversion_cache_evictions_total", "Conversions dropped to make room.", "counter");
  writeSample(out, "llmgate_conversion_cache_evictions_total", {}, static_cast<double>(cache.evictions));
  writeHeader(out, "llmgate_conversion_cache_entries", "Conversions held.", "gauge");
  writeSample(out, "llmgate_conversion_cache_entries", {}, static_cast<double>(cache.size));

  writeHeader(out, "llmgate_oauth_token_expiry_seconds", "Seconds until each OAuth account's access token expires.", "gauge");
  for (const auto& provider : providers_) {
    if (!provider->config().enabled) continue;
    for (std::size_t c = 0; c < provider->credentialCount(); ++c) {
      const auth::OAuthAccount* account = provider->account(c);
      const std::int64_t expiresAt = account != nullptr ? account->token()->expiresAtMs : 0;
      if (expiresAt != 0) {
        writeSample(out, "llmgate_oauth_token_expiry_seconds", {{"provider", provider->name()}, {"account", account->label()}},
                    static_cast<double>(expiresAt - auth::nowEpochMs()) / 1000.0);
      }
    }
  }
  writeHeader(out, "llmgate_oauth_refreshes_total", "OAuth token refresh requests sent.", "counter");
  writeSample(out, "llmgate_oauth_refreshes_total", {}, static_cast<double>(refresher_->refreshesSent()));
  if (serverState_) {
    writeHeader(out, "llmgate_open_connections", "Client connections open.", "gauge");
    writeSample(out, "llmgate_open_connections", {}, static_cast<double>(serverState_->openConnections.load()));
    writeHeader(out, "llmgate_in_flight_requests", "Requests received and not yet fully answered.", "gauge");
    writeSample(out, "llmgate_in_flight_requests", {}, static_cast<double>(serverState_->inFlight.load()));
    writeHeader(out, "llmgate_accept_errors_total",
                "Failed accepts of client connections (out of file descriptors among them: accepting then pauses).",
                "counter");
    writeSample(out, "llmgate_accept_errors_total", {}, static_cast<double>(serverState_->acceptErrors.load()));
    writeHeader(out, "llmgate_connections_refused_total", "Connections answered 503 at server.max_connections.",
                "counter");
    writeSample(out, "llmgate_connections_refused_total", {}, static_cast<double>(serverState_->refusedConnections.load()));
  }
  writeHeader(out, "llmgate_metric_series_overflow_total",
              "Recordings whose labels no longer fitted their table and went to the \"overflow\" series.", "counter");
  writeSample(out, "llmgate_metric_series_overflow_total", {}, static_cast<double>(metrics_.overflowed()));
  writeHeader(out, "llmgate_internal_errors_total",
              "Requests failed by an internal error (each answered 500 or closed; the process went on).", "counter");
  writeSample(out, "llmgate_internal_errors_total", {}, static_cast<double>(metrics_.internalErrors.value()));
  writeHeader(out, "llmgate_uptime_seconds", "Seconds since the gateway started.", "gauge");
  writeSample(out, "llmgate_uptime_seconds", {},
              std::chrono::duration<double>(resilience::Clock::now() - startedAt_).count());
  sink.sendResponse(200, "text/plain; version=0.0.4; charset=utf-8", std::move(out));
}

std::optional<Gateway::Routed> Gateway::parseAndRoute(server::IncomingRequest& request, server::ResponseSink& sink) {
  // Validated without building a document: a passthrough request never needs one, and building
  // and freeing it was the largest cost of the fast path. Requests that are translated parse it
  // when they decode.
  const std::string_view body = request.body();
  if (!core::isValidJson(body)) {
    sendError(request, sink, GatewayError::make(ErrorKind::InvalidRequest, "invalid_json",
                                                "request body is not valid JSON (or nests deeper than " +
                                                    std::to_string(core::kMaxJsonDepth) + " levels)"));
    return std::nullopt;
  }
  if (body[body.find_first_not_of(" \t\r\n")] != '{') {  // valid JSON has a first non-space byte
    sendError(request, sink,
              GatewayError::make(ErrorKind::InvalidRequest, "invalid_request", "request body must be a JSON object"));
    return std::nullopt;
  }
  // A repeated key means its last value, as for a JSON parser.
  const auto lastValue = [&](std::string_view key) {
    const auto spans = core::findTopLevelValues(body, key);
    return spans.empty() ? std::string_view{} : body.substr(spans.back().offset, spans.back().length);
  };
  const std::string_view modelText = lastValue("model");
  std::string model;
  if (modelText.size() > 2 && modelText.front() == '"') {
    if (modelText.find('\\') == std::string_view::npos) {
      model = std::string(modelText.substr(1, modelText.size() - 2));
    } else if (const json decoded = core::parseJson(modelText); decoded.is_string()) {
      model = decoded.get_ref<const std::string&>();
    }
  }
  if (model.empty()) {
    auto error = GatewayError::make(ErrorKind::InvalidRequest, "missing_field", "model: required non-empty string");
    error.param = "model";
    sendError(request, sink, error);
    return std::nullopt;
  }
  const std::string_view streamText = lastValue("stream");
  if (!streamText.empty() && streamText != "true" && streamText != "false" && streamText != "null") {
    auto error = GatewayError::make(ErrorKind::InvalidRequest, "invalid_request", "stream: expected boolean");
    error.param = "stream";
    sendError(request, sink, error);
    return std::nullopt;
  }
  sink.log().model = core::clipped(model);
  auto route = router_->resolve(model);
  if (!route) {
    sink.log().modelLabel = routing::kOtherModel;
    auto error = GatewayError::make(ErrorKind::NotFound, "model_not_found",
                                    "The model `" + core::clipped(model) + "` does not exist or is not served by this gateway");
    error.param = "model";
    sendError(request, sink, error);
    return std::nullopt;
  }
  sink.log().modelLabel = route->label;
  sink.log().provider = route->targets.front().provider->name();
  return Routed{std::move(model), streamText == "true", std::move(*route)};
}

ExchangePlan Gateway::planFor(server::IncomingRequest& request, const Routed& routed, core::Dialect dialect, bool stream,
                              std::vector<routing::Target> candidates) const {
  ExchangePlan plan;
  plan.dialect = dialect;
  plan.clientModel = routed.model;
  plan.requestId = request.requestId();
  plan.clientStream = stream;
  plan.hints.anthropicBeta = std::string(request.header("anthropic-beta"));
  plan.candidates = std::move(candidates);
  plan.deadline = deadlineFor(request, plan.candidates.front(), stream);
  plan.receivedAt = request.receivedAt();
  return plan;
}

void Gateway::handleChat(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                         std::size_t worker, core::Dialect dialect) {
  sink->log().dialect = std::string(api::dialectName(dialect));
  auto routed = parseAndRoute(request, *sink);
  if (!routed) return;
  sink->log().stages.routedMs = std::chrono::duration<double, std::milli>(resilience::Clock::now() - request.receivedAt()).count();
  ExchangePlan plan = planFor(request, *routed, dialect, routed->stream, pool_->order(routed->route));
  sink->log().stream = plan.clientStream;
  // Decoded once when any candidate needs the IR; a bad request is a 400 before any attempt.
  bool needsIr = false;
  for (const auto& target : plan.candidates) needsIr = needsIr || target.provider->passthroughDialect() != dialect;
  if (needsIr) {
    const json document = core::parseJson(request.body());
    auto decoded = api::decodeRequest(dialect, document);
    if (!decoded.ok()) {
      sendError(request, *sink, decoded.error());
      return;
    }
    plan.includeUsage = decoded.value().includeUsage;
    plan.request = std::move(decoded.value());
  }
  plan.rawBody = std::move(request.body());
  std::make_shared<Exchange>(exchangeContext(worker), std::move(sink), std::move(plan))->start();
}

void Gateway::handleCountTokens(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                                std::size_t worker) {
  auto routed = parseAndRoute(request, *sink);
  if (!routed) return;
  std::vector<routing::Target> counting;
  for (const auto& target : pool_->order(routed->route)) {
    if (target.provider->countsTokens()) counting.push_back(target);
  }
  if (!counting.empty()) {
    ExchangePlan plan = planFor(request, *routed, core::Dialect::Anthropic, false, std::move(counting));
    plan.countTokens = true;
    plan.rawBody = std::move(request.body());
    std::make_shared<Exchange>(exchangeContext(worker), std::move(sink), std::move(plan))->start();
    return;
  }
  // No counting endpoint upstream: an estimate (about four characters a token), said so in a header.
  auto decoded = api::anthropic::decodeRequest(core::parseJson(request.body()), false);
  if (!decoded.ok()) {
    sendError(request, *sink, decoded.error());
    return;
  }
  sink->sendResponse(200, kJson,
                     json{{"input_tokens", core::estimateInputTokens(decoded.value())}}.dump(),
                     {{"x-llmgate-token-count", "estimate"}});
}

}  // namespace llmgate::proxy
