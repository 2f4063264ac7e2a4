#include "llmgate/proxy/gateway.hpp"

#include <chrono>

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
  const bool isChat = path == "/v1/chat/completions";
  const bool isModels = path == "/v1/models";
  if (!isChat && !isModels) {
    auto error = GatewayError::make(ErrorKind::NotFound, "not_found", "no route for " + std::string(path));
    sendError(request, *sink, error);
    return;
  }
  if ((isChat && method != "POST") || (isModels && method != "GET")) {
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
  if (isModels) {
    handleModels(*sink);
    return;
  }
  handleChat(request, std::move(sink), worker);
}

void Gateway::handleModels(server::ResponseSink& sink) {
  static const auto kCreated =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  json data = json::array();
  for (const auto& model : router_->models()) {
    data.push_back({{"id", model.id}, {"object", "model"}, {"created", kCreated}, {"owned_by", model.ownedBy}});
  }
  sink.sendResponse(200, kJson, json{{"object", "list"}, {"data", std::move(data)}}.dump());
}

void Gateway::handleChat(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                         std::size_t worker) {
  std::string& body = request.body();
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    sendError(request, *sink,
              GatewayError::make(ErrorKind::InvalidRequest, "invalid_json", "request body is not valid JSON"));
    return;
  }
  if (!parsed.is_object()) {
    sendError(request, *sink,
              GatewayError::make(ErrorKind::InvalidRequest, "invalid_request", "request body must be a JSON object"));
    return;
  }
  auto modelField = parsed.find("model");
  if (modelField == parsed.end() || !modelField->is_string() || modelField->get_ref<const std::string&>().empty()) {
    auto error = GatewayError::make(ErrorKind::InvalidRequest, "missing_field", "model: required non-empty string");
    error.param = "model";
    sendError(request, *sink, error);
    return;
  }
  const std::string model = modelField->get<std::string>();
  auto streamField = parsed.find("stream");
  if (streamField != parsed.end() && !streamField->is_null() && !streamField->is_boolean()) {
    auto error = GatewayError::make(ErrorKind::InvalidRequest, "invalid_request", "stream: expected boolean");
    error.param = "stream";
    sendError(request, *sink, error);
    return;
  }
  const bool stream = streamField != parsed.end() && streamField->is_boolean() && streamField->get<bool>();
  auto& log = sink->log();
  log.model = model;
  log.stream = stream;

  auto route = router_->resolve(model);
  if (!route) {
    auto error = GatewayError::make(ErrorKind::NotFound, "model_not_found",
                                    "The model `" + model + "` does not exist or is not served by this gateway");
    error.param = "model";
    sendError(request, *sink, error);
    return;
  }
  const routing::Target& target = route->targets.front();
  const providers::Provider& provider = *target.provider;
  log.provider = provider.name();
  auto exchange = std::make_shared<Exchange>(*this, worker, sink, provider, model, request.requestId(), stream);

  if (provider.passthroughDialect() == core::Dialect::OpenAi) {
    // Fast path: the body goes upstream as the client wrote it, with only the model renamed.
    if (target.upstreamModel != model) replaceTopLevelString(body, "model", target.upstreamModel);
    exchange->startPassthrough(provider.passthroughRequest(std::move(body), stream));
    return;
  }
  auto decoded = api::openai::decodeRequest(parsed);
  if (!decoded.ok()) {
    sendError(request, *sink, decoded.error());
    return;
  }
  if (auto reply = provider.respondLocally(decoded.value(), model)) {
    exchange->startLocal(std::move(*reply), decoded.value().includeUsage);
    return;
  }
  auto encoded = provider.encodeRequest(decoded.value(), target.upstreamModel);
  if (!encoded.ok()) {
    sendError(request, *sink, encoded.error());
    return;
  }
  exchange->startTranslated(std::move(encoded.value()), decoded.value().stream, decoded.value().includeUsage);
}

}  // namespace llmgate::proxy
