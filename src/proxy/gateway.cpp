#include "llmgate/proxy/gateway.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <stdexcept>
#include <thread>

#include <fnmatch.h>

#include <boost/asio/post.hpp>

#include "llmgate/api/anthropic_codec.hpp"
#include "llmgate/api/dialect.hpp"
#include "llmgate/api/responses_codec.hpp"
#include "llmgate/core/conversation.hpp"
#include "llmgate/core/turn_scope.hpp"
#include "llmgate/log/log.hpp"
#include "llmgate/proxy/admin_endpoints.hpp"
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

constexpr std::string_view kStoredResponses = "/v1/responses/";  // followed by a response id

// What a per-route section of the config (context_shaping, response_cache.routes) says for
// `label`'s route, else for every route ("*"), else nothing.
template <class Settings>
const Settings* settingsFor(const std::map<std::string, Settings>& byRoute, const std::string& label) {
  if (byRoute.empty()) return nullptr;  // the common case, on every request
  auto it = byRoute.find(label);
  if (it == byRoute.end()) it = byRoute.find("*");
  return it == byRoute.end() ? nullptr : &it->second;
}

// Whether `key` may use `model` (as the client named it) on route `label`.
bool mayUse(const config::GatewayKey& key, const std::string& model, const std::string& label) {
  if (key.models.empty()) return true;
  return std::any_of(key.models.begin(), key.models.end(), [&](const std::string& pattern) {
    return pattern == model || pattern == label || ::fnmatch(pattern.c_str(), model.c_str(), 0) == 0;
  });
}

// An error about one request field or parameter, which it names.
GatewayError paramError(ErrorKind kind, std::string code, std::string param, std::string message) {
  auto error = GatewayError::make(kind, std::move(code), std::move(message));
  error.param = std::move(param);
  return error;
}

}  // namespace

Gateway::Gateway(std::shared_ptr<const config::Config> config, const std::vector<providers::ProviderFactory>& factories)
    : factories_(factories),
      startConfig_(config),
      current_(std::make_shared<Generation>(std::move(config), factories_, 1)),
      conversations_(static_cast<std::size_t>(startConfig_->conversations.maxBytes)),
      redis_(startConfig_->redis),
      limiter_(redis_),
      responseCache_(static_cast<std::size_t>(startConfig_->responseCache.maxBytes), redis_) {}

std::shared_ptr<Generation> Gateway::current() const {
  std::lock_guard lock(generationMutex_);
  return current_;
}

ExchangeContext Gateway::exchangeContext(const std::shared_ptr<Generation>& generation, std::size_t worker) {
  return ExchangeContext{*loops_[worker], *clients_[worker], metrics_, limiter_, responseCache_, flights_, worker, generation};
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
  const auto generation = current();
  clients_.clear();
  for (auto* loop : loops) clients_.push_back(std::make_unique<upstream::HttpClient>(*loop, generation->config->upstream));
  workerGenerations_.assign(loops.size(), generation);
  redis_.attach(loops);
  generation->refresher.start();
  prewarm(*generation);
}

void Gateway::prewarm(const Generation& generation) {
  const auto connections = static_cast<std::size_t>(generation.config->upstream.prewarmConnections);
  if (connections == 0) return;
  std::map<std::string, std::chrono::milliseconds> urls;  // base URL -> its provider's connect timeout
  for (const auto& provider : generation.providers) {
    const auto& block = provider->config();
    if (block.enabled && block.baseUrl.rfind("http", 0) == 0) {
      urls.emplace(block.baseUrl, std::chrono::milliseconds(block.timeouts.connectMs));
    }
  }
  for (std::size_t worker = 0; worker < loops_.size(); ++worker) {
    for (const auto& [url, connect] : urls) {
      boost::asio::post(*loops_[worker], [client = clients_[worker].get(), url, connections, connect] {
        client->prewarm(url, connections, connect);
      });
    }
  }
  log::message(spdlog::level::info, "prewarming " + std::to_string(connections) + " connections to each of " +
                                        std::to_string(urls.size()) + " upstreams on each of " +
                                        std::to_string(loops_.size()) + " workers");
}

void Gateway::detachWorkers() {
  {
    // Every generation's refresher: one still refreshing for a replaced generation would post
    // its answer to a worker loop that is about to go.
    std::lock_guard lock(generationMutex_);
    current_->refresher.stop();
    for (const auto& old : retired_) old->refresher.stop();
  }
  workerGenerations_.clear();
  redis_.detach();
  clients_.clear();
  loops_.clear();
}

Gateway::ReloadResult Gateway::reload(const std::function<config::Config()>& load) {
  const auto running = current();
  ReloadResult result;
  try {
    config::Config fromFile = load();
    // Judged as it will run: a listener that only a restart moves is where it is now.
    result.needRestart = config::keepRestartOnlySettings(*startConfig_, fromFile);
    auto loaded = std::make_shared<const config::Config>(std::move(fromFile));
    if (auto problem = config::exposureProblem(*loaded); !problem.empty()) throw config::ConfigError(problem);
    auto next = std::make_shared<Generation>(loaded, factories_, running->number + 1);
    // The replaced generation stops refreshing in the background before the new one starts.
    running->refresher.retire();
    if (!loops_.empty()) next->refresher.start();
    install(next);
    prewarm(*next);
    log::setLevel(loaded->log.level);
    result.ok = true;
    result.generation = next->number;
  } catch (const std::exception& error) {
    result.generation = running->number;
    result.error = error.what();
  }
  std::lock_guard lock(generationMutex_);
  if (result.ok) {
    ++reloads_.succeeded;
  } else {
    ++reloads_.failed;
    reloads_.lastError = result.error;
    reloads_.lastFailedAt = std::chrono::system_clock::now();
  }
  return result;
}

void Gateway::install(std::shared_ptr<Generation> next) {
  {
    std::lock_guard lock(generationMutex_);
    retired_.push_back(std::exchange(current_, next));
  }
  // Each worker swaps its own reference between two requests; the reload waits for all of them
  // (bounded: a worker that is stopping never runs the swap) so that it is done when it returns.
  auto pending = std::make_shared<std::atomic<std::size_t>>(loops_.size());
  for (std::size_t worker = 0; worker < loops_.size(); ++worker) {
    boost::asio::post(*loops_[worker], [this, worker, next, pending] {
      workerGenerations_[worker] = next;
      pending->fetch_sub(1);
    });
  }
  const auto giveUp = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (pending->load() > 0 && std::chrono::steady_clock::now() < giveUp) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (pending->load() > 0) {
    log::message(spdlog::level::warn, std::to_string(pending->load()) +
                                          " workers had not taken the new config after 5 s; they take it when their loop frees up");
  }
  releaseRetired();
}

std::size_t Gateway::releaseRetired() {
  // Freed here, on the calling (signal) thread: a generation nobody else holds any more.
  std::vector<std::shared_ptr<Generation>> unused;
  std::lock_guard lock(generationMutex_);
  auto keep = std::partition(retired_.begin(), retired_.end(), [](const auto& old) { return old.use_count() > 1; });
  unused.assign(std::make_move_iterator(keep), std::make_move_iterator(retired_.end()));
  retired_.erase(keep, retired_.end());
  return retired_.size();
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
  // The upstream request goes out when this request's handling is done, from this handler.
  const core::TurnScope turn;
  try {
    dispatch(workerGenerations_[worker], request, sink, worker);
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
  failInternally(request.requestId(), api::dialectForPath(request.path()), sink, what);
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

void Gateway::dispatch(const std::shared_ptr<Generation>& generation, server::IncomingRequest& request,
                       std::shared_ptr<server::ResponseSink> sink, std::size_t worker) {
  const std::string_view path = request.path();
  const std::string_view method = request.method();
  if (path == "/health") {
    sink->log().quiet = true;  // probes every few seconds would drown the access log
    // 503 while draining: a load balancer that probes stops choosing this replica.
    if (serverState_ && serverState_->draining) {
      sink->sendResponse(503, kJson, R"({"status":"draining"})");
    } else {
      sink->sendResponse(200, kJson, R"({"status":"ok"})");
    }
    return;
  }
  if (path == "/metrics" && method == "GET") {
    // Open like /health, as scrapers expect: counts and latencies only, never keys or bodies.
    handleMetrics(*generation, *sink);
    return;
  }
  enum class Endpoint { Chat, Messages, Responses, StoredResponse, CountTokens, Models, HealthDetailed, Performance };
  std::optional<Endpoint> endpoint;
  if (path == "/v1/chat/completions") endpoint = Endpoint::Chat;
  if (path == "/v1/messages") endpoint = Endpoint::Messages;
  if (path == "/v1/responses") endpoint = Endpoint::Responses;
  if (path.size() > kStoredResponses.size() && path.rfind(kStoredResponses, 0) == 0) endpoint = Endpoint::StoredResponse;
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
  const bool allowed = *endpoint == Endpoint::StoredResponse ? method == "GET" || method == "DELETE" : method == wanted;
  if (!allowed) {
    auto error = GatewayError::make(ErrorKind::InvalidRequest, "method_not_allowed",
                                    std::string(method) + " is not allowed on " + std::string(path));
    error.status = 405;
    sendError(request, *sink, error);
    return;
  }
  const Caller caller = generation->auth.identify(request.header("authorization"), request.header("x-api-key"));
  const bool authorized = caller.known;
  // The detailed health answers everyone, with its details for key holders only.
  if (!authorized && *endpoint != Endpoint::HealthDetailed) {
    sendError(request, *sink,
              GatewayError::make(ErrorKind::Authentication, "invalid_api_key",
                                 caller.revoked ? "this gateway API key has been revoked"
                                                : "missing or invalid gateway API key (send Authorization: Bearer <key> or x-api-key)"));
    return;
  }
  if (caller.key != nullptr) sink->log().keyName = caller.key->name;
  switch (*endpoint) {
    case Endpoint::Chat: handleChat(generation, request, std::move(sink), worker, core::Dialect::OpenAi, caller); return;
    case Endpoint::Messages:
      handleChat(generation, request, std::move(sink), worker, core::Dialect::Anthropic, caller);
      return;
    case Endpoint::Responses:
      handleChat(generation, request, std::move(sink), worker, core::Dialect::OpenAiResponses, caller);
      return;
    case Endpoint::StoredResponse: handleStoredResponse(request, *sink, caller.tag); return;
    case Endpoint::CountTokens: handleCountTokens(generation, request, std::move(sink), worker, caller); return;
    case Endpoint::HealthDetailed: handleHealthDetailed(*generation, *sink, authorized); return;
    case Endpoint::Performance: handlePerformance(*generation, request, *sink); return;
    case Endpoint::Models:
      // Anthropic's SDKs send anthropic-version and expect their own list shape.
      handleModels(generation, request, sink,
                   request.header("anthropic-version").empty() ? core::Dialect::OpenAi : core::Dialect::Anthropic, worker);
      return;
  }
}

void Gateway::handleModels(const std::shared_ptr<Generation>& generation, server::IncomingRequest& request,
                           std::shared_ptr<server::ResponseSink> sink, core::Dialect dialect, std::size_t worker) {
  // The Gateway outlives its worker loops, as every Exchange relies on; the answer holds the
  // generation it lists.
  generation->catalog->whenListed(*clients_[worker], *loops_[worker], generation,
                                  [this, generation, sink, dialect, requestId = request.requestId()] {
    try {
      sink->sendResponse(200, kJson, admin::modelList(dialect, generation->router, *generation->catalog));
    } catch (const std::exception& error) {
      failInternally(requestId, dialect, *sink, error.what());
    }
  });
}

void Gateway::handleHealthDetailed(const Generation& generation, server::ResponseSink& sink, bool authorized) {
  sink.log().quiet = true;
  auto report = admin::detailedHealth(adminSources(generation));
  if (!authorized) report.body = json{{"status", report.state}}.dump();
  sink.sendResponse(report.status, kJson, std::move(report.body));
}

void Gateway::handlePerformance(const Generation& generation, server::IncomingRequest& request,
                                server::ResponseSink& sink) {
  sink.log().quiet = true;
  std::int64_t seconds = 60;
  if (auto given = request.queryParameter("window"); !given.empty()) {
    auto [end, ec] = std::from_chars(given.data(), given.data() + given.size(), seconds);
    if (ec != std::errc() || end != given.data() + given.size() || seconds < 1 || seconds > 3600) {
      sendError(request, sink, paramError(ErrorKind::InvalidRequest, "invalid_request", "window", "window: seconds between 1 and 3600"));
      return;
    }
  }
  sink.sendResponse(200, kJson, admin::performanceSummary(adminSources(generation), std::chrono::seconds(seconds)));
}

void Gateway::handleMetrics(const Generation& generation, server::ResponseSink& sink) {
  sink.log().quiet = true;
  sink.sendResponse(200, "text/plain; version=0.0.4; charset=utf-8", admin::prometheusText(adminSources(generation)));
}

admin::Sources Gateway::adminSources(const Generation& generation) const {
  admin::ReloadHistory reloads;
  {
    std::lock_guard lock(generationMutex_);
    reloads = reloads_;
  }
  return admin::Sources{generation, metrics_, conversations_, limiter_, redis_, responseCache_, flights_.coalesced(), clients_, serverState_.get(), startedAt_, std::move(reloads)};
}

std::optional<Gateway::Routed> Gateway::parseAndRoute(const Generation& generation, server::IncomingRequest& request,
                                                      server::ResponseSink& sink, const Caller& caller) {
  // Validated without building a document: a passthrough request never needs one, and building
  // and freeing it was the largest cost of the fast path. Requests that are translated parse it
  // when they decode.
  const std::string_view body = request.body();
  // The members routing needs are read in the same walk (a repeated key means its last value,
  // as for a JSON parser).
  core::TopLevelMember members[] = {{"model"}, {"stream"}};
  if (!core::isValidJson(body, members)) {
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
  const std::string_view modelText = members[0].value;
  std::string model;
  if (modelText.size() > 2 && modelText.front() == '"') {
    if (modelText.find('\\') == std::string_view::npos) {
      model = std::string(modelText.substr(1, modelText.size() - 2));
    } else if (const json decoded = core::parseJson(modelText); decoded.is_string()) {
      model = decoded.get_ref<const std::string&>();
    }
  }
  if (model.empty()) {
    sendError(request, sink, paramError(ErrorKind::InvalidRequest, "missing_field", "model", "model: required non-empty string"));
    return std::nullopt;
  }
  const std::string_view streamText = members[1].value;
  if (!streamText.empty() && streamText != "true" && streamText != "false" && streamText != "null") {
    sendError(request, sink, paramError(ErrorKind::InvalidRequest, "invalid_request", "stream", "stream: expected boolean"));
    return std::nullopt;
  }
  sink.log().model = core::clipped(model);
  auto route = generation.router.resolve(model);
  if (!route) {
    sink.log().modelLabel = routing::kOtherModel;
    sendError(request, sink,
              paramError(ErrorKind::NotFound, "model_not_found", "model",
                         "The model `" + core::clipped(model) + "` does not exist or is not served by this gateway"));
    return std::nullopt;
  }
  sink.log().modelLabel = route->label;
  if (caller.key != nullptr && !mayUse(*caller.key, model, route->label)) {
    // As each API says it: OpenAI does not tell a model it withholds from one that is not
    // there; Anthropic answers a permission error.
    const bool anthropic = api::dialectForPath(request.path()) == core::Dialect::Anthropic;
    sendError(request, sink,
              anthropic ? paramError(ErrorKind::PermissionDenied, "model_not_allowed", "model",
                                     "This API key (" + caller.key->name + ") may not use the model `" + core::clipped(model) + "`")
                        : paramError(ErrorKind::NotFound, "model_not_found", "model",
                                     "The model `" + core::clipped(model) + "` does not exist or you do not have access to it."));
    return std::nullopt;
  }
  sink.log().provider = route->targets.front().provider->name();
  return Routed{std::move(model), members[0].count == 1, streamText == "true", std::move(*route), body};
}

ExchangePlan Gateway::planFor(server::IncomingRequest& request, const Routed& routed, core::Dialect dialect, bool stream,
                              std::vector<routing::Target> candidates) const {
  ExchangePlan plan;
  plan.dialect = dialect;
  plan.clientModel = routed.model;
  plan.modelNamedOnce = routed.modelNamedOnce;
  plan.requestId = request.requestId();
  plan.clientStream = stream;
  plan.hints.anthropicBeta = std::string(request.header("anthropic-beta"));
  plan.candidates = std::move(candidates);
  plan.deadline = deadlineFor(request, plan.candidates.front(), stream);
  plan.receivedAt = request.receivedAt();
  return plan;
}

void Gateway::handleChat(const std::shared_ptr<Generation>& generation, server::IncomingRequest& request,
                         std::shared_ptr<server::ResponseSink> sink, std::size_t worker, core::Dialect dialect,
                         const Caller& caller) {
  sink->log().dialect = std::string(api::dialectName(dialect));
  auto routed = parseAndRoute(*generation, request, *sink, caller);
  if (!routed) return;
  sink->log().stages.routedMs = std::chrono::duration<double, std::milli>(resilience::Clock::now() - request.receivedAt()).count();
  ExchangePlan plan = planFor(request, *routed, dialect, routed->stream, generation->pool.order(routed->route));
  sink->log().stream = plan.clientStream;
  const std::string_view cacheHeader = request.header("x-llmgate-cache");
  if (!cacheHeader.empty() && cacheHeader != "on" && cacheHeader != "off" && cacheHeader != "refresh") {
    sendError(request, *sink, paramError(ErrorKind::InvalidRequest, "invalid_request", "x-llmgate-cache",
                                         "x-llmgate-cache: expected on, off or refresh"));
    return;
  }
  const CacheUse cache{settingsFor(generation->config->responseCache.routes, routed->route.label), cacheHeader};
  const bool cacheWanted = startConfig_->responseCache.maxBytes > 0 && cacheHeader != "off" && (cache.route != nullptr || !cacheHeader.empty());
  Conversation conversation{std::string(request.header("x-llmgate-session")), nullptr,
                            settingsFor(generation->config->contextShaping, routed->route.label)};
  if (!conversation.session.empty()) {
    if (!validSessionId(conversation.session)) {
      sendError(request, *sink, paramError(ErrorKind::InvalidRequest, "invalid_request", "x-llmgate-session",
                                           "x-llmgate-session: 1 to 128 characters of A-Z a-z 0-9 . _ : -"));
      return;
    }
    conversation.prior = conversations_.find(ConversationStore::Kind::Session, caller.tag, conversation.session);
  }
  // Decoded once when any candidate needs the IR or the gateway keeps the conversation; a bad
  // request is then a 400 before any attempt. Shaping alone does not refuse what the fast path
  // would have served.
  bool needsIr = dialect == core::Dialect::OpenAiResponses || !conversation.session.empty();
  for (const auto& target : plan.candidates) needsIr = needsIr || target.provider->passthroughDialect() != dialect;
  std::string cacheStatus = "bypass";
  if (needsIr || conversation.shaping != nullptr || cacheWanted) {
    // Validated while it was routed (the same bytes): only built here.
    const std::string_view body = request.body();
    const bool validated = body.data() == routed->validatedBody.data() && body.size() == routed->validatedBody.size();
    const json document = validated ? core::parseValidatedJson(body) : core::parseJson(body);
    static const std::vector<core::Message> kNoTurns;
    auto decoded = api::decodeRequest(dialect, document, conversation.prior ? conversation.prior->history : kNoTurns);
    if (!decoded.ok() && needsIr) {
      sendError(request, *sink, decoded.error());
      return;
    }
    if (decoded.ok()) {
      if (const auto& dropped = decoded.value().droppedTools; !dropped.empty()) {
        std::string names;
        for (const auto& tool : dropped) names += (names.empty() ? "" : ", ") + tool;
        log::message(spdlog::level::info, "request " + plan.requestId + ": tools no upstream can run were left out: " + names);
      }
      plan.includeUsage = decoded.value().includeUsage;
      if (dialect == core::Dialect::OpenAiResponses) plan.requestEcho = api::responses::requestEcho(document);
      plan.request = std::move(decoded.value());
      if (!continueConversation(*generation, request, *sink, caller.tag, conversation, plan)) return;
      if (cacheWanted) cacheStatus = useResponseCache(*generation->config, document, cache, conversation, plan);
    } else {
      log::message(spdlog::level::info, "request " + plan.requestId + ": not shaped (passed through as it came): " +
                                            decoded.error().message);
      sink->log().context = "shaping_skipped";
    }
  }
  // Said on every answer once the cache is in use (configured on a route, or asked for).
  if ((!generation->config->responseCache.routes.empty() || !cacheHeader.empty()) && !cacheStatus.empty()) {
    plan.responseHeaders.emplace_back("x-llmgate-cache-status", cacheStatus);
    sink->log().cache = cacheStatus;
  }
  plan.limitedKey = caller.key;
  plan.estimatedTokens = core::tokensForChars(request.body().size());
  plan.rawBody = std::move(request.body());
  std::make_shared<Exchange>(exchangeContext(generation, worker), std::move(sink), std::move(plan))->start();
}

void Gateway::handleCountTokens(const std::shared_ptr<Generation>& generation, server::IncomingRequest& request,
                                std::shared_ptr<server::ResponseSink> sink, std::size_t worker, const Caller& caller) {
  auto routed = parseAndRoute(*generation, request, *sink, caller);
  if (!routed) return;
  std::vector<routing::Target> counting;
  for (const auto& target : generation->pool.order(routed->route)) {
    if (target.provider->countsTokens()) counting.push_back(target);
  }
  if (!counting.empty()) {
    ExchangePlan plan = planFor(request, *routed, core::Dialect::Anthropic, false, std::move(counting));
    plan.countTokens = true;
    plan.rawBody = std::move(request.body());
    std::make_shared<Exchange>(exchangeContext(generation, worker), std::move(sink), std::move(plan))->start();
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

bool Gateway::continueConversation(const Generation& generation, server::IncomingRequest& request,
                                   server::ResponseSink& sink, const std::string& caller,
                                   const Conversation& conversation, ExchangePlan& plan) {
  using Kind = ConversationStore::Kind;
  core::ChatRequest& chat = *plan.request;
  const auto& settings = generation.config->conversations;
  const bool responses = plan.dialect == core::Dialect::OpenAiResponses;
  std::vector<std::string> context;  // what was done, for the response head and the access log
  auto prior = conversation.prior;
  if (!chat.previousResponseId.empty()) {
    prior = conversations_.find(Kind::Response, caller, chat.previousResponseId);
    if (!prior) {
      sendError(request, sink,
                paramError(ErrorKind::InvalidRequest, "previous_response_not_found", "previous_response_id",
                             "Previous response with id '" + core::clipped(chat.previousResponseId) +
                                 "' not found (stored responses live " + std::to_string(settings.responseTtlSeconds) +
                                 " s on the gateway that answered them)."));
      return false;
    }
  }
  // A stored response carries its inputs' system and developer messages; instructions (the
  // first system entry when given) are the request's own.
  const auto firstInputSystem =
      chat.system.begin() + (responses && plan.requestEcho.contains("instructions") && !chat.system.empty() ? 1 : 0);
  std::vector<std::string> inputSystem(firstInputSystem, chat.system.end());
  if (prior) {
    chat.messages.insert(chat.messages.begin(), prior->history.begin(), prior->history.end());
    chat.system.insert(firstInputSystem, prior->system.begin(), prior->system.end());
    inputSystem.insert(inputSystem.begin(), prior->system.begin(), prior->system.end());
    context.push_back("prior_turns=" + std::to_string(core::turnStarts(prior->history).size()));
    // Calls the kept turns made that this request does not answer: every upstream would refuse them.
    if (const auto dropped = core::dropUnansweredToolCalls(chat.messages, prior->history.size())) {
      context.push_back("unanswered_calls_dropped=" + std::to_string(dropped));
    }
    plan.rewritten = true;
  }

  const bool storeResponse = responses && chat.store && settings.maxBytes > 0;
  const bool keepSession = !conversation.session.empty() && settings.maxBytes > 0;
  if (responses) plan.responseId = newResponseId();
  if (storeResponse || keepSession) {
    // The conversation as the client has it (before shaping), the answer appended when it comes.
    // One conversation weighs at most what one request may: a window slides to fit, a longer
    // stored response is not kept.
    auto kept = std::make_shared<StoredConversation>(StoredConversation{std::move(inputSystem), chat.messages, {}});
    plan.onAnswered = [this, caller, session = keepSession ? conversation.session : std::string(),
                       responseId = storeResponse ? plan.responseId : std::string(), kept,
                       maxBytes = static_cast<std::size_t>(startConfig_->server.maxBodyBytes),
                       responseTtl = std::chrono::seconds(settings.responseTtlSeconds),
                       sessionTtl = std::chrono::seconds(settings.sessionTtlSeconds),
                       sessionTurns = static_cast<std::size_t>(settings.sessionMaxTurns),
                       requestId = plan.requestId](const core::ChatResponse& answer, std::string_view document) {
      kept->history.push_back(core::answerTurn(answer));
      if (!session.empty()) {
        // Sessions keep turns only: clients send their system prompt with every request.
        StoredConversation window{{}, responseId.empty() ? std::move(kept->history) : kept->history, {}};
        core::keepLastTurns(window.history, sessionTurns);
        if (window.fitWithin(maxBytes)) {
          conversations_.store(Kind::Session, caller, session, std::move(window), sessionTtl);
        } else {
          // Its last turn alone is too large: the session starts afresh rather than go on stale.
          conversations_.erase(Kind::Session, caller, session);
          log::message(spdlog::level::warn, "request " + requestId + ": session window not kept: its last turn outweighs "
                                                                     "server.max_body_bytes");
        }
      }
      if (!responseId.empty()) {
        kept->response = std::string(document);
        if (kept->bytes() > maxBytes) {
          log::message(spdlog::level::warn, "request " + requestId + ": response " + responseId +
                                                " not stored: its conversation outweighs server.max_body_bytes");
          return;
        }
        conversations_.store(Kind::Response, caller, responseId, std::move(*kept), responseTtl);
      }
    };
  }

  if (conversation.shaping != nullptr) {
    const core::ShapingReport report = core::shapeContext(chat, *conversation.shaping);
    context.push_back(report.summary(*conversation.shaping));
    if (report.changed()) plan.rewritten = true;
  }
  if (!context.empty()) {
    std::string summary;
    for (const auto& step : context) summary += (summary.empty() ? "" : ", ") + step;
    plan.responseHeaders.emplace_back("x-llmgate-context", summary);
    sink.log().context = std::move(summary);
  }
  return true;
}

std::string Gateway::useResponseCache(const config::Config& config, const json& document, const CacheUse& cache,
                                      const Conversation& conversation, ExchangePlan& plan) {
  // A continued conversation is not what its body says: its earlier turns live on the gateway.
  if (!conversation.session.empty() || !plan.request->previousResponseId.empty()) return "bypass";
  if (ResponseCache::uncachable(document) != nullptr) return "bypass";
  const bool forced = cache.header == "on" || cache.header == "refresh";
  if (!forced && !(cache.route != nullptr && cache.route->sampled) && !ResponseCache::deterministic(document)) {
    return "bypass";  // a sampled answer: another one is as right, and expected
  }
  std::vector<std::string> destinations;
  for (const auto& target : plan.candidates) destinations.push_back(target.provider->name() + '/' + target.upstreamModel);
  const std::string key = ResponseCache::keyOf(plan.dialect, std::move(destinations), plan.hints.anthropicBeta, document);
  const auto& settings = config.responseCache;
  const std::chrono::seconds ttl(cache.route != nullptr && cache.route->ttlSeconds > 0 ? cache.route->ttlSeconds : settings.ttlSeconds);
  const bool refresh = cache.header == "refresh";
  plan.cache = ExchangePlan::CachePlan{key, !refresh, cache.route != nullptr && cache.route->coalesce, ttl};
  // Hit or miss is the exchange's to say, once it has looked (after admission).
  return refresh ? "refresh" : "";
}

void Gateway::handleStoredResponse(server::IncomingRequest& request, server::ResponseSink& sink, const std::string& caller) {
  using Kind = ConversationStore::Kind;
  const std::string id(request.path().substr(kStoredResponses.size()));
  const auto notFound = [&] {
    sendError(request, sink,
              paramError(ErrorKind::NotFound, "not_found", "response_id", "Response with id '" + core::clipped(id) + "' not found."));
  };
  if (request.method() == "DELETE") {
    if (!conversations_.erase(Kind::Response, caller, id)) return notFound();
    sink.sendResponse(200, kJson, json{{"id", id}, {"object", "response"}, {"deleted", true}}.dump());
    return;
  }
  const auto stored = conversations_.find(Kind::Response, caller, id);
  if (!stored) return notFound();
  sink.sendResponse(200, kJson, stored->response);
}

}  // namespace llmgate::proxy
