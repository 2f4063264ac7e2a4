// For every client dialect x upstream pair: the non-streaming answer equals the answer assembled
// from the stream (text, tool calls with parsed arguments, stop reason, usage).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gateway_harness.hpp"
#include "llmgate/api/anthropic_codec.hpp"
#include "llmgate/api/openai_codec.hpp"
#include "llmgate/stream/sse_parser.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;

// What both loopback upstreams answer: text, or a tool call when tools are offered.
constexpr const char* kText = "Hello there, friend!";
constexpr const char* kArguments = R"({"city":"Paris"})";

ScriptedResponse openAiUpstream(const RecordedRequest& request) {
  const json body = json::parse(request.body);
  const bool tool = body.contains("tools");
  const json usage = {{"prompt_tokens", 9}, {"completion_tokens", 4}, {"total_tokens", 13}};
  if (!body.value("stream", false)) {
    json message = tool ? json{{"role", "assistant"}, {"content", nullptr},
                               {"tool_calls", {{{"id", "call_1"}, {"type", "function"},
                                                {"function", {{"name", "get_weather"}, {"arguments", kArguments}}}}}}}
                        : json{{"role", "assistant"}, {"content", kText}};
    return ScriptedResponse::json(200, json{{"id", "c"}, {"object", "chat.completion"}, {"created", 1}, {"model", "gpt-4o"},
                                            {"choices", {{{"index", 0}, {"message", message}, {"finish_reason", tool ? "tool_calls" : "stop"}}}},
                                            {"usage", usage}}.dump());
  }
  auto chunk = [](json delta, json finish = nullptr) {
    return "data: " + json{{"id", "c"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "gpt-4o"},
                           {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}}.dump() + "\n\n";
  };
  std::vector<std::string> events{chunk({{"role", "assistant"}, {"content", ""}})};
  if (tool) {
    events.push_back(chunk({{"tool_calls", {{{"index", 0}, {"id", "call_1"}, {"type", "function"},
                                             {"function", {{"name", "get_weather"}, {"arguments", ""}}}}}}}));
    for (const char* part : {R"({"ci)", R"(ty":"Pa)", R"(ris"})"}) {
      events.push_back(chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", part}}}}}}}));
    }
    events.push_back(chunk(json::object(), "tool_calls"));
  } else {
    for (const char* part : {"Hello", " there,", " friend!"}) events.push_back(chunk({{"content", part}}));
    events.push_back(chunk(json::object(), "stop"));
  }
  events.push_back("data: " + json{{"id", "c"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "gpt-4o"},
                                   {"choices", json::array()}, {"usage", usage}}.dump() + "\n\n");
  events.push_back("data: [DONE]\n\n");
  return ScriptedResponse::sse(events);
}

ScriptedResponse anthropicUpstream(const RecordedRequest& request) {
  const json body = json::parse(request.body);
  const bool tool = body.contains("tools");
  const json block = tool ? json{{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "get_weather"}, {"input", json::parse(kArguments)}}
                          : json{{"type", "text"}, {"text", kText}};
  const char* stop = tool ? "tool_use" : "end_turn";
  if (!body.value("stream", false)) {
    return ScriptedResponse::json(200, json{{"id", "msg_1"}, {"type", "message"}, {"role", "assistant"}, {"model", "claude"},
                                            {"content", {block}}, {"stop_reason", stop}, {"stop_sequence", nullptr},
                                            {"usage", {{"input_tokens", 9}, {"output_tokens", 4}}}}.dump());
  }
  auto frame = [](const char* type, json data) {
    data["type"] = type;
    return std::string("event: ") + type + "\ndata: " + data.dump() + "\n\n";
  };
  std::vector<std::string> events{frame("message_start", {{"message", {{"id", "msg_1"}, {"type", "message"}, {"role", "assistant"},
                                                                       {"model", "claude"}, {"content", json::array()},
                                                                       {"usage", {{"input_tokens", 9}, {"output_tokens", 1}}}}}})};
  json start = block;
  if (tool) start["input"] = json::object();
  else start["text"] = "";
  events.push_back(frame("content_block_start", {{"index", 0}, {"content_block", start}}));
  if (tool) {
    for (const char* part : {"", R"({"ci)", R"(ty":"Pa)", R"(ris"})"}) {
      events.push_back(frame("content_block_delta", {{"index", 0}, {"delta", {{"type", "input_json_delta"}, {"partial_json", part}}}}));
    }
  } else {
    for (const char* part : {"Hello", " there,", " friend!"}) {
      events.push_back(frame("content_block_delta", {{"index", 0}, {"delta", {{"type", "text_delta"}, {"text", part}}}}));
    }
  }
  events.push_back(frame("content_block_stop", {{"index", 0}}));
  events.push_back(frame("message_delta", {{"delta", {{"stop_reason", stop}, {"stop_sequence", nullptr}}}, {"usage", {{"output_tokens", 4}}}}));
  events.push_back(frame("message_stop", json::object()));
  return ScriptedResponse::sse(events);
}

core::ChatResponse assembleStream(core::Dialect dialect, const std::string& body) {
  stream::SseParser parser;
  std::vector<core::ChatEvent> events;
  api::openai::ChunkDecodeState openAiState;
  api::anthropic::EventDecodeState anthropicState;
  parser.feed(body, [&](const stream::SseEvent& event) {
    if (event.data == "[DONE]") return;
    const json data = json::parse(event.data);
    const auto error = dialect == core::Dialect::OpenAi ? api::openai::decodeChunk(data, openAiState, events)
                                                        : api::anthropic::decodeEvent(event.type, data, anthropicState, events);
    EXPECT_FALSE(error) << error->message;
  });
  core::ResponseAccumulator accumulator;
  for (const auto& event : events) accumulator.add(event);
  return accumulator.response();
}

core::ChatResponse decodeWhole(core::Dialect dialect, const std::string& body) {
  auto decoded = dialect == core::Dialect::OpenAi ? api::openai::decodeResponse(json::parse(body))
                                                  : api::anthropic::decodeResponse(json::parse(body));
  EXPECT_TRUE(decoded.ok());
  return decoded.ok() ? decoded.value() : core::ChatResponse{};
}

struct Pair {
  core::Dialect client;
  const char* model;  // picks the upstream
};

class DialectEquivalence : public ::testing::TestWithParam<Pair> {};

TEST_P(DialectEquivalence, StreamedAnswerEqualsTheWholeAnswer) {
  TestUpstream gpt(openAiUpstream);
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
    const auto a = decodeWhole(pair.client, whole.body);
    const auto b = assembleStream(pair.client, streamed.body);
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
        EXPECT_EQ(a.choices[0].text, kText);
      } else {
        ASSERT_EQ(a.choices[0].toolCalls.size(), 1u);
        EXPECT_EQ(json::parse(a.choices[0].toolCalls[0].arguments), json::parse(kArguments));
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
