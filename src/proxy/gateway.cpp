#include "llmgate/proxy/gateway.hpp"

#include <chrono>

#include "llmgate/api/anthropic_codec.hpp"
#include "llmgate/api/dialect.hpp"
#include "llmgate/api/openai_codec.hpp"
#include "llmgate/log/log.hpp"
#include "llmgate/proxy/exchange.hpp"
#include "llmgate/proxy/json_field.hpp"

namespace llmgate::proxy {
namespace {

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;

constexpr std::string_view kJson = "application/json";

std::vector<std::unique_ptr<providers::Provider>> buildProviders(const config::Config& config) {
  std::vector<std::unique_ptr<providers::Provider>> out;
  for (std::size_t i = 0; i < config.providers.size(); ++i) {
    const auto& block = config.providers[i];
    out.push_back(providers::createProvider(block, "providers[" + std::to_string(i) + "]"));
    if (!block.enabled) {
      log::message(spdlog::level::warn, "provider " + block.name + " disabled: " +
                                            (block.disabledReason.empty() ? "enabled is false" : block.disabledReason));
    }
  }
  return out;
}

}  // namespace

void sendError(server::IncomingRequest& request, server::ResponseSink& sink, const GatewayError& error) {
  if (sink.log().errorCode.empty()) sink.log().errorCode = error.code;
  server::HeaderList headers;
  if (!error.retryAfter.empty()) headers.emplace_back("retry-after", error.retryAfter);
  sink.sendResponse(error.status, kJson, api::encodeError(api::dialectForPath(request.path()), error), headers);
}

Gateway::Gateway(std::shared_ptr<const config::Config> config)
    : config_(std::move(config)),
      providers_(buildProviders(*config_)),
      router_(std::make_unique<routing::Router>(*config_, providers_)),
      auth_(config_->apiKeys) {}

Gateway::~Gateway() = default;

void Gateway::attachWorkers(const std::vector<boost::asio::io_context*>& loops) {
  loops_ = loops;
  clients_.clear();
  for (auto* loop : loops) clients_.push_back(std::make_unique<upstream::HttpClient>(*loop, config_->upstream));
}

void Gateway::detachWorkers() {
  clients_.clear();
  loops_.clear();
}

void Gateway::reject(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                     const GatewayError& error) {
  log::message(spdlog::level::info, "request rejected (" + error.code + "): " + error.message);
  sendError(request, *sink, error);
}

void Gateway::handle(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                     std::size_t worker) {
  const std::string_view path = request.path();
  const std::string_view method = request.method();
  if (path == "/health") {
    sink->log().quiet = true;  // probes every few seconds would drown the access log
    sink->sendResponse(200, kJson, R"({"status":"ok"})");
    return;
  }
  enum class Endpoint { Chat, Messages, CountTokens, Models };
  std::optional<Endpoint> endpoint;
  if (path == "/v1/chat/completions") endpoint = Endpoint::Chat;
  if (path == "/v1/messages") endpoint = Endpoint::Messages;
  if (path == "/v1/messages/count_tokens") endpoint = Endpoint::CountTokens;
  if (path == "/v1/models") endpoint = Endpoint::Models;
  if (!endpoint) {
    sendError(request, *sink, GatewayError::make(ErrorKind::NotFound, "not_found", "no route for " + std::string(path)));
    return;
  }
  const std::string_view wanted = *endpoint == Endpoint::Models ? "GET" : "POST";
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
    case Endpoint::Models:
      // Anthropic's SDKs send anthropic-version and expect their own list shape.
      handleModels(*sink, request.header("anthropic-version").empty() ? core::Dialect::OpenAi : core::Dialect::Anthropic);
      return;
  }
}

void Gateway::handleModels(server::ResponseSink& sink, core::Dialect dialect) {
  static const auto kCreated =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  json data = json::array();
  for (const auto& model : router_->models()) {
    if (dialect == core::Dialect::Anthropic) {
      data.push_back({{"type", "model"}, {"id", model.id}, {"display_name", model.id}, {"created_at", "2024-01-01T00:00:00Z"}});
    } else {
      data.push_back({{"id", model.id}, {"object", "model"}, {"created", kCreated}, {"owned_by", model.ownedBy}});
    }
  }
  if (dialect == core::Dialect::Anthropic) {
    json body{{"data", data}, {"has_more", false}, {"first_id", data.empty() ? json(nullptr) : data.front()["id"]},
              {"last_id", data.empty() ? json(nullptr) : data.back()["id"]}};
    sink.sendResponse(200, kJson, body.dump());
    return;
  }
  sink.sendResponse(200, kJson, json{{"object", "list"}, {"data", std::move(data)}}.dump());
}

std::optional<Gateway::Routed> Gateway::parseAndRoute(server::IncomingRequest& request, server::ResponseSink& sink) {
  json parsed = json::parse(request.body(), nullptr, false);
  if (parsed.is_discarded()) {
    sendError(request, sink, GatewayError::make(ErrorKind::InvalidRequest, "invalid_json", "request body is not valid JSON"));
    return std::nullopt;
  }
  if (!parsed.is_object()) {
    sendError(request, sink,
              GatewayError::make(ErrorKind::InvalidRequest, "invalid_request", "request body must be a JSON object"));
    return std::nullopt;
  }
  auto modelField = parsed.find("model");
  if (modelField == parsed.end() || !modelField->is_string() || modelField->get_ref<const std::string&>().empty()) {
    auto error = GatewayError::make(ErrorKind::InvalidRequest, "missing_field", "model: required non-empty string");
    error.param = "model";
    sendError(request, sink, error);
    return std::nullopt;
  }
  std::string model = modelField->get<std::string>();
  sink.log().model = model;
  auto route = router_->resolve(model);
  if (!route) {
    auto error = GatewayError::make(ErrorKind::NotFound, "model_not_found",
                                    "The model `" + model + "` does not exist or is not served by this gateway");
    error.param = "model";
    sendError(request, sink, error);
    return std::nullopt;
  }
  sink.log().provider = route->targets.front().provider->name();
  return Routed{std::move(parsed), std::move(model), route->targets.front()};
}

void Gateway::handleChat(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                         std::size_t worker, core::Dialect dialect) {
  auto routed = parseAndRoute(request, *sink);
  if (!routed) return;
  auto streamField = routed->body.find("stream");
  if (streamField != routed->body.end() && !streamField->is_null() && !streamField->is_boolean()) {
    auto error = GatewayError::make(ErrorKind::InvalidRequest, "invalid_request", "stream: expected boolean");
    error.param = "stream";
    sendError(request, *sink, error);
    return;
  }
  const bool stream = streamField != routed->body.end() && streamField->is_boolean() && streamField->get<bool>();
  sink->log().stream = stream;
  const providers::Provider& provider = *routed->target.provider;
  const providers::ClientHints hints{std::string(request.header("anthropic-beta"))};
  auto exchange =
      std::make_shared<Exchange>(*this, worker, sink, provider, dialect, routed->model, request.requestId(), stream);

  if (provider.passthroughDialect() == dialect) {
    // Fast path: the body goes upstream as the client wrote it, with only the model set to the
    // routed one (every copy of it: a repeated "model" key must not reach the upstream unrouted).
    std::string& body = request.body();
    replaceTopLevelString(body, "model", routed->target.upstreamModel);
    exchange->startPassthrough(provider.passthroughRequest(std::move(body), stream, hints));
    return;
  }
  auto decoded = dialect == core::Dialect::Anthropic ? api::anthropic::decodeRequest(routed->body)
                                                     : api::openai::decodeRequest(routed->body);
  if (!decoded.ok()) {
    sendError(request, *sink, decoded.error());
    return;
  }
  if (auto reply = provider.respondLocally(decoded.value(), routed->model)) {
    exchange->startLocal(std::move(*reply), decoded.value().includeUsage);
    return;
  }
  auto encoded = provider.encodeRequest(decoded.value(), routed->target.upstreamModel, hints);
  if (!encoded.ok()) {
    sendError(request, *sink, encoded.error());
    return;
  }
  exchange->startTranslated(std::move(encoded.value()), decoded.value().stream, decoded.value().includeUsage);
}

void Gateway::handleCountTokens(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                                std::size_t worker) {
  auto routed = parseAndRoute(request, *sink);
  if (!routed) return;
  const providers::Provider& provider = *routed->target.provider;
  const providers::ClientHints hints{std::string(request.header("anthropic-beta"))};
  std::string& body = request.body();
  replaceTopLevelString(body, "model", routed->target.upstreamModel);
  if (auto upstream = provider.countTokensRequest(body, hints)) {
    auto exchange = std::make_shared<Exchange>(*this, worker, sink, provider, core::Dialect::Anthropic, routed->model,
                                               request.requestId(), false);
    exchange->startPassthrough(std::move(*upstream));
    return;
  }
  // No counting endpoint upstream: an estimate (about four characters a token), said so in a header.
  auto decoded = api::anthropic::decodeRequest(routed->body, false);
  if (!decoded.ok()) {
    sendError(request, *sink, decoded.error());
    return;
  }
  sink->sendResponse(200, kJson,
                     json{{"input_tokens", api::anthropic::estimateInputTokens(decoded.value())}}.dump(),
                     {{"x-llmgate-token-count", "estimate"}});
}

}  // namespace llmgate::proxy
