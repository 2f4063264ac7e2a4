#include "providers/openai/openai_provider.hpp"

#include "llmgate/api/openai_codec.hpp"
#include "llmgate/stream/sse_parser.hpp"

namespace llmgate::providers::openai {
namespace {

using nlohmann::json;

// Streaming body: SSE frames of chat.completion.chunk objects ending with `data: [DONE]`.
class StreamDecoder : public ResponseDecoder {
 public:
  std::optional<core::GatewayError> feed(std::string_view bytes, std::vector<core::ChatEvent>& out) override {
    std::optional<core::GatewayError> failure;
    parser_.feed(bytes, [&](const stream::SseEvent& event) {
      if (failure || done_) return;
      if (event.data == "[DONE]") {
        done_ = true;
        return;
      }
      json chunk = json::parse(event.data, nullptr, false);
      if (chunk.is_discarded()) {
        failure = core::GatewayError::make(core::ErrorKind::Protocol, "upstream_malformed_chunk",
                                           "upstream stream chunk is not JSON");
        return;
      }
      failure = api::openai::decodeChunk(chunk, state_, out);
    });
    return failure;
  }

  std::optional<core::GatewayError> finish(std::vector<core::ChatEvent>&) override {
    if (!done_ && !state_.started) {
      return core::GatewayError::make(core::ErrorKind::Protocol, "upstream_empty_stream",
                                      "upstream stream ended without any chunk");
    }
    return std::nullopt;
  }

 private:
  stream::SseParser parser_;
  api::openai::ChunkDecodeState state_;
  bool done_ = false;
};

// Non-streaming body: one chat.completion object.
class BodyDecoder : public ResponseDecoder {
 public:
  std::optional<core::GatewayError> feed(std::string_view bytes, std::vector<core::ChatEvent>&) override {
    body_.append(bytes);
    return std::nullopt;
  }

  std::optional<core::GatewayError> finish(std::vector<core::ChatEvent>& out) override {
    json body = json::parse(body_, nullptr, false);
    if (body.is_discarded()) {
      return core::GatewayError::make(core::ErrorKind::Protocol, "upstream_malformed_response",
                                      "upstream response is not JSON");
    }
    auto response = api::openai::decodeResponse(body);
    if (!response.ok()) return response.error();
    for (auto& event : core::toEvents(response.value())) out.push_back(std::move(event));
    return std::nullopt;
  }

 private:
  std::string body_;
};

}  // namespace

OpenAiProvider::OpenAiProvider(const config::ProviderConfig& config) : Provider(config) {
  config::JsonReader reader(config.block, "providers." + config.name);
  reader.rejectUnknownKeys({"name", "type", "enabled", "base_url", "api_key", "models", "model_map",
                            "headers", "timeouts"});
  std::string base = config.baseUrl.empty() ? "https://api.openai.com/v1" : config.baseUrl;
  if (base.rfind("http://", 0) != 0 && base.rfind("https://", 0) != 0) {
    reader.fail("base_url", "must start with http:// or https://");
  }
  url_ = base + "/chat/completions";
}

std::vector<std::string> OpenAiProvider::headers(bool stream) const {
  std::vector<std::string> out;
  out.reserve(4 + config().headers.size());
  out.emplace_back("Content-Type: application/json");
  out.emplace_back(stream ? "Accept: text/event-stream" : "Accept: application/json");
  if (!config().apiKey.empty()) out.push_back("Authorization: Bearer " + config().apiKey);
  for (const auto& [name, value] : config().headers) out.push_back(name + ": " + value);
  return out;
}

UpstreamRequest OpenAiProvider::passthroughRequest(std::string body, bool stream) const {
  return UpstreamRequest{url_, headers(stream), std::move(body)};
}

core::Result<UpstreamRequest> OpenAiProvider::encodeRequest(const core::ChatRequest& request,
                                                            const std::string& upstreamModel) const {
  return UpstreamRequest{url_, headers(request.stream), api::openai::encodeRequest(request, upstreamModel).dump()};
}

std::unique_ptr<ResponseDecoder> OpenAiProvider::makeDecoder(bool stream) const {
  if (stream) return std::make_unique<StreamDecoder>();
  return std::make_unique<BodyDecoder>();
}

core::GatewayError OpenAiProvider::decodeError(int status, std::string_view body) const {
  return api::openai::decodeError(status, body);
}

std::unique_ptr<Provider> create(const config::ProviderConfig& config) {
  return std::make_unique<OpenAiProvider>(config);
}

}  // namespace llmgate::providers::openai
