// Byte-level helpers the JSON validator, the document builder and the text walks of
// json_field.cpp share (internal to core).
// Eight bytes are tested at a time: a byte is zero in x when (x - 1) & ~x has its top bit;
// borrows may set bits above the first such byte, never below, and only the lowest is read
// (the first byte in memory: callers check that the machine is little-endian).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace llmgate::core {
namespace json_bytes {

inline constexpr std::uint64_t kOnes = 0x0101010101010101;
inline constexpr std::uint64_t kTops = 0x8080808080808080;

inline std::uint64_t load(const char* at) {
  std::uint64_t word;
  std::memcpy(&word, at, sizeof word);
  return word;
}

/// Top bits set where `word` holds the byte `c` (exact for the lowest one).
inline std::uint64_t zeroBytes(std::uint64_t word, char c) {
  const std::uint64_t x = word ^ (kOnes * static_cast<unsigned char>(c));
  return (x - kOnes) & ~x;
}

inline std::size_t bytesBefore(std::uint64_t marks) {
  marks &= kTops;
  return marks == 0 ? 8 : static_cast<std::size_t>(std::countr_zero(marks)) / 8;
}

}  // namespace json_bytes

/// How many of the eight bytes at `at` come before the first one that needs a look inside a
/// string being validated (a quote, a backslash, a control byte, a non-ASCII byte): 8 when none.
inline std::size_t plainBytes(const char* at) {
  using namespace json_bytes;
  const std::uint64_t word = load(at);
  return bytesBefore(zeroBytes(word, '"') | zeroBytes(word, '\\') | ((word - kOnes * 0x20) & ~word) | word);
}

/// The same where only a quote or a backslash ends the run: inside a string known to be valid,
/// or to find a string's end in any bytes.
inline std::size_t unescapedBytes(const char* at) {
  using namespace json_bytes;
  const std::uint64_t word = load(at);
  return bytesBefore(zeroBytes(word, '"') | zeroBytes(word, '\\'));
}

/// From `i`, past the bytes of `s` that `Bytes` (plainBytes or unescapedBytes) lets through,
/// eight at a time while eight remain; the rest is the caller's, a byte at a time.
template <std::size_t (*Bytes)(const char*)>
std::size_t skipWords(std::string_view s, std::size_t i) {
  if constexpr (std::endian::native == std::endian::little) {
    while (i + 8 <= s.size()) {
      const std::size_t run = Bytes(s.data() + i);
      i += run;
      if (run < 8) break;
    }
  }
  return i;
}

}  // namespace llmgate::core
