// Reading JSON that comes from outside (clients, upstreams, credential files): parsing with a
// nesting bound, and type-checked reads of members. Nothing here throws on any input; the
// callers turn a wrong type into their own error (a 400 naming the field for clients, a
// malformed-upstream 502 for upstreams).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "llmgate/core/error.hpp"

namespace llmgate::core {

/// Deepest nesting of arrays and objects accepted from outside. Copying and dumping a document
/// recurse once per level, so an unbounded depth would let one body exhaust a thread's stack.
inline constexpr std::size_t kMaxJsonDepth = 256;

/// Parses `text` as one JSON value nested at most kMaxJsonDepth deep; a discarded value
/// (is_discarded()) for anything else, a byte-order mark or a NUL byte included: it accepts
/// exactly what core::isValidJson does. Never throws.
nlohmann::json parseJson(std::string_view text);

/// parseJson for `text` that core::isValidJson has accepted (the builder relies on it and does
/// not check again): a request body validated while it was routed.
nlohmann::json parseValidatedJson(std::string_view text);

/// The text a JSON string stands for, given its token (quotes included) from a text that
/// core::isValidJson has accepted: escapes decoded as parseJson decodes them. May throw
/// std::length_error only for a string beyond what std::string holds.
std::string parseValidatedString(std::string_view quoted);

/// `value` as compact JSON text. Never throws: a string that is not valid UTF-8 (which nlohmann
/// refuses to dump) has its bad bytes replaced by U+FFFD.
std::string dumpJson(const nlohmann::json& value);

/// Where a value of the wrong JSON type was met, for the error that names it.
struct TypeMismatch {
  std::string path;      ///< e.g. messages[1].content[0].text
  std::string expected;  ///< e.g. "string"
  std::string found;     ///< the JSON type that was there
  std::string describe() const { return path + ": expected " + expected + ", got " + found; }
};

/// Type-checked reads of the members of one JSON value. A member that is absent or null reads
/// as absent (nullptr / nullopt); a member of another type than asked also reads as absent and
/// is recorded in `mismatch` (the first one only, so the error names the first problem). A
/// value that is not an object has no members. `path` names the value in errors; it is only
/// read when a mismatch is recorded, and must outlive the reader.
class FieldReader {
 public:
  FieldReader(const nlohmann::json& value, std::string_view path, std::optional<TypeMismatch>& mismatch)
      : value_(value), path_(path), mismatch_(mismatch) {}

  /// The member, present and not null, of any type.
  const nlohmann::json* member(std::string_view key) const;
  const std::string* string(std::string_view key) const;
  /// The string member, or `fallback` when absent (or of another type, which is recorded).
  std::string stringOr(std::string_view key, std::string_view fallback = {}) const;
  /// An integer within int64 (a fraction or an out-of-range number is a mismatch).
  std::optional<std::int64_t> integer(std::string_view key) const;
  /// Any number, as a double.
  std::optional<double> number(std::string_view key) const;
  std::optional<bool> boolean(std::string_view key) const;
  const nlohmann::json* object(std::string_view key) const;
  const nlohmann::json* array(std::string_view key) const;

  /// Records that member `key` does not have the shape `expected` describes (for checks the
  /// typed reads cannot make, such as "string or array of parts").
  void mismatch(std::string_view key, std::string_view expected) const;
  /// The path of member `key`, as errors name it.
  std::string pathOf(std::string_view key) const;
  bool failed() const { return mismatch_.has_value(); }

 private:
  /// The member if present and not null, else nullptr.
  const nlohmann::json* find(std::string_view key) const;
  /// `found` when it has the right type; else records the mismatch and gives nullptr.
  const nlohmann::json* typed(std::string_view key, const nlohmann::json* found, bool matches,
                              std::string_view expected) const;

  const nlohmann::json& value_;
  std::string_view path_;
  std::optional<TypeMismatch>& mismatch_;
};

/// An upstream answer with a member of the wrong type: upstream_malformed_response (or `code`),
/// a 502 that is retried like any failure before the first byte.
GatewayError malformedUpstream(const TypeMismatch& mismatch, const char* code = "upstream_malformed_response");
/// The same for an answer that is unusable in another way, said by `message`.
GatewayError malformedUpstream(std::string message);

/// The JSON type name used in errors ("string", "number", "object", ...).
std::string_view jsonTypeName(const nlohmann::json& value);

/// `value` as an int64 when it is an integral number in range; nullopt otherwise.
std::optional<std::int64_t> asInteger(const nlohmann::json& value);

}  // namespace llmgate::core
