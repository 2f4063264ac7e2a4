#include "providers/zhipu/zhipu_provider.hpp"

#include <algorithm>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "llmgate/auth/oauth_account.hpp"
#include "llmgate/core/json_field.hpp"

namespace llmgate::providers::zhipu {
namespace {

// Zhipu's documented ranges; OpenAI clients may send temperature up to 2.
constexpr double kMinTemperature = 0.0, kMaxTemperature = 1.0;
constexpr double kMinTopP = 0.01, kMaxTopP = 1.0;
// A cached JWT is replaced this long before it expires, so none expires in flight.
constexpr std::int64_t kRenewBeforeMs = 30000;

std::string base64Url(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    if (i + 1 < bytes.size()) out += kAlphabet[(v >> 6) & 63];
  }
  return out;  // JWTs carry no padding
}

}  // namespace

std::optional<std::string> makeJwt(std::string_view apiKey, std::int64_t nowMs, std::int64_t ttlMs) {
  const auto dot = apiKey.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == apiKey.size()) return std::nullopt;
  const std::string_view id = apiKey.substr(0, dot);
  const std::string_view secret = apiKey.substr(dot + 1);
  // Key order as PyJWT (Zhipu's own SDK) writes them.
  const std::string header = R"({"alg":"HS256","sign_type":"SIGN","typ":"JWT"})";
  const nlohmann::json payload{{"api_key", id}, {"exp", nowMs + ttlMs}, {"timestamp", nowMs}};
  std::string signingInput = base64Url(header) + "." + base64Url(payload.dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int macLength = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signingInput.data()), signingInput.size(), mac, &macLength);
  signingInput += '.';
  signingInput += base64Url(std::string_view(reinterpret_cast<const char*>(mac), macLength));
  return signingInput;
}

ZhipuProvider::ZhipuProvider(const config::ProviderConfig& config)
    : OpenAiProvider(config, "https://open.bigmodel.cn/api/paas/v4", {"auth_mode", "jwt_ttl_seconds"}) {
  config::JsonReader reader(config.block, "providers." + config.name);
  const std::string mode = reader.string("auth_mode", "api_key");
  if (mode != "api_key" && mode != "jwt") reader.fail("auth_mode", "must be \"api_key\" or \"jwt\"");
  useJwt_ = mode == "jwt";
  jwtTtlMs_ = reader.integer("jwt_ttl_seconds", 210, 60, 86400) * 1000;
  if (useJwt_) {
    for (const auto& key : config.apiKeys) {
      if (!makeJwt(key, 0, 0)) reader.fail("api_key", "auth_mode \"jwt\" needs keys of the form id.secret");
    }
  }
}

std::string ZhipuProvider::authHeader(const std::string& key) const {
  if (key.empty()) return {};
  if (!useJwt_) return "Authorization: Bearer " + key;
  const std::int64_t now = auth::nowEpochMs();
  std::lock_guard lock(cacheMutex_);
  CachedToken& cached = cache_[key];
  if (cached.expiresAtMs - kRenewBeforeMs <= now) {
    cached.token = makeJwt(key, now, jwtTtlMs_).value_or(std::string());
    cached.expiresAtMs = now + jwtTtlMs_;
  }
  return "Authorization: Bearer " + cached.token;
}

void ZhipuProvider::adaptRequest(const core::ChatRequest& request, nlohmann::json& body) const {
  if (auto it = body.find("temperature"); it != body.end() && it->is_number()) {
    *it = std::clamp(it->get<double>(), kMinTemperature, kMaxTemperature);
  }
  if (auto it = body.find("top_p"); it != body.end() && it->is_number()) {
    *it = std::clamp(it->get<double>(), kMinTopP, kMaxTopP);
  }
  if (auto it = body.find("user"); it != body.end()) {
    body["user_id"] = *it;
    body.erase("user");
  }
  if (request.thinking && !body.contains("thinking")) {
    body["thinking"] = {{"type", request.thinking->enabled ? "enabled" : "disabled"}};
  }
}

void ZhipuProvider::adaptPassthrough(std::string& body) const {
  core::clampTopLevelNumber(body, "temperature", kMinTemperature, kMaxTemperature);
  core::clampTopLevelNumber(body, "top_p", kMinTopP, kMaxTopP);
}

std::unique_ptr<Provider> create(const config::ProviderConfig& config) {
  return std::make_unique<ZhipuProvider>(config);
}

}  // namespace llmgate::providers::zhipu
