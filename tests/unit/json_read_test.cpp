#include "llmgate/core/json_read.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace llmgate::core {
namespace {

using nlohmann::json;

TEST(FieldReader, AbsentAndNullMembersReadAsAbsentWithoutAMismatch) {
  const json value = json::parse(R"({"a":null})");
  std::optional<TypeMismatch> mismatch;
  FieldReader fields(value, "x", mismatch);
  EXPECT_EQ(fields.string("a"), nullptr);
  EXPECT_EQ(fields.string("missing"), nullptr);
  EXPECT_FALSE(fields.integer("a"));
  EXPECT_FALSE(fields.number("a"));
  EXPECT_FALSE(fields.boolean("a"));
  EXPECT_EQ(fields.object("a"), nullptr);
  EXPECT_EQ(fields.array("a"), nullptr);
  EXPECT_EQ(fields.member("a"), nullptr);
  EXPECT_EQ(fields.stringOr("a", "fallback"), "fallback");
  EXPECT_FALSE(mismatch);
}

TEST(FieldReader, EveryTypeIsReadOnlyAsItself) {
  const json value = json::parse(R"({"s":"t","i":-3,"u":18446744073709551615,"f":1.5,"b":true,"o":{},"a":[]})");
  const std::vector<std::string> keys{"s", "i", "u", "f", "b", "o", "a"};
  struct Read {
    const char* expected;
    std::function<bool(const FieldReader&, const std::string&)> found;
    std::vector<std::string> accepting;  // the members this read takes
  };
  const std::vector<Read> reads{
      {"string", [](const FieldReader& f, const std::string& k) { return f.string(k) != nullptr; }, {"s"}},
      // an unsigned beyond int64 and a fraction are not integers
      {"integer", [](const FieldReader& f, const std::string& k) { return f.integer(k).has_value(); }, {"i"}},
      {"number", [](const FieldReader& f, const std::string& k) { return f.number(k).has_value(); }, {"i", "u", "f"}},
      {"boolean", [](const FieldReader& f, const std::string& k) { return f.boolean(k).has_value(); }, {"b"}},
      {"object", [](const FieldReader& f, const std::string& k) { return f.object(k) != nullptr; }, {"o"}},
      {"array", [](const FieldReader& f, const std::string& k) { return f.array(k) != nullptr; }, {"a"}},
  };
  for (const auto& read : reads) {
    for (const auto& key : keys) {
      std::optional<TypeMismatch> mismatch;
      FieldReader fields(value, "root", mismatch);
      const bool accepts = std::find(read.accepting.begin(), read.accepting.end(), key) != read.accepting.end();
      EXPECT_EQ(read.found(fields, key), accepts) << read.expected << " of " << key;
      ASSERT_EQ(mismatch.has_value(), !accepts) << read.expected << " of " << key;
      if (mismatch) {
        EXPECT_EQ(mismatch->path, "root." + key);
        EXPECT_EQ(mismatch->expected, read.expected);
      }
    }
  }
}

TEST(FieldReader, ValuesAreReadExactly) {
  const json value = json::parse(R"({"i":9223372036854775807,"n":-9223372036854775808,"u":7,"f":0.25,"s":"x"})");
  std::optional<TypeMismatch> mismatch;
  FieldReader fields(value, "", mismatch);
  EXPECT_EQ(fields.integer("i"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(fields.integer("n"), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(fields.integer("u"), 7);
  EXPECT_EQ(fields.number("f"), 0.25);
  EXPECT_EQ(fields.number("u"), 7.0);
  EXPECT_EQ(*fields.string("s"), "x");
  EXPECT_FALSE(mismatch);
}

TEST(FieldReader, TheFirstMismatchIsKeptAndNamesItsPath) {
  const json value = json::parse(R"({"a":5,"b":"x"})");
  std::optional<TypeMismatch> mismatch;
  FieldReader fields(value, "messages[2]", mismatch);
  EXPECT_EQ(fields.string("a"), nullptr);
  EXPECT_EQ(fields.array("b"), nullptr);
  ASSERT_TRUE(mismatch);
  EXPECT_EQ(mismatch->describe(), "messages[2].a: expected string, got number");
  EXPECT_TRUE(fields.failed());
}

TEST(FieldReader, AValueThatIsNotAnObjectHasNoMembers) {
  for (const char* text : {"5", "\"s\"", "[1]", "null", "true"}) {
    const json value = json::parse(text);
    std::optional<TypeMismatch> mismatch;
    FieldReader fields(value, "", mismatch);
    EXPECT_EQ(fields.member("a"), nullptr) << text;
    EXPECT_EQ(fields.string("0"), nullptr) << text;
    EXPECT_FALSE(mismatch) << text;
  }
}

TEST(FieldReader, RootMembersAreNamedWithoutADot) {
  const json value = json::parse(R"({"max_tokens":"10"})");
  std::optional<TypeMismatch> mismatch;
  EXPECT_FALSE(FieldReader(value, "", mismatch).integer("max_tokens"));
  ASSERT_TRUE(mismatch);
  EXPECT_EQ(mismatch->describe(), "max_tokens: expected integer, got string");
}

// parseJson builds its documents itself; each must be the one nlohmann's parser builds, with
// the same types (its dump says both).
TEST(ParseJson, BuildsTheDocumentNlohmannBuilds) {
  const std::vector<std::string> texts = {
      R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"temperature":0.7})",
      R"( [ 0 , -0 , 1 , -1 , 18446744073709551615 , 18446744073709551616 , -9223372036854775808 , -9223372036854775809 ] )",
      R"([1.0, 1e2, 1E-2, -0.0, 2.5e+3, 1e-400, 123456789012345678901234567890, 0.1, 5e-324, 1.7976931348623157e308])",
      R"({"e":"\" \\ \/ \b \f \n \r \t","u":"\u00e9\u20ac\ud83d\ude00\u0041\u0000x","raw":"caf\u00e9 – 日本語 😀"})",
      R"({"a":1,"a":2,"b":{"a":[],"b":{}},"c":[[],[{}],null,true,false]})",
      R"("a string exactly sixteen b" )", R"("1234567\"89012345678\\")", "\"" + std::string(100, 'x') + "\\n" + std::string(7, 'y') + "\"",
      "{\"long\":\"" + std::string(1000, 'z') + "\\u00e9\"}", "0", "-5", "true", "null", "\"\""};
  for (const auto& text : texts) {
    const json built = parseJson(text);
    const json reference = json::parse(text);
    ASSERT_FALSE(built.is_discarded()) << text;
    EXPECT_EQ(built.dump(), reference.dump()) << text;
    EXPECT_EQ(built.type(), reference.type()) << text;
  }
  // Numbers keep nlohmann's types: unsigned, signed, or a double when out of 64 bits or written
  // with a fraction or exponent.
  const json numbers = parseJson("[5, -5, 18446744073709551616, 1.0, 1e2]");
  EXPECT_TRUE(numbers[0].is_number_unsigned());
  EXPECT_TRUE(numbers[1].is_number_integer() && !numbers[1].is_number_unsigned());
  EXPECT_TRUE(numbers[2].is_number_float());
  EXPECT_TRUE(numbers[3].is_number_float());
  EXPECT_TRUE(numbers[4].is_number_float());
  EXPECT_EQ(parseJson(R"({"a":1,"a":2})")["a"], 2);
  // "-0" is a signed integer zero for nlohmann (a dump cannot tell it from an unsigned one).
  EXPECT_EQ(parseJson("-0").type(), json::parse("-0").type());
  EXPECT_EQ(parseJson("-0").is_number_unsigned(), json::parse("-0").is_number_unsigned());
  EXPECT_EQ(parseJson("0").is_number_unsigned(), json::parse("0").is_number_unsigned());
}

TEST(ParseJson, RefusesWhatIsNotOneJsonValueWithoutThrowing) {
  for (const std::string text : {std::string(""), std::string("{"), std::string("[1,]"), std::string("{} {}"),
                                 std::string("\xEF\xBB\xBF{}"), std::string("{}\0x", 4), std::string("\"\xC0\xAF\"")}) {
    EXPECT_TRUE(parseJson(text).is_discarded()) << text;
  }
  EXPECT_EQ(parseJson(R"({"a":[1,{"b":null}]})"), json::parse(R"({"a":[1,{"b":null}]})"));
}

}  // namespace
}  // namespace llmgate::core
