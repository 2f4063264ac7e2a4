#include "providers/anthropic/anthropic_provider.hpp"

#include "providers/anthropic/anthropic_codec.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/providers/decoders.hpp"

namespace llmgate::providers::anthropic {
namespace {

// Named events: message_start ... message_stop; `error` may arrive after HTTP 200.
struct EventHandler {
  std::optional<core::GatewayError> onEvent(std::string_view type, std::string_view data,
                                            std::vector<core::ChatEvent>& out) {
    if (type == "content_block_delta" && anthropic::decodeDeltaText(data, state, out)) return std::nullopt;
    nlohmann::json json;
    if (auto error = parseEventJson(data, json)) return error;
    return anthropic::decodeEvent(type, json, state, out);
  }

  std::optional<core::GatewayError> onEnd(std::vector<core::ChatEvent>&) const {
    if (state.stopped) return std::nullopt;
    return core::GatewayError::make(core::ErrorKind::Protocol, "upstream_disconnected",
                                    "upstream stream ended before message_stop");
  }

  anthropic::EventDecodeState state;
};

}  // namespace

AnthropicProvider::AnthropicProvider(const config::ProviderConfig& config) : Provider(config) {
  config::JsonReader reader(config.block, "providers." + config.name);
  rejectUnknownKeys(reader, {"anthropic_version", "default_max_tokens"});
  base_ = requireHttpUrl(reader, config.baseUrl.empty() ? "https://api.anthropic.com" : config.baseUrl);
  version_ = reader.string("anthropic_version", "2023-06-01");
  defaultMaxTokens_ = reader.integer("default_max_tokens", 4096, 1, 1000000);
}

std::vector<std::string> AnthropicProvider::headers(bool stream, const ClientHints& hints) const {
  std::vector<std::string> out = baseHeaders(stream);
  out.push_back("anthropic-version: " + version_);
  if (!hints.anthropicBeta.empty()) out.push_back("anthropic-beta: " + hints.anthropicBeta);
  return out;
}

upstream::Request AnthropicProvider::passthroughRequest(std::string body, bool stream, const ClientHints& hints) const {
  return upstream::Request{base_ + "/v1/messages", headers(stream, hints), std::move(body)};
}

core::Result<upstream::Request> AnthropicProvider::encodeRequest(const core::ChatRequest& request,
                                                               const std::string& upstreamModel,
                                                               const ClientHints& hints) const {
  return upstream::Request{base_ + "/v1/messages", headers(request.stream, hints),
                         core::dumpJson(anthropic::encodeRequest(request, upstreamModel, defaultMaxTokens_))};
}

upstream::Request AnthropicProvider::countTokensRequest(std::string body, const ClientHints& hints) const {
  return upstream::Request{base_ + "/v1/messages/count_tokens", headers(false, hints), std::move(body)};
}

std::unique_ptr<ResponseDecoder> AnthropicProvider::makeDecoder(const core::ChatRequest& request) const {
  if (request.stream) return std::make_unique<SseDecoder<EventHandler>>();
  return std::make_unique<JsonBodyDecoder>(&anthropic::decodeResponse, &anthropic::decodeResponseText);
}

std::string AnthropicProvider::authHeader(const std::string& key) const {
  return key.empty() ? std::string() : "x-api-key: " + key;
}

std::optional<upstream::Request> AnthropicProvider::modelListRequest() const {
  // One page of up to 100 models, newest first: more than any listing needs.
  return upstream::Request{base_ + "/v1/models?limit=100", headers(false, {}), {}};
}

core::GatewayError AnthropicProvider::decodeError(int status, std::string_view body) const {
  return anthropic::decodeError(status, body);
}

std::unique_ptr<Provider> create(const config::ProviderConfig& config) {
  return std::make_unique<AnthropicProvider>(config);
}

}  // namespace llmgate::providers::anthropic
