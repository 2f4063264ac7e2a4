#include "llmgate/proxy/response_cache.hpp"

#include <algorithm>

#include <openssl/sha.h>

#include "llmgate/auth/oauth_account.hpp"
#include "llmgate/core/hex.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/log/log.hpp"

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

// The layout of answers kept in Redis: a replica that reads another layout takes it as a miss.
constexpr std::int64_t kSharedLayout = 1;
constexpr std::int64_t kMaxKeptMs = 30LL * 86400 * 1000;  // the longest ttl_s a route may have

std::optional<core::ToolCall> readToolCall(const nlohmann::json& value, std::optional<core::TypeMismatch>& mismatch) {
  const core::FieldReader fields(value, "tool_calls[]", mismatch);
  core::ToolCall call{fields.stringOr("id"), fields.stringOr("name"), fields.stringOr("arguments")};
  if (!value.is_object() || fields.failed()) return std::nullopt;
  return call;
}

std::optional<core::Choice> readChoice(const nlohmann::json& value, std::optional<core::TypeMismatch>& mismatch) {
  const core::FieldReader fields(value, "choices[]", mismatch);
  core::Choice choice;
  choice.index = static_cast<int>(fields.integer("index").value_or(0));
  choice.text = fields.stringOr("text");
  choice.thinking = fields.stringOr("thinking");
  choice.thinkingSignature = fields.stringOr("signature");
  choice.refusal = fields.stringOr("refusal");
  const auto finish = fields.integer("finish").value_or(0);
  if (finish < 0 || finish > static_cast<std::int64_t>(core::FinishReason::Error)) return std::nullopt;
  choice.finish = static_cast<core::FinishReason>(finish);
  if (const auto* calls = fields.array("tool_calls")) {
    for (const auto& item : *calls) {
      auto call = readToolCall(item, mismatch);
      if (!call) return std::nullopt;
      choice.toolCalls.push_back(std::move(*call));
    }
  }
  if (!value.is_object() || fields.failed() || choice.index < 0) return std::nullopt;
  return choice;
}

}  // namespace

std::string ResponseCache::sharedText(const core::ChatResponse& answer, std::int64_t expiresAtMs) {
  nlohmann::json choices = nlohmann::json::array();
  for (const auto& choice : answer.choices) {
    nlohmann::json calls = nlohmann::json::array();
    for (const auto& call : choice.toolCalls) calls.push_back({{"id", call.id}, {"name", call.name}, {"arguments", call.arguments}});
    choices.push_back({{"index", choice.index},
                       {"text", choice.text},
                       {"thinking", choice.thinking},
                       {"signature", choice.thinkingSignature},
                       {"refusal", choice.refusal},
                       {"finish", static_cast<int>(choice.finish)},
                       {"tool_calls", std::move(calls)}});
  }
  const auto& usage = answer.usage;
  const nlohmann::json document{{"layout", kSharedLayout},
                                {"expires_at_ms", expiresAtMs},
                                {"model", answer.model},
                                {"created", answer.created},
                                {"usage",
                                 {{"input", usage.inputTokens},
                                  {"output", usage.outputTokens},
                                  {"cached_input", usage.cachedInputTokens},
                                  {"cache_creation_input", usage.cacheCreationInputTokens},
                                  {"reasoning", usage.reasoningTokens},
                                  {"present", usage.present}}},
                                {"choices", std::move(choices)}};
  return core::dumpJson(document);
}

std::optional<core::ChatResponse> ResponseCache::fromSharedText(std::string_view text, std::int64_t& expiresAtMs) {
  const auto document = core::parseJson(text);
  std::optional<core::TypeMismatch> mismatch;
  const core::FieldReader fields(document, "answer", mismatch);
  if (!document.is_object() || fields.integer("layout") != kSharedLayout) return std::nullopt;
  core::ChatResponse answer;
  expiresAtMs = fields.integer("expires_at_ms").value_or(0);
  answer.model = fields.stringOr("model");
  answer.created = fields.integer("created").value_or(0);
  if (const auto* usage = fields.object("usage")) {
    const core::FieldReader counts(*usage, "usage", mismatch);
    answer.usage.inputTokens = counts.integer("input").value_or(0);
    answer.usage.outputTokens = counts.integer("output").value_or(0);
    answer.usage.cachedInputTokens = counts.integer("cached_input").value_or(0);
    answer.usage.cacheCreationInputTokens = counts.integer("cache_creation_input").value_or(0);
    answer.usage.reasoningTokens = counts.integer("reasoning").value_or(0);
    answer.usage.present = counts.boolean("present").value_or(false);
  }
  const auto* choices = fields.array("choices");
  if (choices == nullptr || choices->empty()) return std::nullopt;
  for (const auto& item : *choices) {
    auto choice = readChoice(item, mismatch);
    if (!choice) return std::nullopt;
    answer.choices.push_back(std::move(*choice));
  }
  if (fields.failed()) return std::nullopt;
  return answer;
}

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

std::string ResponseCache::sharedKey(const std::string& key) const { return redis_.settings().keyPrefix + "cache:" + key; }

void ResponseCache::keep(const std::string& key, std::shared_ptr<const core::ChatResponse> answer, std::chrono::milliseconds ttl) {
  const auto bytes = weight(*answer);
  answers_.insert(key, std::move(answer), bytes, core::BoundedCache<core::ChatResponse>::Clock::now() + ttl);
}

void ResponseCache::lookUp(std::size_t worker, const std::string& key, Found found) {
  if (auto answer = answers_.find(key)) {
    hits_.fetch_add(1);
    found(std::move(answer), false);
    return;
  }
  auto client = redis_.client(worker);
  if (!client || !client->ready()) {
    misses_.fetch_add(1);
    found(nullptr, false);
    return;
  }
  client->command({"GET", sharedKey(key)}, [this, key, found = std::move(found)](const redis::Reply* reply) {
    std::shared_ptr<const core::ChatResponse> answer;
    try {
      if (reply != nullptr && reply->type == redis::Reply::Type::String) {
        std::int64_t expiresAtMs = 0;
        if (auto read = fromSharedText(reply->text, expiresAtMs)) {
          answer = std::make_shared<const core::ChatResponse>(std::move(*read));
          // Kept here for what is left of its time in Redis (as long as a route may keep
          // anything at most: the time comes from outside).
          const auto now = auth::nowEpochMs();
          if (expiresAtMs > now) keep(key, answer, std::chrono::milliseconds(std::min(expiresAtMs - now, kMaxKeptMs)));
        }
      }
      // Not an answer: a string this llmgate cannot read, or a key of another Redis type (other
      // errors, such as a Redis still loading, are misses that say nothing about the entry).
      const bool foreign = reply != nullptr && !answer &&
                           (reply->type == redis::Reply::Type::String ||
                            (reply->type == redis::Reply::Type::Error && reply->text.rfind("WRONGTYPE", 0) == 0));
      if (foreign) {
        sharedUnreadable_.fetch_add(1);
        log::message(spdlog::level::warn, "response cache: Redis holds something else than an answer this llmgate reads "
                                          "under a cache key (taken as a miss, and replaced)");
      }
    } catch (const std::exception& error) {
      answer.reset();
      log::message(spdlog::level::err, std::string("response cache: reading an entry from Redis failed: ") + error.what());
    }
    const bool hit = answer != nullptr;
    if (hit) {
      hits_.fetch_add(1);
      sharedHits_.fetch_add(1);
    } else {
      misses_.fetch_add(1);
    }
    found(std::move(answer), hit);
  });
}

void ResponseCache::store(std::size_t worker, const std::string& key, const core::ChatResponse& answer, std::chrono::seconds ttl) {
  keep(key, std::make_shared<const core::ChatResponse>(answer), ttl);
  auto client = redis_.client(worker);
  if (!client || !client->ready()) return;
  const auto expiresAtMs = auth::nowEpochMs() + std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  std::string text = sharedText(answer, expiresAtMs);
  if (text.size() > kMaxSharedBytes) return;
  // Its reply does not matter: a replica that finds nothing asks upstream.
  client->command({"SET", sharedKey(key), std::move(text), "PX", std::to_string(ttl.count() * 1000)},
                  nullptr);
}

ResponseCacheStats ResponseCache::stats() const {
  return {answers_.stats(), hits_.load(), sharedHits_.load(), misses_.load(), sharedUnreadable_.load()};
}

}  // namespace llmgate::proxy
