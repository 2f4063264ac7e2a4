// Property: whatever the bytes, the AWS event-stream decoder never crashes or reads out of
// bounds, and splitting the input anywhere gives exactly the messages (and the error) of feeding
// it whole. Random bytes rarely pass a CRC, so half the inputs are first wrapped into messages
// with correct lengths and CRCs, which sends them on into header decoding.
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "llmgate/stream/event_stream_parser.hpp"

namespace {

void appendU32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

std::uint32_t crc(const std::string& bytes) {
  return static_cast<std::uint32_t>(::crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

// The first byte of `raw` says how much of the rest is the header block; the remainder is payload.
std::string wrap(std::string_view raw) {
  if (raw.empty()) return {};
  const std::size_t headers = static_cast<unsigned char>(raw[0]) % raw.size();
  raw.remove_prefix(1);
  std::string out;
  appendU32(out, static_cast<std::uint32_t>(16 + raw.size()));
  appendU32(out, static_cast<std::uint32_t>(std::min(headers, raw.size())));
  appendU32(out, crc(out));
  out += raw;
  appendU32(out, crc(out));
  return out;
}

std::vector<std::string> parse(std::string_view bytes, std::size_t cut) {
  llmgate::stream::EventStreamParser parser;
  std::vector<std::string> seen;
  auto collect = [&](const llmgate::stream::EventStreamMessage& message) {
    std::string entry;
    for (const auto& header : message.headers) {
      entry += std::string(header.name) + '\x1f' + std::to_string(static_cast<int>(header.type)) + '\x1f' +
               std::to_string(header.integer) + '\x1f' + std::string(header.bytes) + '\x1e';
    }
    seen.push_back(entry + std::string(message.payload));
  };
  parser.feed(bytes.substr(0, cut), collect);
  auto error = parser.feed(bytes.substr(cut), collect);
  seen.push_back(error ? "error: " + error->message : parser.midMessage() ? "mid-message" : "complete");
  return seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view raw(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string bytes = (data[0] & 1) != 0 ? wrap(raw) : std::string(raw);
  const std::size_t cut = bytes.empty() ? 0 : (data[0] >> 1) * 7919u % (bytes.size() + 1);
  if (parse(bytes, 0) != parse(bytes, cut)) std::abort();
  return 0;
}
