#include "llmgate/proxy/gateway_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "llmgate/core/hex.hpp"

namespace llmgate::proxy {

GatewayAuth::GatewayAuth(const std::vector<std::string>& keys) {
  for (const auto& key : keys) digests_.push_back(digest(key));
}

GatewayAuth::Digest GatewayAuth::digest(std::string_view key) {
  Digest out{};
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), out.data());
  return out;
}

std::optional<std::string> GatewayAuth::identify(std::string_view authorization, std::string_view apiKey) const {
  if (!enabled()) return std::string();
  std::string_view presented = apiKey;
  if (presented.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.size() > kBearer.size() && authorization.substr(0, kBearer.size()) == kBearer) {
      presented = authorization.substr(kBearer.size());
    }
  }
  if (presented.empty()) return std::nullopt;
  const Digest candidate = digest(presented);
  bool match = false;
  // Every configured key is compared, so timing does not reveal which one matched.
  for (const auto& stored : digests_) {
    match |= CRYPTO_memcmp(stored.data(), candidate.data(), stored.size()) == 0;
  }
  if (!match) return std::nullopt;
  // A second digest of the key's digest: the tag says nothing about the key nor about the
  // digest it is compared with.
  Digest tag{};
  SHA256(candidate.data(), candidate.size(), tag.data());
  return core::hexEncode(tag.data(), 8);
}

}  // namespace llmgate::proxy
