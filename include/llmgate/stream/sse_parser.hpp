// Byte-level incremental Server-Sent Events parser (WHATWG HTML §9.2.5-9.2.6).
// Push bytes as they arrive; complete events come out through the callback. Every byte is looked
// at once: only the unfinished tail line is kept between calls, and scanning resumes after it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace llmgate::stream {

/// A dispatched event. The views point into the parser and are valid during the callback only.
struct SseEvent {
  std::string_view type;  ///< "message" when the stream gave no event field
  std::string_view data;
  std::string_view lastEventId;
};

class SseParser {
 public:
  /// Events (or lines) larger than this end the parse: no real event comes close, and the
  /// bytes an unfinished one holds must stay bounded whatever an upstream sends.
  static constexpr std::size_t kDefaultMaxEventBytes = 8 * 1024 * 1024;

  explicit SseParser(std::size_t maxEventBytes = kDefaultMaxEventBytes) : maxEventBytes_(maxEventBytes) {}

  /// Feeds the next bytes of the stream; calls `onEvent(const SseEvent&)` for each event that
  /// the bytes complete. Chunks may split anywhere, including inside CRLF or a UTF-8 sequence.
  /// Once an event outgrows the bound, everything held is dropped and nothing more is parsed.
  template <class OnEvent>
  void feed(std::string_view bytes, OnEvent&& onEvent) {
    std::string_view line;
    std::size_t pos = 0;
    while (!overflowed_ && nextLine(bytes, pos, line)) {
      if (processLine(line)) {
        onEvent(currentEvent());
        resetEvent();
      }
    }
  }

  /// Reconnection time from the last valid `retry` field, -1 when none was seen.
  long long retryMs() const { return retryMs_; }

  /// Bytes held for an unfinished line and event (at most the bound).
  std::size_t bufferedBytes() const { return partialLine_.size() + data_.size(); }
  /// Whether an event outgrew the bound (the parser then stopped).
  bool overflowed() const { return overflowed_; }

 private:
  bool nextLine(std::string_view bytes, std::size_t& pos, std::string_view& line);
  bool processLine(std::string_view line);  // true when the line dispatches an event
  SseEvent currentEvent() const;
  void resetEvent();
  /// Past the bound: drops what is held and stops. Returns whether that happened.
  bool overflowsWith(std::size_t moreBytes);

  std::string partialLine_;  // bytes of a line whose end has not arrived yet
  std::string data_;
  std::string eventType_;
  std::string lastEventId_;
  long long retryMs_ = -1;
  std::size_t bomBytesSeen_ = 0;  // progress through a leading UTF-8 BOM at stream start
  bool bomDone_ = false;
  bool afterCr_ = false;          // previous line ended in CR: a following LF belongs to it
  std::size_t maxEventBytes_;
  bool overflowed_ = false;
};

}  // namespace llmgate::stream
