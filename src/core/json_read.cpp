#include "llmgate/core/json_read.hpp"

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>

#include "json_bytes.hpp"
#include "llmgate/core/json_text.hpp"

namespace llmgate::core {
namespace {

using nlohmann::json;

// Builds the document of a text isValidJson accepted (so nesting is bounded and every escape,
// number and byte is well formed): strings are copied in runs between escapes rather than a
// byte at a time as nlohmann's lexer does, which was most of the cost of parsing a request or
// an answer. Values, their types and a repeated key's last value are what nlohmann's parser
// gives (the fuzz target checks it).
class DocumentBuilder {
 public:
  explicit DocumentBuilder(std::string_view text) : s_(text) {}

  json value() {
    skipSpace();
    switch (s_[i_]) {
      case '{': return object();
      case '[': return array();
      case '"': return json(string());
      case 't': i_ += 4; return json(true);
      case 'f': i_ += 5; return json(false);
      case 'n': i_ += 4; return json(nullptr);
      default: return number();
    }
  }

  /// At an opening quote.
  std::string quoted() { return string(); }

 private:
  void skipSpace() {
    while (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t') ++i_;
  }

  json object() {
    json result(json::value_t::object);
    auto& members = result.get_ref<json::object_t&>();
    ++i_;
    skipSpace();
    if (s_[i_] == '}') {
      ++i_;
      return result;
    }
    for (;;) {
      skipSpace();
      std::string key = string();
      skipSpace();
      ++i_;  // ':'
      members[std::move(key)] = value();  // a repeated key keeps its last value
      skipSpace();
      if (s_[i_++] == '}') return result;  // else ','
    }
  }

  json array() {
    json result(json::value_t::array);
    auto& items = result.get_ref<json::array_t&>();
    ++i_;
    skipSpace();
    if (s_[i_] == ']') {
      ++i_;
      return result;
    }
    for (;;) {
      items.push_back(value());
      skipSpace();
      if (s_[i_++] == ']') return result;  // else ','
    }
  }

  // At the opening quote; leaves i_ after the closing one.
  std::string string() {
    std::string out;
    ++i_;
    for (;;) {
      std::size_t run = skipWords<unescapedBytes>(s_, i_);
      while (s_[run] != '"' && s_[run] != '\\') ++run;
      out.append(s_.data() + i_, run - i_);
      i_ = run + 1;
      if (s_[run] == '"') return out;
      escape(out);
    }
  }

  // After a backslash.
  void escape(std::string& out) {
    const char c = s_[i_++];
    switch (c) {
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'u': break;
      default: out += c; return;  // '"', '\\', '/'
    }
    std::uint32_t code = hexQuad();
    if (code >= 0xD800 && code <= 0xDBFF) {  // the validator saw its low half follow
      i_ += 2;                                // "\\u"
      code = 0x10000 + ((code - 0xD800) << 10) + (hexQuad() - 0xDC00);
    }
    appendUtf8(out, code);
  }

  std::uint32_t hexQuad() {
    std::uint32_t value = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      value = value * 16 + static_cast<std::uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return value;
  }

  static void appendUtf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  // As nlohmann types numbers: an integer without fraction or exponent is unsigned when it
  // is not negative and signed when it is, while it fits in 64 bits; anything else is a double.
  json number() {
    const std::size_t start = i_;
    bool integral = true;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '.' || c == 'e' || c == 'E') {
        integral = false;
      } else if (!(c == '-' || c == '+' || (c >= '0' && c <= '9'))) {
        break;
      }
      ++i_;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + i_;
    if (integral) {
      if (*first == '-') {
        std::int64_t value = 0;
        if (auto [end, ec] = std::from_chars(first, last, value); ec == std::errc() && end == last) return json(value);
      } else {
        std::uint64_t value = 0;
        if (auto [end, ec] = std::from_chars(first, last, value); ec == std::errc() && end == last) return json(value);
      }
    }
    double value = 0;
    if (auto [end, ec] = std::from_chars(first, last, value); ec == std::errc() && end == last) return json(value);
    // Out of range for from_chars (underflow: the validator refuses overflow): strtod rounds
    // it as nlohmann does.
    return json(std::strtod(std::string(first, last).c_str(), nullptr));
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

json parseJson(std::string_view text) {
  // The validator refuses what nlohmann would also refuse, and more: a byte-order mark (which
  // nlohmann skips), a NUL byte (where it stops reading), nesting past kMaxJsonDepth.
  if (!isValidJson(text)) return json(json::value_t::discarded);
  return parseValidatedJson(text);
}

json parseValidatedJson(std::string_view text) {
  try {
    return DocumentBuilder(text).value();
  } catch (const std::length_error&) {
    return json(json::value_t::discarded);  // a string beyond what std::string may hold
  }
}

std::string parseValidatedString(std::string_view quoted) { return DocumentBuilder(quoted).quoted(); }

std::string dumpJson(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

GatewayError malformedUpstream(const TypeMismatch& mismatch, const char* code) {
  return GatewayError::make(ErrorKind::Protocol, code, "upstream answer is malformed: " + mismatch.describe());
}

GatewayError malformedUpstream(std::string message) {
  return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_response", std::move(message));
}

std::string_view jsonTypeName(const json& value) {
  if (value.is_number()) return "number";
  return value.type_name();
}

std::optional<std::int64_t> asInteger(const json& value) {
  if (value.is_number_unsigned()) {
    const auto number = value.get_ref<const json::number_unsigned_t&>();
    if (number > static_cast<json::number_unsigned_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(number);
  }
  if (value.is_number_integer()) return value.get_ref<const json::number_integer_t&>();
  return std::nullopt;
}

const json* FieldReader::find(std::string_view key) const {
  if (!value_.is_object()) return nullptr;
  auto it = value_.find(key);
  if (it == value_.end() || it->is_null()) return nullptr;
  return &*it;
}

const json* FieldReader::typed(std::string_view key, const json* found, bool matches, std::string_view expected) const {
  if (found == nullptr || matches) return found;
  if (!mismatch_) mismatch_ = TypeMismatch{pathOf(key), std::string(expected), std::string(jsonTypeName(*found))};
  return nullptr;
}

const json* FieldReader::member(std::string_view key) const { return find(key); }

const std::string* FieldReader::string(std::string_view key) const {
  const json* found = find(key);
  found = typed(key, found, found != nullptr && found->is_string(), "string");
  return found == nullptr ? nullptr : &found->get_ref<const std::string&>();
}

std::string FieldReader::stringOr(std::string_view key, std::string_view fallback) const {
  const std::string* found = string(key);
  return found != nullptr ? *found : std::string(fallback);
}

std::optional<std::int64_t> FieldReader::integer(std::string_view key) const {
  const json* found = find(key);
  const std::optional<std::int64_t> number = found != nullptr ? asInteger(*found) : std::nullopt;
  if (typed(key, found, number.has_value(), "integer") == nullptr) return std::nullopt;
  return number;
}

std::optional<double> FieldReader::number(std::string_view key) const {
  const json* found = find(key);
  found = typed(key, found, found != nullptr && found->is_number(), "number");
  if (found == nullptr) return std::nullopt;
  if (found->is_number_float()) return found->get_ref<const json::number_float_t&>();
  if (found->is_number_unsigned()) return static_cast<double>(found->get_ref<const json::number_unsigned_t&>());
  return static_cast<double>(found->get_ref<const json::number_integer_t&>());
}

std::optional<bool> FieldReader::boolean(std::string_view key) const {
  const json* found = find(key);
  found = typed(key, found, found != nullptr && found->is_boolean(), "boolean");
  if (found == nullptr) return std::nullopt;
  return found->get_ref<const json::boolean_t&>();
}

const json* FieldReader::object(std::string_view key) const {
  const json* found = find(key);
  return typed(key, found, found != nullptr && found->is_object(), "object");
}

const json* FieldReader::array(std::string_view key) const {
  const json* found = find(key);
  return typed(key, found, found != nullptr && found->is_array(), "array");
}

void FieldReader::mismatch(std::string_view key, std::string_view expected) const {
  if (mismatch_) return;
  const json* found = find(key);
  mismatch_ = TypeMismatch{pathOf(key), std::string(expected), found != nullptr ? std::string(jsonTypeName(*found)) : "null"};
}

std::string FieldReader::pathOf(std::string_view key) const {
  std::string path(path_);
  if (!path.empty()) path.push_back('.');
  path.append(key);
  return path;
}

}  // namespace llmgate::core
