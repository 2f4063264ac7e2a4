#include "llmgate/proxy/response_cache.hpp"

#include <algorithm>

#include <openssl/sha.h>

#include "llmgate/core/hex.hpp"

namespace llmgate::proxy {
namespace {

// Members that change how or to whom an answer is delivered, not what it says.
constexpr const char* kNotInKey[] = {"stream", "stream_options", "user", "metadata", "store", "safety_identifier",
                                     "prompt_cache_key"};

std::size_t weight(const core::ChatResponse& answer) {
  std::size_t bytes = sizeof(core::ChatResponse) + answer.id.size() + answer.model.size();
  for (const auto& choice : answer.choices) {
    bytes += sizeof(core::Choice) + choice.text.size() + choice.thinking.size() + choice.thinkingSignature.size() +
             choice.refusal.size();
    for (const auto& call : choice.toolCalls) bytes += sizeof(core::ToolCall) + call.id.size() + call.name.size() + call.arguments.size();
  }
  return bytes;
}

}  // namespace

std::string ResponseCache::keyOf(core::Dialect dialect, std::vector<std::string> destinations, const std::string& hints,
                                 const nlohmann::json& body) {
  // Load balancing changes the order, not the places.
  std::sort(destinations.begin(), destinations.end());
  std::string text = std::to_string(static_cast<int>(dialect)) + '\n';
  for (const auto& destination : destinations) text += destination + '\n';
  text += hints + '\n';
  // nlohmann's objects keep their members sorted: the same text for any member order (written
  // member by member, the body is not copied to leave some out).
  for (const auto& [name, value] : body.items()) {
    if (std::find(std::begin(kNotInKey), std::end(kNotInKey), name) != std::end(kNotInKey)) continue;
    text += name;
    text += '=';
    text += value.dump();
    text += '\n';
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return core::hexEncode(digest, sizeof digest);
}

const char* ResponseCache::uncachable(const nlohmann::json& body) {
  for (const char* member : {"logprobs", "top_logprobs", "logit_bias", "audio", "modalities", "prediction"}) {
    const auto it = body.find(member);
    if (it != body.end() && !it->is_null() && *it != false) return member;
  }
  const auto choices = body.find("n");
  if (choices != body.end() && choices->is_number() && *choices != 1) return "n";
  return nullptr;
}

bool ResponseCache::deterministic(const nlohmann::json& body) {
  const auto it = body.find("temperature");
  return it != body.end() && it->is_number() && it->get<double>() == 0.0;
}

std::shared_ptr<const core::ChatResponse> ResponseCache::find(const std::string& key) {
  auto found = answers_.find(key);
  (found ? hits_ : misses_).fetch_add(1);
  return found;
}

void ResponseCache::store(const std::string& key, const core::ChatResponse& answer, std::chrono::seconds ttl) {
  answers_.insert(key, std::make_shared<const core::ChatResponse>(answer), weight(answer),
                  core::BoundedCache<core::ChatResponse>::Clock::now() + ttl);
}

ResponseCacheStats ResponseCache::stats() const { return {answers_.stats(), hits_.load(), misses_.load()}; }

}  // namespace llmgate::proxy
