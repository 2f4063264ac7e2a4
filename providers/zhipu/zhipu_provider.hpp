// `zhipu` provider: Zhipu GLM (open.bigmodel.cn v4, or Z.ai), OpenAI-compatible with its own
// ranges and names. Auth is the raw `id.secret` key or, with `auth_mode: "jwt"`, a short-lived
// HS256 token made from it (cached and renewed before it expires).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string_view>

#include "providers/openai/openai_provider.hpp"

namespace llmgate::providers::zhipu {

/// The JWT Zhipu accepts for key `id.secret` at `nowMs`: header {"alg":"HS256","sign_type":"SIGN",
/// "typ":"JWT"}, payload {"api_key":id,"exp":nowMs+ttlMs,"timestamp":nowMs} (milliseconds, as
/// Zhipu wants), HMAC-SHA256 with the secret. nullopt when the key has no `id.secret` shape.
std::optional<std::string> makeJwt(std::string_view apiKey, std::int64_t nowMs, std::int64_t ttlMs);

class ZhipuProvider : public openai::OpenAiProvider {
 public:
  explicit ZhipuProvider(const config::ProviderConfig& config);

 protected:
  std::string authHeader(const std::string& key) const override;
  void adaptRequest(const core::ChatRequest& request, nlohmann::json& body) const override;
  void adaptPassthrough(std::string& body) const override;

 private:
  struct CachedToken {
    std::string token;
    std::int64_t expiresAtMs = 0;
  };
  bool useJwt_ = false;
  std::int64_t jwtTtlMs_ = 210000;
  mutable std::mutex cacheMutex_;
  mutable std::map<std::string, CachedToken> cache_;  // key -> its current JWT
};

std::unique_ptr<Provider> create(const config::ProviderConfig& config);

}  // namespace llmgate::providers::zhipu
