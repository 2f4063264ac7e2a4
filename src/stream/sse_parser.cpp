#include "llmgate/stream/sse_parser.hpp"

#include <algorithm>
#include <cstring>

namespace llmgate::stream {
namespace {
constexpr char kBom[] = "\xEF\xBB\xBF";

std::size_t findLineEnd(std::string_view bytes, std::size_t from) {
  // Two vectorised memchr passes beat a byte loop testing for both: LF first, then a CR before it
  // (rare: CRLF streams find it right before the LF).
  const char* begin = bytes.data() + from;
  const std::size_t length = bytes.size() - from;
  const auto* lf = static_cast<const char*>(std::memchr(begin, '\n', length));
  const std::size_t beforeLf = lf == nullptr ? length : static_cast<std::size_t>(lf - begin);
  const auto* cr = static_cast<const char*>(std::memchr(begin, '\r', beforeLf));
  if (cr != nullptr) return static_cast<std::size_t>(cr - bytes.data());
  return from + beforeLf;
}
}  // namespace

bool SseParser::nextLine(std::string_view bytes, std::size_t& pos, std::string_view& line) {
  // A UTF-8 BOM is stripped once, at the very start of the stream only; it may arrive split.
  while (!bomDone_ && pos < bytes.size()) {
    if (bytes[pos] == kBom[bomBytesSeen_]) {
      ++pos;
      if (++bomBytesSeen_ == 3) bomDone_ = true;
    } else {
      // Not a BOM after all: the bytes consumed so far are line content.
      partialLine_.append(kBom, bomBytesSeen_);
      bomDone_ = true;
    }
  }
  if (pos >= bytes.size()) return false;
  // CRLF split across reads: the LF after a line-ending CR ends nothing new.
  if (afterCr_) {
    afterCr_ = false;
    if (bytes[pos] == '\n') {
      ++pos;
      if (pos >= bytes.size()) return false;
    }
  }
  const std::size_t end = findLineEnd(bytes, pos);
  if (overflowsWith(end - pos)) return false;
  if (end == bytes.size()) {
    partialLine_.append(bytes.data() + pos, end - pos);
    pos = end;
    return false;
  }
  // Lines end at CRLF, LF, or a lone CR.
  const char terminator = bytes[end];
  std::size_t next = end + 1;
  if (terminator == '\r') {
    if (next < bytes.size()) {
      if (bytes[next] == '\n') ++next;
    } else {
      afterCr_ = true;
    }
  }
  if (partialLine_.empty()) {
    line = bytes.substr(pos, end - pos);
  } else {
    partialLine_.append(bytes.data() + pos, end - pos);
    line = partialLine_;
  }
  pos = next;
  return true;
}

bool SseParser::processLine(std::string_view line) {
  // An empty line dispatches the event (if any data was collected).
  if (line.empty()) {
    partialLine_.clear();
    if (data_.empty()) {
      eventType_.clear();
      return false;
    }
    data_.pop_back();  // the LF appended after the last data line
    return true;
  }
  // A line starting with a colon is a comment (keep-alives such as ": ping").
  if (line.front() == ':') {
    partialLine_.clear();
    return false;
  }
  std::string_view name = line;
  std::string_view value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    name = line.substr(0, colon);
    value = line.substr(colon + 1);
    // One leading space of the value is dropped, no more.
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  // Field names are case-sensitive; unknown names are ignored.
  if (name == "data") {
    data_.append(value);
    data_.push_back('\n');
  } else if (name == "event") {
    eventType_.assign(value);
  } else if (name == "id") {
    // An id containing NUL is ignored.
    if (value.find('\0') == std::string_view::npos) lastEventId_.assign(value);
  } else if (name == "retry") {
    // Only ASCII digits make a valid reconnection time.
    if (!value.empty() && value.size() < 19 &&
        std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      retryMs_ = std::stoll(std::string(value));
    }
  }
  partialLine_.clear();
  return false;
}

SseEvent SseParser::currentEvent() const {
  SseEvent event;
  event.type = eventType_.empty() ? std::string_view("message") : std::string_view(eventType_);
  event.data = data_;
  event.lastEventId = lastEventId_;
  return event;
}

bool SseParser::overflowsWith(std::size_t moreBytes) {
  if (partialLine_.size() + data_.size() + moreBytes <= maxEventBytes_) return false;
  overflowed_ = true;
  std::string().swap(partialLine_);
  std::string().swap(data_);
  return true;
}

void SseParser::resetEvent() {
  data_.clear();
  eventType_.clear();
}

}  // namespace llmgate::stream
