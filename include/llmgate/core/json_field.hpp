// Locating a top-level field in JSON text without building a DOM, so the fast path can rewrite
// the model name and leave every other byte of the client's body untouched.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmgate::core {

struct TextSpan {
  std::size_t offset = 0;
  std::size_t length = 0;
};

/// The spans of every top-level value of `key` in a JSON object text (the quotes included for a
/// string), in document order (JSON allows a key to repeat). Meant for valid JSON; any other
/// bytes are safe to pass (spans stay inside the text) but may give no or meaningless spans.
std::vector<TextSpan> findTopLevelValues(std::string_view json, std::string_view key);

/// Type-checked reads of the members of a JSON object held as text that is known to be valid
/// (core::isValidJson), without building a document: FieldReader's rules (core/json_read.hpp)
/// for what the fast paths read (an answer's usage, a stream chunk's text). A member that is
/// absent or null reads as absent; one of another type also reads as absent and sets
/// `mismatch`. Text that is not an object has no members. Both the text and `mismatch` must
/// outlive the reader.
class TextFields {
 public:
  TextFields(std::string_view object, bool& mismatch);
  /// The reader of `text` when it is valid JSON (core::isValidJson), an object, and none of its
  /// names is written with an escape; nullopt otherwise. What a fast path reads from it is what
  /// a document decoder reads from the same text.
  static std::optional<TextFields> ofValidObject(std::string_view text, bool& mismatch);
  bool isObject() const { return isObject_; }
  /// Whether a member's name is written with an escape: such a name is never matched here,
  /// where a document would match what it decodes to.
  bool hasEscapedKey() const { return escapedKey_; }
  /// An integer within int64 (a fraction, an exponent or an out-of-range number is a mismatch).
  std::optional<std::int64_t> integer(std::string_view key) const;
  std::optional<TextFields> object(std::string_view key) const;
  /// The string, escapes decoded. Only for text isValidJson accepted: the decoding trusts the
  /// escapes and the closing quote to be there.
  std::optional<std::string> string(std::string_view key) const;
  /// The array's text, brackets included (TextItems walks it).
  std::optional<std::string_view> array(std::string_view key) const;
  /// The member's text if present and not null, else empty: any type.
  std::string_view find(std::string_view key) const;
  bool failed() const { return *mismatch_; }

 private:
  std::string_view text_;
  bool isObject_ = false;
  bool* mismatch_;
  /// The members, read in one walk when there are few (usage objects have five to eight), so
  /// that each read is not a walk of its own; beyond these, each read walks the text.
  std::array<std::pair<std::string_view, std::string_view>, 10> members_{};
  std::size_t indexed_ = 0;  ///< how many members the text has (all in members_ when they fit)
  bool escapedKey_ = false;
};

/// The items of a JSON array held as valid text, one at a time, each as its text.
class TextItems {
 public:
  explicit TextItems(std::string_view array);
  /// The next item's text; false after the last.
  bool next(std::string_view& item);

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

/// Replaces the value of every top-level string member `key` with `value` (JSON-escaped); a
/// body that repeats the key gets each copy replaced, so no JSON parser upstream (first or
/// last wins) can see another value than the one routed. Returns false when there is none.
bool replaceTopLevelString(std::string& json, std::string_view key, std::string_view value);

/// Clamps every top-level number member `key` into [low, high], rewriting only its digits.
/// Returns whether anything changed; a member that is not a plain number is left alone.
bool clampTopLevelNumber(std::string& json, std::string_view key, double low, double high);

}  // namespace llmgate::core
