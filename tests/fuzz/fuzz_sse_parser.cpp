// Property: whatever the bytes, the parser never crashes, and splitting the input at any point
// yields exactly the events of feeding it whole.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "llmgate/stream/sse_parser.hpp"

namespace {

std::vector<std::string> parse(std::string_view text, std::size_t cut) {
  llmgate::stream::SseParser parser;
  std::vector<std::string> events;
  auto collect = [&](const llmgate::stream::SseEvent& event) {
    events.push_back(std::string(event.type) + '\x1f' + std::string(event.data) + '\x1f' + std::string(event.lastEventId));
  };
  parser.feed(text.substr(0, cut), collect);
  parser.feed(text.substr(cut), collect);
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the split point; the rest is the stream.
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t cut = text.empty() ? 0 : data[0] % (text.size() + 1);
  if (parse(text, 0) != parse(text, cut)) std::abort();
  return 0;
}
