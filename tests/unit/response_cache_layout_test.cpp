// The layout answers are kept in Redis with: every part of an answer survives the round trip,
// and text that is not such an answer reads as nothing, whatever type is where.
#include <gtest/gtest.h>

#include <functional>

#include "llmgate/proxy/response_cache.hpp"

namespace llmgate::proxy {
namespace {

core::ChatResponse fullAnswer() {
  core::ChatResponse answer;
  answer.id = "chatcmpl-1";
  answer.model = "claude-sonnet-4-5";
  answer.created = 1764633600;
  core::Choice first;
  first.text = "Paris \xE2\x9C\x93";
  first.thinking = "the capital";
  first.thinkingSignature = "sig==";
  first.finish = core::FinishReason::ToolCalls;
  first.toolCalls.push_back({"call_1", "lookup", R"({"city":"Paris"})"});
  first.toolCalls.push_back({"call_2", "noop", "{}"});
  core::Choice second;
  second.index = 1;
  second.refusal = "no";
  second.finish = core::FinishReason::ContentFilter;
  answer.choices = {first, second};
  answer.usage = {120, 30, 100, 20, 8, true};
  return answer;
}

TEST(ResponseCacheLayout, EveryPartOfAnAnswerSurvivesTheRoundTrip) {
  const auto answer = fullAnswer();
  std::int64_t expiresAtMs = 0;
  const auto read = ResponseCache::fromSharedText(ResponseCache::sharedText(answer, 1764633720000), expiresAtMs);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(expiresAtMs, 1764633720000);
  EXPECT_EQ(read->model, answer.model);
  EXPECT_EQ(read->created, answer.created);
  EXPECT_TRUE(read->id.empty()) << "a hit gets an id of its own";
  ASSERT_EQ(read->choices.size(), 2u);
  for (std::size_t c = 0; c < 2; ++c) {
    const auto& want = answer.choices[c];
    const auto& got = read->choices[c];
    EXPECT_EQ(got.index, want.index);
    EXPECT_EQ(got.text, want.text);
    EXPECT_EQ(got.thinking, want.thinking);
    EXPECT_EQ(got.thinkingSignature, want.thinkingSignature);
    EXPECT_EQ(got.refusal, want.refusal);
    EXPECT_EQ(got.finish, want.finish);
    ASSERT_EQ(got.toolCalls.size(), want.toolCalls.size());
    for (std::size_t t = 0; t < want.toolCalls.size(); ++t) {
      EXPECT_EQ(got.toolCalls[t].id, want.toolCalls[t].id);
      EXPECT_EQ(got.toolCalls[t].name, want.toolCalls[t].name);
      EXPECT_EQ(got.toolCalls[t].arguments, want.toolCalls[t].arguments);
    }
  }
  EXPECT_EQ(read->usage.inputTokens, 120);
  EXPECT_EQ(read->usage.outputTokens, 30);
  EXPECT_EQ(read->usage.cachedInputTokens, 100);
  EXPECT_EQ(read->usage.cacheCreationInputTokens, 20);
  EXPECT_EQ(read->usage.reasoningTokens, 8);
  EXPECT_TRUE(read->usage.present);
}

TEST(ResponseCacheLayout, EveryMemberOfAnotherTypeMakesItUnreadable) {
  const auto good = nlohmann::json::parse(ResponseCache::sharedText(fullAnswer(), 1));
  std::int64_t expiresAtMs = 0;
  ASSERT_TRUE(ResponseCache::fromSharedText(good.dump(), expiresAtMs));
  // Each member, at every level, replaced by a value of each type it is not.
  const std::vector<nlohmann::json> wrongValues{nlohmann::json::array(), nlohmann::json::object(), "text", 1.5, true};
  nlohmann::json copy = good;
  std::size_t rejected = 0;
  const std::function<void(nlohmann::json&, const std::string&)> check = [&](nlohmann::json& node, const std::string& path) {
    if (node.is_object()) {
      for (auto& [name, value] : node.items()) check(value, path + "/" + name);
    } else if (node.is_array()) {
      for (std::size_t i = 0; i < node.size(); ++i) check(node[i], path + "/" + std::to_string(i));
    }
    if (path.empty()) return;
    const nlohmann::json kept = node;
    for (const auto& wrong : wrongValues) {
      if (wrong.type() == kept.type()) continue;
      node = wrong;
      EXPECT_FALSE(ResponseCache::fromSharedText(copy.dump(), expiresAtMs)) << path << " = " << wrong.dump();
      ++rejected;
      node = kept;
    }
  };
  check(copy, "");
  EXPECT_GT(rejected, 100u);
}

TEST(ResponseCacheLayout, TextThatIsNotAnAnswerReadsAsNothing) {
  std::int64_t expiresAtMs = 0;
  for (const char* text : {"", "null", "[]", "{}", "not json", R"({"layout":2,"choices":[{}]})", R"({"layout":1,"choices":[]})",
                           R"({"layout":1,"choices":[{"finish":6}]})", R"({"layout":1,"choices":[{"index":-3}]})"}) {
    EXPECT_FALSE(ResponseCache::fromSharedText(text, expiresAtMs)) << text;
  }
}

}  // namespace
}  // namespace llmgate::proxy
