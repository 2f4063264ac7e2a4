// Locating a top-level field in JSON text without building a DOM, so the fast path can rewrite
// the model name and leave every other byte of the client's body untouched.
#pragma once

#include <string>
#include <string_view>
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

/// Replaces the value of every top-level string member `key` with `value` (JSON-escaped); a
/// body that repeats the key gets each copy replaced, so no JSON parser upstream (first or
/// last wins) can see another value than the one routed. Returns false when there is none.
bool replaceTopLevelString(std::string& json, std::string_view key, std::string_view value);

/// Clamps every top-level number member `key` into [low, high], rewriting only its digits.
/// Returns whether anything changed; a member that is not a plain number is left alone.
bool clampTopLevelNumber(std::string& json, std::string_view key, double low, double high);

}  // namespace llmgate::core
