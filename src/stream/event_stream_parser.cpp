#include "llmgate/stream/event_stream_parser.hpp"

#include <zlib.h>

#include <algorithm>

namespace llmgate::stream {
namespace {

constexpr std::size_t kPreludeBytes = 12;

std::uint32_t readU32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

std::uint16_t readU16(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
}

std::int64_t readSigned(const char* p, std::size_t size) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  // Sign-extend from `size` bytes.
  const unsigned shift = static_cast<unsigned>(64 - 8 * size);
  return static_cast<std::int64_t>(value << shift) >> shift;
}

std::uint32_t crc(const char* data, std::size_t size, std::uint32_t running = 0) {
  return static_cast<std::uint32_t>(::crc32(running, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(size)));
}

}  // namespace

std::string_view EventStreamMessage::header(std::string_view name) const {
  for (const auto& header : headers) {
    if (header.name == name && header.type == HeaderType::String) return header.bytes;
  }
  return {};
}

bool EventStreamParser::fail(std::string message) {
  failed_ = EventStreamError{std::move(message)};
  pending_.clear();
  pending_.shrink_to_fit();
  return false;
}

bool EventStreamParser::checkPrelude(const char* prelude) {
  const std::uint32_t total = readU32(prelude);
  const std::uint32_t headers = readU32(prelude + 4);
  if (crc(prelude, 8) != readU32(prelude + 8)) return fail("event stream prelude CRC mismatch");
  if (total < kMinMessageBytes) return fail("event stream message length " + std::to_string(total) + " is below 16");
  if (total > kMaxMessageBytes) return fail("event stream message length " + std::to_string(total) + " exceeds 24 MiB");
  if (headers > total - kMinMessageBytes) return fail("event stream headers length exceeds the message");
  expected_ = total;
  return true;
}

bool EventStreamParser::nextMessage(std::string_view& bytes, std::string_view& message) {
  if (pending_.empty()) {
    // The common case: whole messages straight from the caller's bytes, no copy.
    if (bytes.size() >= kPreludeBytes) {
      if (!checkPrelude(bytes.data())) return false;
      if (bytes.size() >= expected_) {
        message = bytes.substr(0, expected_);
        bytes.remove_prefix(expected_);
        return true;
      }
    }
    // An unfinished message: keep its bytes (the prelude, when present, was checked already).
    pending_.reserve(bytes.size() >= kPreludeBytes ? expected_ : kPreludeBytes);
    pending_.append(bytes);
    bytes = {};
    return false;
  }
  if (pending_.size() < kPreludeBytes) {
    const std::size_t take = std::min(kPreludeBytes - pending_.size(), bytes.size());
    pending_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (pending_.size() < kPreludeBytes) return false;
    if (!checkPrelude(pending_.data())) return false;
    pending_.reserve(expected_);
  }
  const std::size_t take = std::min<std::size_t>(expected_ - pending_.size(), bytes.size());
  pending_.append(bytes.substr(0, take));
  bytes.remove_prefix(take);
  if (pending_.size() < expected_) return false;
  // Decoded from a copy that lives until the next call: the views stay valid in the callback.
  current_.swap(pending_);
  pending_.clear();
  message = current_;
  return true;
}

bool EventStreamParser::decode(std::string_view message, EventStreamMessage& out) {
  const char* base = message.data();
  const std::uint32_t total = static_cast<std::uint32_t>(message.size());
  if (crc(base, total - 4) != readU32(base + total - 4)) return fail("event stream message CRC mismatch");
  const std::uint32_t headersLength = readU32(base + 4);
  out.headers.clear();
  const char* p = base + kPreludeBytes;
  const char* end = p + headersLength;
  auto need = [&](std::size_t n) { return static_cast<std::size_t>(end - p) >= n; };
  while (p < end) {
    if (out.headers.size() >= kMaxHeaders) return fail("event stream message has more than 1024 headers");
    const auto nameLength = static_cast<unsigned char>(*p++);
    if (nameLength == 0 || !need(nameLength + 1u)) return fail("event stream header name is empty or truncated");
    EventStreamHeader header;
    header.name = std::string_view(p, nameLength);
    p += nameLength;
    const auto type = static_cast<unsigned char>(*p++);
    if (type > static_cast<unsigned char>(HeaderType::Uuid)) {
      return fail("event stream header " + std::string(header.name) + " has unknown type " + std::to_string(type));
    }
    header.type = static_cast<HeaderType>(type);
    std::size_t size = 0;
    switch (header.type) {
      case HeaderType::BoolTrue: header.integer = 1; break;
      case HeaderType::BoolFalse: header.integer = 0; break;
      case HeaderType::Byte: size = 1; break;
      case HeaderType::Int16: size = 2; break;
      case HeaderType::Int32: size = 4; break;
      case HeaderType::Int64:
      case HeaderType::Timestamp: size = 8; break;
      case HeaderType::Uuid: size = 16; break;
      case HeaderType::ByteArray:
      case HeaderType::String:
        if (!need(2)) return fail("event stream header " + std::string(header.name) + " is truncated");
        size = readU16(p);
        p += 2;
        if (size > 32767) return fail("event stream header " + std::string(header.name) + " value exceeds 32767 bytes");
        break;
    }
    if (!need(size)) return fail("event stream header " + std::string(header.name) + " is truncated");
    if (header.type == HeaderType::ByteArray || header.type == HeaderType::String || header.type == HeaderType::Uuid) {
      header.bytes = std::string_view(p, size);
    } else if (size > 0) {
      header.integer = readSigned(p, size);
    }
    p += size;
    out.headers.push_back(header);
  }
  out.payload = std::string_view(end, total - headersLength - kMinMessageBytes);
  return true;
}

}  // namespace llmgate::stream
