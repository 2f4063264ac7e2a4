#include "providers/openai/openai_provider.hpp"

#include "providers/openai/openai_codec.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/providers/decoders.hpp"

namespace llmgate::providers::openai {
namespace {

// chat.completion.chunk events, ending with `data: [DONE]`.
struct ChunkHandler {
  std::optional<core::GatewayError> onEvent(std::string_view, std::string_view data, std::vector<core::ChatEvent>& out) {
    if (done) return std::nullopt;
    if (data == "[DONE]") {
      done = true;
      return std::nullopt;
    }
    if (openai::decodeChunkText(data, state, out)) return std::nullopt;
    nlohmann::json chunk;
    if (auto error = parseEventJson(data, chunk)) return error;
    return openai::decodeChunk(chunk, state, out);
  }

  std::optional<core::GatewayError> onEnd(std::vector<core::ChatEvent>&) const {
    if (!done && !state.started) {
      return core::GatewayError::make(core::ErrorKind::Protocol, "upstream_empty_stream",
                                      "upstream stream ended without any chunk");
    }
    return std::nullopt;
  }

  openai::ChunkDecodeState state;
  bool done = false;
};

// OpenAI's reasoning models (o1, o3, o4-mini, gpt-5...) take reasoning_effort; the others
// refuse the parameter, so it is only sent to these.
bool isReasoningModel(std::string_view model) {
  return (model.size() > 1 && model[0] == 'o' && model[1] >= '0' && model[1] <= '9') || model.rfind("gpt-5", 0) == 0;
}

// The effort OpenAI understands for what the client asked: its own word when OpenAI has it,
// else one from the thinking budget.
std::string effortFor(const core::ChatRequest& request) {
  const std::string& said = request.reasoningEffort;
  if (said == "minimal" || said == "low" || said == "medium" || said == "high") return said;
  if (said == "max") return "high";
  if (!request.thinking->budgetTokens) return {};
  const std::int64_t budget = *request.thinking->budgetTokens;
  return budget <= 1024 ? "low" : budget <= 8192 ? "medium" : "high";
}

}  // namespace

void OpenAiProvider::adaptRequest(const core::ChatRequest& request, nlohmann::json& body) const {
  // An OpenAI client's own reasoning_effort arrived with its other fields.
  if (!request.thinking || !request.thinking->enabled || body.contains("reasoning_effort")) return;
  const auto model = body.find("model");
  if (model == body.end() || !model->is_string() || !isReasoningModel(model->get_ref<const std::string&>())) return;
  if (std::string effort = effortFor(request); !effort.empty()) body["reasoning_effort"] = std::move(effort);
}

OpenAiProvider::OpenAiProvider(const config::ProviderConfig& config)
    : OpenAiProvider(config, "https://api.openai.com/v1", {}) {}

OpenAiProvider::OpenAiProvider(const config::ProviderConfig& config, std::string_view defaultBaseUrl,
                               std::initializer_list<std::string_view> ownKeys)
    : Provider(config) {
  config::JsonReader reader(config.block, "providers." + config.name);
  rejectUnknownKeys(reader, ownKeys);
  // Config loading already dropped trailing slashes from base_url.
  url_ = requireHttpUrl(reader, config.baseUrl.empty() ? std::string(defaultBaseUrl) : config.baseUrl) + "/chat/completions";
}

std::string OpenAiProvider::authHeader(const std::string& key) const {
  return key.empty() ? std::string() : "Authorization: Bearer " + key;
}

upstream::Request OpenAiProvider::passthroughRequest(std::string body, bool stream, const ClientHints&) const {
  adaptPassthrough(body);
  return upstream::Request{url_, baseHeaders(stream), std::move(body)};
}

core::Result<upstream::Request> OpenAiProvider::encodeRequest(const core::ChatRequest& request,
                                                            const std::string& upstreamModel,
                                                            const ClientHints&) const {
  nlohmann::json body = openai::encodeRequest(request, upstreamModel, encodeOptions_);
  adaptRequest(request, body);
  return upstream::Request{url_, baseHeaders(request.stream), core::dumpJson(body)};
}

std::unique_ptr<ResponseDecoder> OpenAiProvider::makeDecoder(const core::ChatRequest& request) const {
  if (request.stream) return std::make_unique<SseDecoder<ChunkHandler>>();
  return std::make_unique<JsonBodyDecoder>(&openai::decodeResponse, &openai::decodeResponseText);
}

std::optional<upstream::Request> OpenAiProvider::modelListRequest() const {
  static constexpr std::string_view kChat = "/chat/completions";
  return upstream::Request{url_.substr(0, url_.size() - kChat.size()) + "/models", baseHeaders(false), {}};
}

core::GatewayError OpenAiProvider::decodeError(int status, std::string_view body) const {
  return openai::decodeError(status, body);
}

std::unique_ptr<Provider> create(const config::ProviderConfig& config) {
  return std::make_unique<OpenAiProvider>(config);
}

}  // namespace llmgate::providers::openai
