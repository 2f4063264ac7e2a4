// Gateway API keys: `Authorization: Bearer <key>` or `x-api-key: <key>`, compared in constant
// time. Plain keys (auth.api_keys) and named keys with limits (auth.keys, auth.keys_file).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "llmgate/config/config.hpp"

namespace llmgate::proxy {

/// Who is calling.
struct Caller {
  bool known = false;    ///< the credentials match a key (or no keys are configured)
  bool revoked = false;  ///< they match a disabled key
  /// For what the gateway keeps per caller (stored responses, sessions): a tag derived from the
  /// key's digest (never the key), empty when no keys are configured.
  std::string tag;
  /// The named key, with its limits; null for a plain key. Points into the config the
  /// GatewayAuth was built from.
  const config::GatewayKey* key = nullptr;
};

class GatewayAuth {
 public:
  /// `named` must outlive this (the generation's config holds both). Throws config::ConfigError
  /// when one key is given twice.
  GatewayAuth(const std::vector<std::string>& plain, const std::vector<config::GatewayKey>& named);
  /// No keys configured: every request is allowed.
  bool enabled() const { return !entries_.empty(); }
  Caller identify(std::string_view authorization, std::string_view apiKey) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  static Digest digest(std::string_view key);
  // Keys are kept as SHA-256 digests: comparing fixed-size digests leaks neither content nor length.
  struct Entry {
    Digest digest;
    const config::GatewayKey* named;
    std::string tag;  ///< Caller::tag
  };
  std::vector<Entry> entries_;
};

}  // namespace llmgate::proxy
