#include "llmgate/proxy/gateway_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace llmgate::proxy {

GatewayAuth::GatewayAuth(const std::vector<std::string>& keys) {
  for (const auto& key : keys) digests_.push_back(digest(key));
}

GatewayAuth::Digest GatewayAuth::digest(std::string_view key) {
  Digest out{};
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), out.data());
  return out;
}

bool GatewayAuth::allows(std::string_view authorization, std::string_view apiKey) const {
  if (!enabled()) return true;
  std::string_view presented = apiKey;
  if (presented.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.size() > kBearer.size() && authorization.substr(0, kBearer.size()) == kBearer) {
      presented = authorization.substr(kBearer.size());
    }
  }
  if (presented.empty()) return false;
  const Digest candidate = digest(presented);
  bool match = false;
  // Every configured key is compared, so timing does not reveal which one matched.
  for (const auto& stored : digests_) {
    match |= CRYPTO_memcmp(stored.data(), candidate.data(), stored.size()) == 0;
  }
  return match;
}

}  // namespace llmgate::proxy
