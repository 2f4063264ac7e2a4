// Arbitrary bytes through the JSON skimmer and number clamp, as Gemini answers and stream chunks,
// and as request bodies through both client dialects: decoding never crashes or throws; a
// decoded request re-encodes for every upstream schema as valid JSON; the fast path's model
// rewrite keeps a valid document whose model is the new one.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "llmgate/api/anthropic_codec.hpp"
#include "llmgate/api/openai_codec.hpp"
#include "llmgate/core/json_field.hpp"
#include "providers/gemini/gemini_codec.hpp"

namespace {

void reencode(const llmgate::core::ChatRequest& request) {
  if (!nlohmann::json::accept(llmgate::api::openai::encodeRequest(request, "m").dump())) std::abort();
  if (!nlohmann::json::accept(llmgate::api::anthropic::encodeRequest(request, "m", 1024).dump())) std::abort();
  if (auto gemini = llmgate::providers::gemini::encodeRequest(request); gemini.ok()) {
    if (!nlohmann::json::accept(gemini.value().dump())) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  // The skimmer also reads upstream answers, which may be broken: any bytes must be safe, and
  // every span it returns must lie inside the text.
  for (const auto& span : llmgate::core::findTopLevelValues(body, "usage")) {
    if (span.offset > body.size() || span.length > body.size() - span.offset) std::abort();
  }
  std::string clamped = body;
  llmgate::core::clampTopLevelNumber(clamped, "temperature", 0.0, 1.0);
  // Upstream answers and errors of any shape give results or errors, never exceptions.
  llmgate::providers::gemini::decodeError(429, body);
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded()) return 0;
  llmgate::providers::gemini::decodeResponse(parsed);
  llmgate::providers::gemini::StreamState state;
  std::vector<llmgate::core::ChatEvent> events;
  llmgate::providers::gemini::decodeChunk(parsed, state, events);
  llmgate::providers::gemini::decodeChunk(parsed, state, events);
  llmgate::providers::gemini::finishStream(state, events);
  if (auto openai = llmgate::api::openai::decodeRequest(parsed); openai.ok()) reencode(openai.value());
  if (auto anthropic = llmgate::api::anthropic::decodeRequest(parsed); anthropic.ok()) reencode(anthropic.value());
  if (parsed.is_object() && parsed.contains("model") && parsed["model"].is_string()) {
    if (!llmgate::core::replaceTopLevelString(body, "model", "new\"model")) std::abort();
    nlohmann::json rewritten = nlohmann::json::parse(body, nullptr, false);
    if (rewritten.is_discarded() || rewritten["model"] != "new\"model") std::abort();
  }
  return 0;
}
