#include "llmgate/core/json_read.hpp"

#include <algorithm>
#include <functional>
#include <limits>

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

TEST(ParseJson, RefusesWhatIsNotOneJsonValueWithoutThrowing) {
  for (const std::string text : {std::string(""), std::string("{"), std::string("[1,]"), std::string("{} {}"),
                                 std::string("\xEF\xBB\xBF{}"), std::string("{}\0x", 4), std::string("\"\xC0\xAF\"")}) {
    EXPECT_TRUE(parseJson(text).is_discarded()) << text;
  }
  EXPECT_EQ(parseJson(R"({"a":[1,{"b":null}]})"), json::parse(R"({"a":[1,{"b":null}]})"));
}

}  // namespace
}  // namespace llmgate::core
