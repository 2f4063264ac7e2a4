#include "llmgate/core/json_read.hpp"

#include <cstring>
#include <limits>

namespace llmgate::core {
namespace {

using nlohmann::json;

// nlohmann's own DOM builder with a bound on nesting: refusing the opening bracket past the
// bound stops the parse before anything deeper is built.
class DepthLimitedDom : public nlohmann::detail::json_sax_dom_parser<json> {
 public:
  explicit DepthLimitedDom(json& result) : json_sax_dom_parser(result, false) {}

  bool start_object(std::size_t elements) { return ++depth_ <= kMaxJsonDepth && json_sax_dom_parser::start_object(elements); }
  bool end_object() {
    --depth_;
    return json_sax_dom_parser::end_object();
  }
  bool start_array(std::size_t elements) { return ++depth_ <= kMaxJsonDepth && json_sax_dom_parser::start_array(elements); }
  bool end_array() {
    --depth_;
    return json_sax_dom_parser::end_array();
  }

 private:
  std::size_t depth_ = 0;
};

}  // namespace

json parseJson(std::string_view text) {
  // nlohmann ends its input at a NUL byte and skips a leading byte-order mark; neither is JSON,
  // and refusing both keeps this the same language isValidJson accepts.
  if (text.substr(0, 3) == "\xEF\xBB\xBF" || std::memchr(text.data(), '\0', text.size()) != nullptr) {
    return json(json::value_t::discarded);
  }
  json result;
  DepthLimitedDom builder(result);
  try {
    const bool parsed = json::sax_parse(text, &builder, json::input_format_t::json, true, false);
    if (parsed && !builder.is_errored()) return result;
  } catch (const json::exception&) {
    // Only allocation-size limits throw here; the text is refused like any other bad input.
  }
  return json(json::value_t::discarded);
}

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
