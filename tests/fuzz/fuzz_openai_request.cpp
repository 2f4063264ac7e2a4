// Arbitrary request bodies: decoding never crashes or throws; a decoded request re-encodes; the
// fast path's model rewrite keeps a valid JSON document whose model is the new one.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "llmgate/api/openai_codec.hpp"
#include "llmgate/proxy/json_field.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded()) return 0;
  auto decoded = llmgate::api::openai::decodeRequest(parsed);
  if (decoded.ok()) {
    const auto encoded = llmgate::api::openai::encodeRequest(decoded.value(), "upstream-model").dump();
    if (!nlohmann::json::accept(encoded)) std::abort();
  }
  if (parsed.is_object() && parsed.contains("model") && parsed["model"].is_string()) {
    if (!llmgate::proxy::replaceTopLevelString(body, "model", "new\"model")) std::abort();
    nlohmann::json rewritten = nlohmann::json::parse(body, nullptr, false);
    if (rewritten.is_discarded() || rewritten["model"] != "new\"model") std::abort();
  }
  return 0;
}
