#include "llmgate/core/json_field.hpp"

#include <algorithm>
#include <charconv>

#include "json_bytes.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/core/json_text.hpp"

namespace llmgate::core {
namespace {

void skipSpace(std::string_view json, std::size_t& i) {
  while (i < json.size() && (json[i] == ' ' || json[i] == '\n' || json[i] == '\r' || json[i] == '\t')) ++i;
}

// At an opening quote: moves past the closing quote (or to the end of a text that has none).
// Returns whether the string holds an escape. Runs without a quote or a backslash are passed
// eight bytes at a time.
bool skipString(std::string_view json, std::size_t& i) {
  bool escaped = false;
  ++i;
  for (;;) {
    i = skipWords<unescapedBytes>(json, i);
    while (i < json.size() && json[i] != '"' && json[i] != '\\') ++i;
    if (i >= json.size()) return escaped;
    if (json[i] == '"') {
      ++i;
      return escaped;
    }
    escaped = true;
    i = std::min(i + 2, json.size());  // the backslash and the byte it escapes
  }
}

// Moves past one value of any type.
void skipValue(std::string_view json, std::size_t& i) {
  if (i >= json.size()) return;
  if (json[i] == '"') {
    skipString(json, i);
    return;
  }
  if (json[i] == '{' || json[i] == '[') {
    int depth = 0;
    while (i < json.size()) {
      switch (json[i]) {
        case '"': skipString(json, i); continue;
        case '{':
        case '[': ++depth; break;
        case '}':
        case ']':
          if (--depth == 0) {
            ++i;
            return;
          }
          break;
        default: break;
      }
      ++i;
    }
    return;
  }
  // number, true, false, null
  while (i < json.size() && json[i] != ',' && json[i] != '}' && json[i] != ']' && json[i] != ' ' &&
         json[i] != '\n' && json[i] != '\r' && json[i] != '\t') {
    ++i;
  }
}

// Calls found(name, valueStart, valueEnd, nameEscaped) for each top-level member, in document
// order.
template <class Found>
void forEachTopLevelMember(std::string_view json, Found found) {
  std::size_t i = 0;
  skipSpace(json, i);
  if (i >= json.size() || json[i] != '{') return;
  ++i;
  while (i < json.size()) {
    skipSpace(json, i);
    if (i >= json.size() || json[i] == '}') return;
    if (json[i] == ',') {
      ++i;
      continue;
    }
    if (json[i] != '"') return;
    const std::size_t keyStart = i + 1;
    const bool nameEscaped = skipString(json, i);
    // Keys written with escapes never match: clients do not escape "model".
    const std::string_view name = json.substr(keyStart, i - 1 - keyStart);
    skipSpace(json, i);
    if (i >= json.size() || json[i] != ':') return;
    ++i;
    skipSpace(json, i);
    const std::size_t valueStart = i;
    skipValue(json, i);
    found(name, valueStart, i, nameEscaped);
  }
}

template <class Found>
void forEachTopLevelValue(std::string_view json, std::string_view key, Found found) {
  forEachTopLevelMember(json, [&](std::string_view name, std::size_t start, std::size_t end, bool) {
    if (name == key) found(start, end);
  });
}

// The text of the last top-level value of `key` (what a parser keeps of a repeated key), or empty.
std::string_view lastTopLevelValue(std::string_view json, std::string_view key) {
  std::string_view last;
  forEachTopLevelValue(json, key, [&](std::size_t start, std::size_t end) { last = json.substr(start, end - start); });
  return last;
}

}  // namespace

std::vector<TextSpan> findTopLevelValues(std::string_view json, std::string_view key) {
  std::vector<TextSpan> spans;
  forEachTopLevelValue(json, key, [&](std::size_t start, std::size_t end) { spans.push_back(TextSpan{start, end - start}); });
  return spans;
}

TextFields::TextFields(std::string_view object, bool& mismatch) : text_(object), mismatch_(&mismatch) {
  std::size_t i = 0;
  skipSpace(text_, i);
  isObject_ = i < text_.size() && text_[i] == '{';
  if (!isObject_) return;
  forEachTopLevelMember(text_, [&](std::string_view name, std::size_t start, std::size_t end, bool nameEscaped) {
    if (indexed_ < members_.size()) members_[indexed_] = {name, text_.substr(start, end - start)};
    ++indexed_;
    escapedKey_ = escapedKey_ || nameEscaped;
  });
}

std::string_view TextFields::find(std::string_view key) const {
  if (!isObject_) return {};
  std::string_view value;
  if (indexed_ <= members_.size()) {
    for (std::size_t k = indexed_; k-- > 0;) {  // from the last: a repeated key means its last value
      if (members_[k].first == key) {
        value = members_[k].second;
        break;
      }
    }
  } else {
    value = lastTopLevelValue(text_, key);
  }
  return value == "null" ? std::string_view{} : value;
}

std::optional<std::int64_t> TextFields::integer(std::string_view key) const {
  const std::string_view value = find(key);
  if (value.empty()) return std::nullopt;
  std::int64_t number = 0;
  // JSON's integer grammar is from_chars' less its leading '+', which JSON text never has; a
  // fraction or an exponent leaves characters unread.
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc() || end != value.data() + value.size()) {
    *mismatch_ = true;
    return std::nullopt;
  }
  return number;
}

std::optional<TextFields> TextFields::object(std::string_view key) const {
  const std::string_view value = find(key);
  if (value.empty()) return std::nullopt;
  if (value.front() != '{') {
    *mismatch_ = true;
    return std::nullopt;
  }
  return TextFields(value, *mismatch_);
}

std::optional<TextFields> TextFields::ofValidObject(std::string_view text, bool& mismatch) {
  if (!isValidJson(text)) return std::nullopt;
  TextFields fields(text, mismatch);
  if (!fields.isObject() || fields.hasEscapedKey()) return std::nullopt;
  return fields;
}

std::optional<std::string> TextFields::string(std::string_view key) const {
  const std::string_view value = find(key);
  if (value.empty()) return std::nullopt;
  if (value.front() != '"') {
    *mismatch_ = true;
    return std::nullopt;
  }
  return parseValidatedString(value);
}

std::optional<std::string_view> TextFields::array(std::string_view key) const {
  const std::string_view value = find(key);
  if (value.empty()) return std::nullopt;
  if (value.front() != '[') {
    *mismatch_ = true;
    return std::nullopt;
  }
  return value;
}

TextItems::TextItems(std::string_view array) : text_(array) {
  skipSpace(text_, pos_);
  if (pos_ < text_.size() && text_[pos_] == '[') {
    ++pos_;
  } else {
    pos_ = text_.size();
  }
}

bool TextItems::next(std::string_view& item) {
  skipSpace(text_, pos_);
  if (pos_ < text_.size() && text_[pos_] == ',') {
    ++pos_;
    skipSpace(text_, pos_);
  }
  if (pos_ >= text_.size() || text_[pos_] == ']') {
    pos_ = text_.size();
    return false;
  }
  const std::size_t start = pos_;
  skipValue(text_, pos_);
  if (pos_ == start) {  // not a value: text that was not valid JSON after all
    pos_ = text_.size();
    return false;
  }
  item = text_.substr(start, pos_ - start);
  return true;
}

bool replaceTopLevelString(std::string& json, std::string_view key, std::string_view value) {
  const auto spans = findTopLevelValues(json, key);
  bool replaced = false;
  std::string quoted;
  appendJsonString(quoted, value);
  // Back to front, so earlier offsets stay valid.
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
    if (it->length == 0 || json[it->offset] != '"') continue;
    json.replace(it->offset, it->length, quoted);
    replaced = true;
  }
  return replaced;
}

bool clampTopLevelNumber(std::string& json, std::string_view key, double low, double high) {
  const auto spans = findTopLevelValues(json, key);
  bool changed = false;
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
    const char* first = json.data() + it->offset;
    double value = 0;
    auto [end, ec] = std::from_chars(first, first + it->length, value);
    if (ec != std::errc() || end != first + it->length) continue;  // not a number: left to the upstream
    const double clamped = std::clamp(value, low, high);
    if (clamped == value) continue;
    char text[32];
    auto written = std::to_chars(text, text + sizeof text, clamped);
    json.replace(it->offset, it->length, text, static_cast<std::size_t>(written.ptr - text));
    changed = true;
  }
  return changed;
}

}  // namespace llmgate::core
