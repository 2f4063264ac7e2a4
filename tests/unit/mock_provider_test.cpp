#include "providers/mock/mock_provider.hpp"

#include <gtest/gtest.h>

#include "llmgate/api/openai_codec.hpp"

namespace llmgate::providers::mock {
namespace {

std::unique_ptr<Provider> makeMock(const std::string& extra = "") {
  auto config = config::parseConfig(R"({"providers":[{"name":"m","type":"mock")" + extra + "}]}",
                                    [](const std::string&) { return std::nullopt; });
  return create(config.providers[0]);
}

core::ChatRequest decode(const std::string& body) {
  auto result = api::openai::decodeRequest(nlohmann::json::parse(body));
  EXPECT_TRUE(result.ok());
  return result.value();
}

core::ChatResponse run(const Provider& provider, const core::ChatRequest& request) {
  auto reply = provider.respondLocally(request, "mock");
  EXPECT_TRUE(reply);
  core::ResponseAccumulator accumulator;
  for (const auto& event : reply->events) accumulator.add(event);
  return accumulator.response();
}

TEST(MockProvider, EchoesTheUserDeterministicallyInChunks) {
  auto provider = makeMock(R"(,"chunk_count":3)");
  auto request = decode(R"({"model":"mock","messages":[{"role":"user","content":"ping pong"}]})");
  auto reply = provider->respondLocally(request, "mock");
  ASSERT_TRUE(reply);
  int textEvents = 0;
  for (const auto& event : reply->events) textEvents += event.kind == core::EventKind::TextDelta;
  EXPECT_EQ(textEvents, 3);
  auto response = run(*provider, request);
  ASSERT_EQ(response.choices.size(), 1u);
  EXPECT_EQ(response.choices[0].text, "Hello from the llmgate mock provider. You said: ping pong");
  EXPECT_EQ(response.choices[0].finish, core::FinishReason::Stop);
  EXPECT_EQ(response.usage.outputTokens, 10);
  EXPECT_EQ(run(*provider, request).choices[0].text, response.choices[0].text);
}

TEST(MockProvider, CallsTheOfferedToolWithSchemaShapedArguments) {
  auto provider = makeMock();
  auto request = decode(R"({"model":"mock","messages":[{"role":"user","content":"weather? use get_weather"}],
    "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
      "properties":{"city":{"type":"string"},"days":{"type":"integer"},"unit":{"type":"string","enum":["c","f"]}},
      "required":["city","days","unit"]}}}]})");
  auto response = run(*provider, request);
  ASSERT_EQ(response.choices[0].toolCalls.size(), 1u);
  const auto& call = response.choices[0].toolCalls[0];
  EXPECT_EQ(call.name, "get_weather");
  EXPECT_EQ(call.id, "call_mock_get_weather");
  EXPECT_EQ(nlohmann::json::parse(call.arguments), nlohmann::json::parse(R"({"city":"mock","days":1,"unit":"c"})"));
  EXPECT_EQ(response.choices[0].finish, core::FinishReason::ToolCalls);
}

TEST(MockProvider, AnswersATooResultWithTextAndHonoursToolChoiceNone) {
  auto provider = makeMock();
  auto afterTool = decode(R"({"model":"mock","messages":[{"role":"user","content":"weather?"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"c1","content":"sunny"}],
    "tools":[{"type":"function","function":{"name":"f"}}]})");
  auto response = run(*provider, afterTool);
  EXPECT_TRUE(response.choices[0].toolCalls.empty());
  EXPECT_EQ(response.choices[0].text, "Mock reply after tool result: sunny");

  auto none = decode(R"({"model":"mock","messages":[{"role":"user","content":"x"}],"tool_choice":"none",
    "tools":[{"type":"function","function":{"name":"f"}}]})");
  EXPECT_TRUE(run(*provider, none).choices[0].toolCalls.empty());
}

TEST(MockProvider, CallsAToolOnlyWhenAskedForOneLikeAModelThatAnswers) {
  const std::string tools = R"("tools":[{"type":"function","function":{"name":"read_file"}},
                                         {"type":"function","function":{"name":"run_shell"}}])";
  const auto called = [&](const Provider& provider, const std::string& rest) {
    const auto response = run(provider, decode(R"({"model":"mock",)" + rest + "," + tools + "}"));
    return response.choices[0].toolCalls.empty() ? std::string() : response.choices[0].toolCalls[0].name;
  };
  auto provider = makeMock();
  EXPECT_EQ(called(*provider, R"("messages":[{"role":"user","content":"hello"}])"), "");
  EXPECT_EQ(called(*provider, R"("messages":[{"role":"user","content":"please run_shell now"}])"), "run_shell");
  EXPECT_EQ(called(*provider, R"("messages":[{"role":"user","content":"hello"}],"tool_choice":"required")"), "read_file");
  EXPECT_EQ(called(*provider, R"("messages":[{"role":"user","content":"hello"}],
    "tool_choice":{"type":"function","function":{"name":"run_shell"}})"), "run_shell");
  // Agents put reminders naming every tool before the prompt: only the turn's last text counts.
  EXPECT_EQ(called(*provider, R"("messages":[{"role":"user","content":[{"type":"text","text":"tools: read_file, run_shell"},
    {"type":"text","text":"say hi"}]}])"), "");
  // The old behaviour, for load tests and tool round trips.
  EXPECT_EQ(called(*makeMock(R"(,"tool_calls":"always")"), R"("messages":[{"role":"user","content":"hello"}])"), "read_file");
}

TEST(MockProvider, MaxTokensTruncatesWithLengthFinish) {
  auto provider = makeMock();
  auto request = decode(R"({"model":"mock","max_tokens":3,"messages":[{"role":"user","content":"hi"}]})");
  auto response = run(*provider, request);
  EXPECT_EQ(response.choices[0].text, "Hello from the");
  EXPECT_EQ(response.choices[0].finish, core::FinishReason::Length);
  EXPECT_EQ(response.usage.outputTokens, 3);
}

TEST(MockProvider, RejectsUnknownOptions) {
  EXPECT_THROW(makeMock(R"(,"latency":5)"), config::ConfigError);
  EXPECT_THROW(makeMock(R"(,"chunk_count":0)"), config::ConfigError);
  EXPECT_THROW(makeMock(R"(,"tool_calls":"sometimes")"), config::ConfigError);
}

}  // namespace
}  // namespace llmgate::providers::mock
