// Encodes AWS event-stream messages with real CRCs (zlib), for tests that need genuine frames:
// decoder vectors and loopback CodeWhisperer upstreams.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace llmgate::testing {

inline void appendU32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

inline std::uint32_t zlibCrc(const std::string& bytes, std::size_t size) {
  return static_cast<std::uint32_t>(::crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(size)));
}

/// A message whose headers are already encoded (name length, name, type, value).
inline std::string eventStreamMessage(const std::string& encodedHeaders, const std::string& payload) {
  std::string out;
  appendU32(out, static_cast<std::uint32_t>(16 + encodedHeaders.size() + payload.size()));
  appendU32(out, static_cast<std::uint32_t>(encodedHeaders.size()));
  appendU32(out, zlibCrc(out, 8));
  out += encodedHeaders;
  out += payload;
  appendU32(out, zlibCrc(out, out.size()));
  return out;
}

/// One string header (type 7).
inline std::string stringHeader(const std::string& name, const std::string& value) {
  std::string out;
  out += static_cast<char>(name.size());
  out += name;
  out += static_cast<char>(7);
  out += static_cast<char>((value.size() >> 8) & 0xff);
  out += static_cast<char>(value.size() & 0xff);
  out += value;
  return out;
}

/// An event as CodeWhisperer frames it (header order as captured).
inline std::string awsEvent(const std::string& eventType, const std::string& json) {
  return eventStreamMessage(stringHeader(":event-type", eventType) + stringHeader(":content-type", "application/json") +
                                stringHeader(":message-type", "event"),
                            json);
}

/// A modeled exception (`:message-type: exception`).
inline std::string awsException(const std::string& exceptionType, const std::string& json) {
  return eventStreamMessage(stringHeader(":exception-type", exceptionType) + stringHeader(":content-type", "application/json") +
                                stringHeader(":message-type", "exception"),
                            json);
}

inline std::string fromHex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

}  // namespace llmgate::testing
