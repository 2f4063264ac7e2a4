#include "llmgate/core/json_field.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace llmgate::core {
namespace {

// The single value of `key`, or nullopt when it is absent.
std::optional<TextSpan> findTopLevelValue(std::string_view json, std::string_view key) {
  auto found = findTopLevelValues(json, key);
  if (found.size() != 1) return std::nullopt;
  return found.front();
}

TEST(JsonField, FindsTopLevelValuesOfEveryType) {
  const std::string text = R"( { "a" : {"model":"inner"}, "b":[1,"]",{"x":"}"}], "s":"q\"uote", "n": -1.5e3 ,"model":"gpt" } )";
  auto model = findTopLevelValue(text, "model");
  ASSERT_TRUE(model);
  EXPECT_EQ(text.substr(model->offset, model->length), "\"gpt\"");
  auto s = findTopLevelValue(text, "s");
  ASSERT_TRUE(s);
  EXPECT_EQ(text.substr(s->offset, s->length), R"("q\"uote")");
  auto n = findTopLevelValue(text, "n");
  ASSERT_TRUE(n);
  EXPECT_EQ(text.substr(n->offset, n->length), "-1.5e3");
  auto b = findTopLevelValue(text, "b");
  ASSERT_TRUE(b);
  EXPECT_EQ(text.substr(b->offset, b->length), R"([1,"]",{"x":"}"}])");
  EXPECT_FALSE(findTopLevelValue(text, "x"));
  EXPECT_FALSE(findTopLevelValue("[1,2]", "model"));
}

TEST(JsonField, ReplaceRewritesOnlyTheTopLevelModel) {
  std::string text = R"({"messages":[{"role":"user","content":"{\"model\":\"keep\"}"}],"metadata":{"model":"keep"},"model":"alias","stream":true})";
  ASSERT_TRUE(replaceTopLevelString(text, "model", "real\"model"));
  auto parsed = nlohmann::json::parse(text);
  EXPECT_EQ(parsed["model"], "real\"model");
  EXPECT_EQ(parsed["metadata"]["model"], "keep");
  EXPECT_EQ(parsed["messages"][0]["content"], "{\"model\":\"keep\"}");
  EXPECT_EQ(parsed["stream"], true);
}

TEST(JsonField, EscapedBackslashesBeforeAQuoteAreHandled) {
  const std::string text = R"({"a":"ends with backslash \\","b":"quote \" and \\\" mix","model":"m"})";
  ASSERT_TRUE(nlohmann::json::accept(text));
  auto model = findTopLevelValue(text, "model");
  ASSERT_TRUE(model);
  EXPECT_EQ(text.substr(model->offset, model->length), "\"m\"");
  auto b = findTopLevelValue(text, "b");
  ASSERT_TRUE(b);
  EXPECT_EQ(nlohmann::json::parse(text.substr(b->offset, b->length)), "quote \" and \\\" mix");
}

TEST(JsonField, ARepeatedKeyHasEveryCopyReplaced) {
  // Found by fuzzing: parsers disagree on which copy wins, so the routed model goes into all.
  std::string text = R"({"model":"cheap","messages":[],"model":"expensive"})";
  ASSERT_EQ(findTopLevelValues(text, "model").size(), 2u);
  ASSERT_TRUE(replaceTopLevelString(text, "model", "routed"));
  EXPECT_EQ(text, R"({"model":"routed","messages":[],"model":"routed"})");
}

TEST(JsonField, ReplaceRefusesNonStringOrMissingMember) {
  std::string text = R"({"model":5})";
  EXPECT_FALSE(replaceTopLevelString(text, "model", "x"));
  std::string absent = R"({"other":"x"})";
  EXPECT_FALSE(replaceTopLevelString(absent, "model", "x"));
  EXPECT_EQ(absent, R"({"other":"x"})");
}

}  // namespace
}  // namespace llmgate::core
