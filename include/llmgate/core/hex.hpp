// Bytes as lower-case hex digits (ids, digests).
#pragma once

#include <cstddef>
#include <string>

namespace llmgate::core {

inline std::string hexEncode(const unsigned char* bytes, std::size_t count) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(count * 2);
  for (std::size_t i = 0; i < count; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0xf];
  }
  return out;
}

}  // namespace llmgate::core
