#include "providers/gemini/gemini_provider.hpp"

#include <algorithm>

#include "llmgate/core/json_read.hpp"
#include "llmgate/providers/decoders.hpp"
#include "providers/gemini/gemini_codec.hpp"

namespace llmgate::providers::gemini {
namespace {

// `data: {GenerateContentResponse}` events (CRLF-delimited in practice); no [DONE]: the body's
// end is the stream's end.
struct ChunkHandler {
  std::optional<core::GatewayError> onEvent(std::string_view, std::string_view data, std::vector<core::ChatEvent>& out) {
    nlohmann::json chunk;
    if (auto error = parseEventJson(data, chunk)) return error;
    return decodeChunk(chunk, state, out);
  }
  std::optional<core::GatewayError> onEnd(std::vector<core::ChatEvent>& out) { return finishStream(state, out); }

  StreamState state;
};

}  // namespace

GeminiProvider::GeminiProvider(const config::ProviderConfig& config) : Provider(config) {
  config::JsonReader reader(config.block, "providers." + config.name);
  rejectUnknownKeys(reader, {});
  base_ = requireHttpUrl(reader, config.baseUrl.empty() ? "https://generativelanguage.googleapis.com/v1beta"
                                                        : config.baseUrl);
}

core::Result<upstream::Request> GeminiProvider::encodeRequest(const core::ChatRequest& request,
                                                            const std::string& upstreamModel,
                                                            const ClientHints&) const {
  auto body = gemini::encodeRequest(request);
  if (!body.ok()) return body.error();
  // "models/gemini-2.5-flash" and "gemini-2.5-flash" name the same model. The name may be the
  // client's (provider/model): encoded, it stays one path segment and adds no query.
  const std::string model = upstreamModel.rfind("models/", 0) == 0 ? upstreamModel.substr(7) : upstreamModel;
  std::string url = base_ + "/models/" + percentEncode(model) +
                    (request.stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
  return upstream::Request{std::move(url), baseHeaders(request.stream), core::dumpJson(body.value())};
}

std::unique_ptr<ResponseDecoder> GeminiProvider::makeDecoder(const core::ChatRequest& request) const {
  if (request.stream) return std::make_unique<SseDecoder<ChunkHandler>>();
  return std::make_unique<JsonBodyDecoder>(&gemini::decodeResponse);
}

std::optional<upstream::Request> GeminiProvider::modelListRequest() const {
  return upstream::Request{base_ + "/models?pageSize=1000", baseHeaders(false), {}};
}

std::vector<std::string> GeminiProvider::decodeModelList(std::string_view body) const {
  const auto parsed = core::parseJson(body);
  std::optional<core::TypeMismatch> ignored;
  std::vector<std::string> ids;
  const auto* models = core::FieldReader(parsed, "", ignored).array("models");
  for (const auto& model : models != nullptr ? *models : nlohmann::json::array()) {
    core::FieldReader fields(model, "", ignored);
    const std::string* name = fields.string("name");
    const auto* methods = fields.array("supportedGenerationMethods");
    const bool generates = methods != nullptr && std::find(methods->begin(), methods->end(), "generateContent") != methods->end();
    if (name == nullptr || !generates) continue;
    ids.push_back(name->rfind("models/", 0) == 0 ? name->substr(7) : *name);
  }
  return ids;
}

core::GatewayError GeminiProvider::decodeError(int status, std::string_view body) const {
  return gemini::decodeError(status, body);
}

std::string GeminiProvider::authHeader(const std::string& key) const {
  return key.empty() ? std::string() : "x-goog-api-key: " + key;
}

std::unique_ptr<Provider> create(const config::ProviderConfig& config) {
  return std::make_unique<GeminiProvider>(config);
}

}  // namespace llmgate::providers::gemini
