// For every client dialect x upstream pair: the non-streaming answer equals the answer assembled
// from the stream (text, tool calls with parsed arguments, stop reason, usage).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gateway_harness.hpp"
#include "protocol_upstreams.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;

struct Pair {
  core::Dialect client;
  const char* model;  // picks the upstream
};

class DialectEquivalence : public ::testing::TestWithParam<Pair> {};

TEST_P(DialectEquivalence, StreamedAnswerEqualsTheWholeAnswer) {
  TestUpstream gpt(openAiCompatibleUpstream);
  TestUpstream claude(anthropicUpstream);
  GatewayHarness gateway(R"({"providers":[
      {"name":"mock","type":"mock","models":["mock"]},
      {"name":"gpt","type":"openai","base_url":")" + gpt.baseUrl() + R"(","models":["gpt-4o"]},
      {"name":"claude","type":"anthropic","base_url":"http://127.0.0.1:)" + std::to_string(claude.port()) +
                         R"(","models":["claude"]}]})");
  const Pair pair = GetParam();
  const bool anthropic = pair.client == core::Dialect::Anthropic;
  const std::string path = anthropic ? "/v1/messages" : "/v1/chat/completions";
  const std::string tools =
      anthropic ? R"(,"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}])"
                : R"(,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}])";
  for (const std::string& extra : {std::string(), tools}) {
    const std::string base = std::string(R"({"model":")") + pair.model + R"(","max_tokens":100,"messages":[{"role":"user","content":"Hi"}])" + extra;
    auto whole = gateway.post(path, base + "}");
    auto streamed = gateway.post(path, base + R"(,"stream":true,"stream_options":{"include_usage":true}})");
    ASSERT_EQ(whole.status, 200) << whole.body;
    ASSERT_EQ(streamed.status, 200) << streamed.body;
    const auto a = clientAnswer(pair.client, whole.body, false);
    const auto b = clientAnswer(pair.client, streamed.body, true);
    ASSERT_EQ(a.choices.size(), 1u);
    ASSERT_EQ(b.choices.size(), 1u);
    EXPECT_EQ(a.choices[0].text, b.choices[0].text);
    EXPECT_EQ(a.choices[0].finish, b.choices[0].finish);
    ASSERT_EQ(a.choices[0].toolCalls.size(), b.choices[0].toolCalls.size());
    for (std::size_t i = 0; i < a.choices[0].toolCalls.size(); ++i) {
      EXPECT_EQ(a.choices[0].toolCalls[i].id, b.choices[0].toolCalls[i].id);
      EXPECT_EQ(a.choices[0].toolCalls[i].name, b.choices[0].toolCalls[i].name);
      EXPECT_EQ(json::parse(a.choices[0].toolCalls[i].arguments), json::parse(b.choices[0].toolCalls[i].arguments));
    }
    EXPECT_EQ(a.usage.inputTokens, b.usage.inputTokens);
    EXPECT_EQ(a.usage.outputTokens, b.usage.outputTokens);
    if (std::string(pair.model) != "mock") {
      // The upstreams answer the same thing whatever their wire format.
      if (extra.empty()) {
        EXPECT_EQ(a.choices[0].text, kUpstreamText);
      } else {
        ASSERT_EQ(a.choices[0].toolCalls.size(), 1u);
        EXPECT_EQ(json::parse(a.choices[0].toolCalls[0].arguments), json::parse(kToolArguments));
        EXPECT_EQ(a.choices[0].finish, core::FinishReason::ToolCalls);
      }
      EXPECT_EQ(a.usage.inputTokens, 9);
      EXPECT_EQ(a.usage.outputTokens, 4);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllPairs, DialectEquivalence,
                         ::testing::Values(Pair{core::Dialect::OpenAi, "mock"}, Pair{core::Dialect::OpenAi, "gpt-4o"},
                                           Pair{core::Dialect::OpenAi, "claude"}, Pair{core::Dialect::Anthropic, "mock"},
                                           Pair{core::Dialect::Anthropic, "gpt-4o"}, Pair{core::Dialect::Anthropic, "claude"}),
                         [](const auto& info) {
                           std::string name = std::string(info.param.client == core::Dialect::OpenAi ? "OpenAiClient_" : "AnthropicClient_") + info.param.model;
                           for (auto& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

}  // namespace
}  // namespace llmgate::testing
