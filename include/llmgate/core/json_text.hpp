// Hand-rolled JSON text helpers for hot paths (stream chunks, request validation), where
// building a DOM would dominate the cost.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace llmgate::core {

/// Appends `text` as a quoted JSON string (RFC 8259 escaping; invalid UTF-8 passes through).
void appendJsonString(std::string& out, std::string_view text);

/// Appends `value` with `decimals` (at most 6) digits after the point ("-1.00", "12.346")
/// without a formatter: printf's %.Nf except on exact ties of the binary value, rounded here
/// away from zero (0.125 -> "0.13", printf "0.12"), and no "-0.00". NaN, infinities and values
/// beyond +-9e12 are written as 0.
void appendFixed(std::string& out, double value, int decimals);

/// Whether `text` is one JSON value per RFC 8259 (surrounding whitespace allowed): the grammar,
/// escapes (surrogate pairs matched), well-formed UTF-8 in strings, no control characters, no
/// byte-order mark, no NUL byte. Accepts exactly what nlohmann::json::accept does except those
/// two (nlohmann skips a leading BOM and stops reading at a NUL), at a fraction of its cost;
/// and refuses nesting deeper than kMaxJsonDepth (core/json_read.hpp), as parseJson does.
bool isValidJson(std::string_view text);

/// A top-level member of an object that isValidJson(text, members) reads along while it
/// validates, so the fast path walks a body once rather than once per member it needs.
struct TopLevelMember {
  TopLevelMember(std::string_view name) : key(name) {}  // NOLINT(google-explicit-constructor): {{"model"}, {"stream"}}

  std::string_view key;    ///< the name, matched against the key's text (a key written with escapes never matches)
  std::string_view value;  ///< the last value's text (quotes kept for a string), as a parser keeps the last; empty when absent
  std::size_t count = 0;   ///< how many times the key appears
};

/// isValidJson, also filling in `members` (their values and counts) when the text is an object;
/// what they say is meaningful only when it returns true.
bool isValidJson(std::string_view text, std::span<TopLevelMember> members);

}  // namespace llmgate::core
