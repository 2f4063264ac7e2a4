// Gateway API keys: `Authorization: Bearer <key>` or `x-api-key: <key>`, compared in constant time.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmgate::proxy {

class GatewayAuth {
 public:
  explicit GatewayAuth(const std::vector<std::string>& keys);
  /// No keys configured: every request is allowed.
  bool enabled() const { return !digests_.empty(); }
  /// Who is calling, for what the gateway keeps per caller (stored responses, sessions): a tag
  /// derived from the key's digest (never the key), empty when no keys are configured;
  /// nullopt when the credentials match no key.
  std::optional<std::string> identify(std::string_view authorization, std::string_view apiKey) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  static Digest digest(std::string_view key);
  // Keys are kept as SHA-256 digests: comparing fixed-size digests leaks neither content nor length.
  std::vector<Digest> digests_;
};

}  // namespace llmgate::proxy
