#include "llmgate/core/json_text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <string>

#include "llmgate/core/json_read.hpp"
#include "json_bytes.hpp"

namespace llmgate::core {
namespace {

constexpr std::size_t kInvalid = std::string_view::npos;

enum ByteClass : unsigned char { kPlain, kQuote, kBackslash, kControl, kNonAscii };

constexpr std::array<unsigned char, 256> kStringBytes = [] {
  std::array<unsigned char, 256> table{};
  for (int c = 0; c < 256; ++c) {
    table[c] = c < 0x20 ? kControl : c == '"' ? kQuote : c == '\\' ? kBackslash : c >= 0x80 ? kNonAscii : kPlain;
  }
  return table;
}();

bool isSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The four hex digits at `at` as a code unit, or -1.
int hexQuad(std::string_view s, std::size_t at) {
  if (at + 4 > s.size()) return -1;
  int value = 0;
  for (std::size_t k = at; k < at + 4; ++k) {
    const int digit = hexDigit(s[k]);
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

// Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most
// U+10FFFF) starting at `at`, or 0.
std::size_t utf8Length(std::string_view s, std::size_t at) {
  const auto byte = [&](std::size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0; };
  const unsigned char lead = byte(at);
  const auto in = [](unsigned char c, unsigned char low, unsigned char high) { return c >= low && c <= high; };
  if (in(lead, 0xC2, 0xDF)) return in(byte(at + 1), 0x80, 0xBF) ? 2 : 0;
  unsigned char low = 0x80, high = 0xBF;
  std::size_t length = 0;
  if (lead == 0xE0) {
    low = 0xA0, length = 3;
  } else if (in(lead, 0xE1, 0xEC) || lead == 0xEE || lead == 0xEF) {
    length = 3;
  } else if (lead == 0xED) {
    high = 0x9F, length = 3;
  } else if (lead == 0xF0) {
    low = 0x90, length = 4;
  } else if (in(lead, 0xF1, 0xF3)) {
    length = 4;
  } else if (lead == 0xF4) {
    high = 0x8F, length = 4;
  } else {
    return 0;
  }
  if (!in(byte(at + 1), low, high)) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (!in(byte(at + k), 0x80, 0xBF)) return 0;
  }
  return length;
}

// From just after an opening quote to just after the closing one, or kInvalid.
std::size_t skipString(std::string_view s, std::size_t i) {
  while (i < s.size()) {
    switch (kStringBytes[static_cast<unsigned char>(s[i])]) {
      case kPlain:
        i = skipWords<plainBytes>(s, i + 1);
        break;
      case kQuote:
        return i + 1;
      case kControl:
        return kInvalid;
      case kNonAscii: {
        const std::size_t length = utf8Length(s, i);
        if (length == 0) return kInvalid;
        i += length;
        break;
      }
      case kBackslash: {
        if (++i >= s.size()) return kInvalid;
        const char escaped = s[i];
        if (escaped != 'u') {
          if (escaped != '"' && escaped != '\\' && escaped != '/' && escaped != 'b' && escaped != 'f' &&
              escaped != 'n' && escaped != 'r' && escaped != 't') {
            return kInvalid;
          }
          ++i;
          break;
        }
        const int unit = hexQuad(s, i + 1);
        i += 5;
        if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF)) return kInvalid;
        if (unit >= 0xD800 && unit <= 0xDBFF) {  // a high surrogate needs its low half next
          if (i + 1 >= s.size() || s[i] != '\\' || s[i + 1] != 'u') return kInvalid;
          const int second = hexQuad(s, i + 2);
          if (second < 0xDC00 || second > 0xDFFF) return kInvalid;
          i += 6;
        }
        break;
      }
    }
  }
  return kInvalid;
}

std::size_t skipDigits(std::string_view s, std::size_t i) {
  while (i < s.size() && isDigit(s[i])) ++i;
  return i;
}

// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and a magnitude a double can hold (parsers
// such as nlohmann's reject numbers that overflow to infinity; underflow is fine).
std::size_t skipNumber(std::string_view s, std::size_t i) {
  const std::size_t start = i;
  if (s[i] == '-') ++i;
  if (i >= s.size() || !isDigit(s[i])) return kInvalid;
  const std::size_t integerStart = i;
  i = s[i] == '0' ? i + 1 : skipDigits(s, i);
  const std::size_t integerDigits = i - integerStart;
  if (i < s.size() && s[i] == '.') {
    if (++i >= s.size() || !isDigit(s[i])) return kInvalid;
    i = skipDigits(s, i);
  }
  std::size_t exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    bool negative = false;
    if (++i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    if (i >= s.size() || !isDigit(s[i])) return kInvalid;
    for (; i < s.size() && isDigit(s[i]); ++i) {
      if (!negative && exponent < 100000) exponent = exponent * 10 + static_cast<std::size_t>(s[i] - '0');
    }
  }
  // Below 10^300 nothing overflows; only near or past DBL_MAX (1.8e308) does strtod decide.
  if (integerDigits + exponent > 300) {
    const std::string number(s.substr(start, i - start));
    if (std::isinf(std::strtod(number.c_str(), nullptr))) return kInvalid;
  }
  return i;
}

std::size_t skipSpace(std::string_view s, std::size_t i) {
  while (i < s.size() && isSpace(s[i])) ++i;
  return i;
}

}  // namespace

bool isValidJson(std::string_view s) { return isValidJson(s, {}); }

bool isValidJson(std::string_view s, std::span<TopLevelMember> members) {
  char open[kMaxJsonDepth];  // the '{' and '[' not yet closed, innermost last
  std::size_t depth = 0;
  std::size_t i = 0;
  // The member whose value is being read at the top level, and where that value starts.
  TopLevelMember* reading = nullptr;
  std::size_t valueStart = 0;
  TopLevelMember* const membersEnd = members.data() + members.size();
  for (auto& member : members) member = TopLevelMember{member.key};
  enum class Expect { Value, Key, AfterValue } expect = Expect::Value;
  while (true) {
    if (reading != nullptr && expect == Expect::AfterValue && depth == 1) {
      reading->value = s.substr(valueStart, i - valueStart);
      ++reading->count;
      reading = nullptr;
    }
    i = skipSpace(s, i);
    if (expect == Expect::AfterValue) {
      if (depth == 0) return i == s.size();
      if (i >= s.size()) return false;
      if (s[i] == ',') {
        ++i;
        expect = open[depth - 1] == '{' ? Expect::Key : Expect::Value;
      } else if (s[i] == (open[depth - 1] == '{' ? '}' : ']')) {
        ++i;
        --depth;
      } else {
        return false;
      }
      continue;
    }
    if (i >= s.size()) return false;
    if (expect == Expect::Key) {
      const std::size_t keyStart = i + 1;
      if (s[i] != '"' || (i = skipString(s, keyStart)) == kInvalid) return false;
      if (depth == 1) {
        const std::string_view key = s.substr(keyStart, i - 1 - keyStart);
        for (TopLevelMember* member = members.data(); member != membersEnd; ++member) {
          if (member->key == key) reading = member;
        }
      }
      i = skipSpace(s, i);
      if (i >= s.size() || s[i] != ':') return false;
      i = skipSpace(s, i + 1);
      if (depth == 1) valueStart = i;
      expect = Expect::Value;
      continue;
    }
    const char c = s[i];
    expect = Expect::AfterValue;
    if (c == '{' || c == '[') {
      if (depth >= kMaxJsonDepth) return false;  // this container would be one level too deep
      i = skipSpace(s, i + 1);
      if (i < s.size() && s[i] == (c == '{' ? '}' : ']')) {
        ++i;  // empty: a value already
      } else {
        open[depth++] = c;
        expect = c == '{' ? Expect::Key : Expect::Value;
      }
    } else if (c == '"') {
      i = skipString(s, i + 1);
    } else if (c == '-' || isDigit(c)) {
      i = skipNumber(s, i);
    } else if (s.substr(i, 4) == "true" || s.substr(i, 4) == "null") {
      i += 4;
    } else if (s.substr(i, 5) == "false") {
      i += 5;
    } else {
      return false;
    }
    if (i == kInvalid) return false;
  }
}

void appendFixed(std::string& out, double value, int decimals) {
  // Integer arithmetic: std::to_chars's exact fixed notation costs about 1.4k instructions a
  // number, and these are on every request (Server-Timing, the access line). Written to the
  // string in one append.
  static constexpr std::int64_t kScale[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
  decimals = std::clamp(decimals, 0, 6);
  const std::int64_t scale = kScale[decimals];
  if (!(std::fabs(value) < 9e12)) value = 0;  // NaN and infinities too
  const auto scaled = static_cast<std::int64_t>(std::fabs(value) * static_cast<double>(scale) + 0.5);
  char text[32];  // a sign, at most 19 digits, '.' and six decimals
  char* end = text;
  if (value < 0 && scaled != 0) *end++ = '-';
  end = std::to_chars(end, text + sizeof text - 7, scaled / scale).ptr;
  if (decimals > 0) {
    *end = '.';
    std::int64_t fraction = scaled % scale;
    for (int i = decimals; i > 0; --i, fraction /= 10) end[i] = static_cast<char>('0' + fraction % 10);
    end += decimals + 1;
  }
  out.append(text, static_cast<std::size_t>(end - text));
}

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t runStart = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + runStart, i - runStart);
    runStart = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(text.data() + runStart, text.size() - runStart);
  out.push_back('"');
}

}  // namespace llmgate::core
