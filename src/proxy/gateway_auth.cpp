#include "llmgate/proxy/gateway_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <map>

#include "llmgate/core/hex.hpp"

namespace llmgate::proxy {
namespace {

int hexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

}  // namespace

GatewayAuth::GatewayAuth(const std::vector<std::string>& plain, const std::vector<config::GatewayKey>& named) {
  for (const auto& key : plain) entries_.push_back({digest(key), nullptr, {}});
  for (const auto& key : named) {
    Entry entry{{}, &key, {}};
    if (!key.key.empty()) {
      entry.digest = digest(key.key);
    } else {
      // key_sha256 was checked to be 64 lowercase hex digits when the config was read.
      for (std::size_t i = 0; i < entry.digest.size(); ++i) {
        entry.digest[i] = static_cast<unsigned char>(hexValue(key.keySha256[2 * i]) * 16 + hexValue(key.keySha256[2 * i + 1]));
      }
    }
    entries_.push_back(entry);
  }
  // A second digest of the key's digest: the tag says nothing about the key nor about the
  // digest it is compared with. Made once here, not per request.
  for (auto& entry : entries_) {
    Digest tag{};
    SHA256(entry.digest.data(), entry.digest.size(), tag.data());
    entry.tag = core::hexEncode(tag.data(), 8);
  }
  // One key, one caller: the same key twice (one entry disabled, say) would be decided by order.
  std::map<Digest, const Entry*> seen;
  for (const auto& entry : entries_) {
    auto [it, added] = seen.emplace(entry.digest, &entry);
    if (added) continue;
    const auto nameOf = [](const Entry* e) { return e->named != nullptr ? "key \"" + e->named->name + "\"" : std::string("an api_keys entry"); };
    throw config::ConfigError("auth: the same key is given twice (" + nameOf(it->second) + " and " + nameOf(&entry) + ")");
  }
}

GatewayAuth::Digest GatewayAuth::digest(std::string_view key) {
  Digest out{};
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), out.data());
  return out;
}

Caller GatewayAuth::identify(std::string_view authorization, std::string_view apiKey) const {
  if (!enabled()) return Caller{true, false, {}, nullptr};
  std::string_view presented = apiKey;
  if (presented.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.size() > kBearer.size() && authorization.substr(0, kBearer.size()) == kBearer) {
      presented = authorization.substr(kBearer.size());
    }
  }
  if (presented.empty()) return {};
  const Digest candidate = digest(presented);
  const Entry* matched = nullptr;
  // Every configured key is compared, so timing does not reveal which one matched.
  for (const auto& entry : entries_) {
    if (CRYPTO_memcmp(entry.digest.data(), candidate.data(), candidate.size()) == 0) matched = &entry;
  }
  if (matched == nullptr) return {};
  if (matched->named != nullptr && matched->named->disabled) return Caller{false, true, {}, nullptr};
  return Caller{true, false, matched->tag, matched->named};
}

}  // namespace llmgate::proxy
