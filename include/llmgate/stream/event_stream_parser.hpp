// Byte-level incremental decoder of the AWS binary event stream
// (`application/vnd.amazon.eventstream`, used by CodeWhisperer / Kiro). Each message is
// [total_length u32][headers_length u32][prelude CRC32][headers][payload][message CRC32], all
// big-endian, CRC-32 as zlib computes it. Bytes are pushed as they arrive; complete messages come
// out through the callback. Lengths and the prelude CRC are checked before anything is buffered,
// and only an unfinished message is ever kept between calls (each byte is copied at most once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmgate::stream {

enum class HeaderType : std::uint8_t {
  BoolTrue = 0,
  BoolFalse = 1,
  Byte = 2,
  Int16 = 3,
  Int32 = 4,
  Int64 = 5,
  ByteArray = 6,
  String = 7,
  Timestamp = 8,  ///< milliseconds since the epoch
  Uuid = 9,
};

/// One header. `integer` holds the value of the integer, bool and timestamp types; `bytes`
/// views the value of byte arrays, strings and UUIDs (16 bytes).
struct EventStreamHeader {
  std::string_view name;
  HeaderType type = HeaderType::String;
  std::int64_t integer = 0;
  std::string_view bytes;
};

/// A decoded message. Views point into the decoder and are valid during the callback only.
struct EventStreamMessage {
  std::vector<EventStreamHeader> headers;
  std::string_view payload;
  /// The value of string header `name` (":message-type", ":event-type", ...), empty if absent.
  std::string_view header(std::string_view name) const;
};

/// Why bytes could not be decoded. The decoder stops at the first problem (the stream is
/// unusable after it: without a valid length there is no next message to find).
struct EventStreamError {
  std::string message;
};

class EventStreamParser {
 public:
  // Limits of the reference implementation (aws-c-event-stream).
  static constexpr std::uint32_t kMaxMessageBytes = 24 * 1024 * 1024;
  static constexpr std::uint32_t kMinMessageBytes = 16;
  static constexpr std::size_t kMaxHeaders = 1024;

  /// Feeds the next bytes; calls `onMessage(const EventStreamMessage&)` for each message they
  /// complete. Returns the error that stopped decoding, if any (then and afterwards).
  template <class OnMessage>
  std::optional<EventStreamError> feed(std::string_view bytes, OnMessage&& onMessage) {
    if (failed_) return failed_;
    while (!bytes.empty()) {
      std::string_view message;
      if (!nextMessage(bytes, message)) break;
      if (!decode(message, message_)) return failed_;
      onMessage(message_);
    }
    return failed_;
  }

  /// Whether a message has started and not completed (the stream was cut if it ends now).
  bool midMessage() const { return !pending_.empty(); }
  /// Bytes held for the unfinished message.
  std::size_t bufferedBytes() const { return pending_.size(); }

 private:
  // Takes the next complete message from `bytes` (or from what is pending plus `bytes`),
  // advancing `bytes` past what it consumed. False when more bytes are needed or on an error.
  bool nextMessage(std::string_view& bytes, std::string_view& message);
  // Checks the prelude (12 bytes at `prelude`); sets the expected length or fails.
  bool checkPrelude(const char* prelude);
  bool decode(std::string_view message, EventStreamMessage& out);
  bool fail(std::string message);

  std::string pending_;        // an unfinished message: its first bytes
  std::string current_;        // the last message completed from pending bytes
  std::uint32_t expected_ = 0; // its total length, once the prelude was checked
  EventStreamMessage message_;
  std::optional<EventStreamError> failed_;
};

}  // namespace llmgate::stream
