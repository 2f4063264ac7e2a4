// /v1/messages end to end, and Claude as an upstream, over real loopback sockets.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "gateway_harness.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string fixture(const std::string& name) {
  std::ifstream file(std::string(LLMGATE_FIXTURES_DIR) + "/" + name, std::ios::binary);
  std::ostringstream out;
  out << file.rdbuf();
  return out.str();
}

std::vector<std::string> sseEvents(const std::string& captured) {
  std::vector<std::string> events;
  std::size_t from = 0;
  for (std::size_t end; (end = captured.find("\n\n", from)) != std::string::npos; from = end + 2) {
    events.push_back(captured.substr(from, end + 2 - from));
  }
  return events;
}

// Both upstream kinds: `claude` speaks Messages, `gpt` speaks Chat Completions.
std::string configFor(const TestUpstream& claude, const TestUpstream& gpt) {
  return R"({"providers":[
    {"name":"mock","type":"mock","models":["mock"]},
    {"name":"claude","type":"anthropic","base_url":"http://127.0.0.1:)" + std::to_string(claude.port()) +
         R"(","api_key":"sk-ant-upstream","models":["claude-sonnet","claude-alias"],"model_map":{"claude-alias":"claude-real"},
     "retry":{"max_attempts":1}},
    {"name":"gpt","type":"openai","base_url":")" + gpt.baseUrl() + R"(","api_key":"sk-gpt","models":["gpt-4o"],"retry":{"max_attempts":1}}]})";
}

// The model list llmgate asks for when a client lists models.
const ScriptedResponse kNoListedModels = ScriptedResponse::json(200, R"({"data":[],"has_more":false})");

ScriptedResponse claudeAnswer(const RecordedRequest& request) {
  if (request.method == "GET") return kNoListedModels;
  const json body = json::parse(request.body);
  if (request.target == "/v1/messages/count_tokens") return ScriptedResponse::json(200, R"({"input_tokens":42})");
  if (body["messages"].back().dump().find("OVERLOAD") != std::string::npos) {
    return ScriptedResponse::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  }
  if (body.value("stream", false)) return ScriptedResponse::sse(sseEvents(fixture("anthropic/stream_tool_use.sse")), 1ms);
  return ScriptedResponse::json(200, R"({"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5",
    "content":[{"type":"text","text":"I'll check."},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"location":"Paris"}}],
    "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":377,"output_tokens":65,"cache_read_input_tokens":10,"cache_creation_input_tokens":0}})");
}

ScriptedResponse gptAnswer(const RecordedRequest& request) {
  if (request.method == "GET") return kNoListedModels;
  const json body = json::parse(request.body);
  if (body.value("stream", false)) return ScriptedResponse::sse(sseEvents(fixture("openai/stream_tool_call_single.sse")), 1ms);
  return ScriptedResponse::json(200, R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o",
    "choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"New York City\"}"}}]},"finish_reason":"tool_calls"}],
    "usage":{"prompt_tokens":44,"completion_tokens":16,"total_tokens":60}})");
}

const std::string kTools =
    R"("tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}])";

struct Fixture {
  TestUpstream claude{claudeAnswer};
  TestUpstream gpt{gptAnswer};
  GatewayHarness gateway{configFor(claude, gpt)};
};

TEST(AnthropicMessages, FastPathForwardsBytesWithOnlyModelAndAuthChanged) {
  Fixture f;
  const std::string body = R"({"model":"claude-alias","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"weather?"}],)" + kTools + "}";
  auto result = f.gateway.post("/v1/messages", body,
                               {"x-api-key: client-key", "anthropic-version: 2023-06-01", "anthropic-beta: tools-2024-04-04"});
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.body, fixture("anthropic/stream_tool_use.sse"));  // relayed untouched
  auto sent = f.claude.requests().at(0);
  EXPECT_EQ(sent.target, "/v1/messages");
  EXPECT_EQ(sent.header("x-api-key"), "sk-ant-upstream");
  EXPECT_EQ(sent.header("anthropic-version"), "2023-06-01");
  EXPECT_EQ(sent.header("anthropic-beta"), "tools-2024-04-04");
  std::string expected = body;
  expected.replace(expected.find("claude-alias"), 12, "claude-real");
  EXPECT_EQ(sent.body, expected);
}

TEST(AnthropicMessages, OpenAiClientReachesClaudeStreamedAndNot) {
  Fixture f;
  const std::string request = R"({"model":"claude-sonnet","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"weather?"}],
    "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]})";
  auto whole = f.gateway.post("/v1/chat/completions", request);
  ASSERT_EQ(whole.status, 200) << whole.body;
  auto message = json::parse(whole.body)["choices"][0]["message"];
  EXPECT_EQ(message["content"], "I'll check.");
  EXPECT_EQ(message["tool_calls"][0]["id"], "toolu_01");
  EXPECT_EQ(json::parse(message["tool_calls"][0]["function"]["arguments"].get<std::string>())["location"], "Paris");
  EXPECT_EQ(json::parse(whole.body)["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(json::parse(whole.body)["usage"]["prompt_tokens"], 387);  // cache reads count as prompt tokens
  EXPECT_EQ(json::parse(whole.body)["usage"]["prompt_tokens_details"]["cached_tokens"], 10);
  const json upstream = json::parse(f.claude.requests().at(0).body);
  EXPECT_EQ(upstream["system"], "Be brief.");
  EXPECT_EQ(upstream["max_tokens"], 4096);
  EXPECT_EQ(upstream["messages"].size(), 1u);
  EXPECT_EQ(f.claude.requests().at(0).header("x-api-key"), "sk-ant-upstream");

  std::string streamed = request;
  streamed.insert(1, R"("stream":true,"stream_options":{"include_usage":true},)");
  auto chunks = f.gateway.post("/v1/chat/completions", streamed);
  ASSERT_EQ(chunks.status, 200);
  EXPECT_NE(chunks.body.find(R"("tool_calls":[{"index":0,"id":"toolu_01NRLabsLyVHZPKxbKvkfSMn","type":"function")"),
            std::string::npos)
      << chunks.body;
  EXPECT_NE(chunks.body.find(R"("finish_reason":"tool_calls")"), std::string::npos);
  EXPECT_NE(chunks.body.find(R"("prompt_tokens":377)"), std::string::npos);
  EXPECT_EQ(chunks.body.substr(chunks.body.size() - 14), "data: [DONE]\n\n");
}

TEST(AnthropicMessages, AnthropicClientReachesAnOpenAiUpstream) {
  Fixture f;
  const std::string request = R"({"model":"gpt-4o","max_tokens":50,"system":"Be brief.","messages":[{"role":"user","content":"weather?"}],)" + kTools + "}";
  auto whole = f.gateway.post("/v1/messages", request);
  ASSERT_EQ(whole.status, 200) << whole.body;
  auto message = json::parse(whole.body);
  EXPECT_EQ(message["type"], "message");
  EXPECT_EQ(message["stop_reason"], "tool_use");
  EXPECT_EQ(message["content"][0]["type"], "tool_use");
  EXPECT_EQ(message["content"][0]["input"]["city"], "New York City");
  EXPECT_EQ(message["usage"]["input_tokens"], 44);
  const json upstream = json::parse(f.gpt.requests().at(0).body);
  EXPECT_EQ(upstream["messages"][0], json::parse(R"({"role":"system","content":"Be brief."})"));
  EXPECT_EQ(upstream["max_tokens"], 50);
  EXPECT_EQ(upstream["tools"][0]["function"]["name"], "get_weather");

  std::string streamed = request;
  streamed.insert(1, R"("stream":true,)");
  auto events = f.gateway.post("/v1/messages", streamed);
  ASSERT_EQ(events.status, 200);
  EXPECT_EQ(events.body.rfind("event: message_start\n", 0), 0u);
  EXPECT_NE(events.body.find(R"("content_block":{"id":"call_4XzlGBLtUe9dy3GVNV4jhq7h","input":{},"name":"get_weather","type":"tool_use"})"),
            std::string::npos)
      << events.body;
  EXPECT_NE(events.body.find(R"("stop_reason":"tool_use")"), std::string::npos);
  EXPECT_EQ(events.body.substr(events.body.size() - 51), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

TEST(AnthropicMessages, ErrorsComeInAnthropicShape) {
  Fixture f;
  auto missing = f.gateway.post("/v1/messages", R"({"model":"mock","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(json::parse(missing.body), json::parse(R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required integer"}})"));
  auto orphan = f.gateway.post("/v1/messages", R"({"model":"mock","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x"}]}]})");
  EXPECT_EQ(orphan.status, 400);
  auto unknown = f.gateway.post("/v1/messages", R"({"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"]["type"], "not_found_error");
  auto malformed = f.gateway.post("/v1/messages", "{");
  EXPECT_EQ(json::parse(malformed.body)["type"], "error");
  auto overloaded = f.gateway.post("/v1/messages", R"({"model":"claude-sonnet","max_tokens":5,"messages":[{"role":"user","content":"OVERLOAD"}]})");
  EXPECT_EQ(overloaded.status, 529);
  EXPECT_EQ(json::parse(overloaded.body)["error"]["type"], "overloaded_error");
  // The same upstream error reaches an OpenAI client in its own shape.
  auto viaOpenAi = f.gateway.post("/v1/chat/completions", R"({"model":"claude-sonnet","messages":[{"role":"user","content":"OVERLOAD"}]})");
  EXPECT_EQ(viaOpenAi.status, 529);
  EXPECT_EQ(json::parse(viaOpenAi.body)["error"]["message"], "Overloaded");
}

TEST(AnthropicMessages, CountTokensAsksClaudeOrEstimates) {
  Fixture f;
  auto counted = f.gateway.post("/v1/messages/count_tokens", R"({"model":"claude-sonnet","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(counted.status, 200);
  EXPECT_EQ(json::parse(counted.body)["input_tokens"], 42);
  EXPECT_EQ(f.claude.requests().at(0).target, "/v1/messages/count_tokens");
  auto estimated = f.gateway.post("/v1/messages/count_tokens", R"({"model":"gpt-4o","messages":[{"role":"user","content":"twelve chars"}]})");
  ASSERT_EQ(estimated.status, 200);
  EXPECT_EQ(json::parse(estimated.body)["input_tokens"], 3);
  EXPECT_EQ(estimated.headers["x-llmgate-token-count"], "estimate");
}

TEST(AnthropicMessages, MockAnswersAnthropicClients) {
  Fixture f;
  auto whole = f.gateway.post("/v1/messages", R"({"model":"mock","max_tokens":64,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(whole.status, 200);
  EXPECT_EQ(json::parse(whole.body)["content"][0]["text"], "Hello from the llmgate mock provider. You said: hi");
  auto models = f.gateway.get("/v1/models", {"anthropic-version: 2023-06-01"});
  EXPECT_EQ(json::parse(models.body)["data"][0]["type"], "model");
  EXPECT_EQ(json::parse(models.body)["has_more"], false);
}

}  // namespace
}  // namespace llmgate::testing
