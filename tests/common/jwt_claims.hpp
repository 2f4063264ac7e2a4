// The claims of a JWT (its middle part, base64url-decoded), for tests that check the tokens
// llmgate signs.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

namespace llmgate::testing {

inline nlohmann::json jwtClaims(const std::string& token) {
  const auto first = token.find('.');
  const auto last = token.rfind('.');
  if (first == std::string::npos || last == first) return nullptr;
  std::string payload = token.substr(first + 1, last - first - 1);
  for (auto& c : payload) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (payload.size() % 4 != 0) payload += '=';
  std::string decoded(payload.size(), '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                     reinterpret_cast<const unsigned char*>(payload.data()), static_cast<int>(payload.size()));
  if (length <= 0) return nullptr;
  decoded.resize(static_cast<std::size_t>(length));
  while (!decoded.empty() && decoded.back() == '\0') decoded.pop_back();  // padding decodes to zero bytes
  return nlohmann::json::parse(decoded, nullptr, false);
}

}  // namespace llmgate::testing
