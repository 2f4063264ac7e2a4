// Conversations kept on the gateway, end to end over loopback: stored Responses continued with
// previous_response_id, read and deleted; x-llmgate-session windows; context shaping on a route.
// The upstream is a real OpenAI Chat Completions server that records what it received.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>

#include "gateway_harness.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;

std::string completion(const std::string& text) {
  return json{{"id", "chatcmpl-up"},
              {"object", "chat.completion"},
              {"created", 1},
              {"model", "gpt-4o"},
              {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", "stop"}}}},
              {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}}}
      .dump();
}

std::string chunk(const json& delta, const json& finish = nullptr) { return openAiChunk(delta.dump(), finish.dump()); }

// Answers "answer N" (N counts the requests), streamed when asked; a user turn "weather?" gets a
// tool call; "break" gets a stream cut by an error event.
ScriptedResponse answerer(const RecordedRequest& request, std::atomic<int>& count) {
  const json body = json::parse(request.body, nullptr, false);
  const int n = ++count;
  const bool stream = body.is_object() && body.value("stream", false);
  std::string last;
  if (body.is_object() && body.contains("messages") && !body["messages"].empty()) {
    const json& message = body["messages"].back();
    if (message.contains("content") && message["content"].is_string()) last = message["content"];
  }
  if (last == "weather?") {
    return ScriptedResponse::json(200, json{{"id", "chatcmpl-tool"}, {"object", "chat.completion"}, {"created", 1}, {"model", "gpt-4o"},
                                            {"choices", {{{"index", 0},
                                                          {"message", {{"role", "assistant"}, {"content", nullptr},
                                                                       {"tool_calls", {{{"id", "call_w"}, {"type", "function"},
                                                                                        {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Oslo\"}"}}}}}}}},
                                                          {"finish_reason", "tool_calls"}}}}}
                                                 .dump());
  }
  if (last == "big") return ScriptedResponse::json(200, completion(std::string(5000, 'x')));
  if (!stream) return ScriptedResponse::json(200, completion("answer " + std::to_string(n)));
  if (last == "break") {
    return ScriptedResponse::sse({chunk({{"role", "assistant"}, {"content", "half"}}),
                                  "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n"});
  }
  return ScriptedResponse::sse({chunk({{"role", "assistant"}, {"content", "answer "}}), chunk({{"content", std::to_string(n)}}),
                                chunk(json::object(), "stop"),
                                "data: " + json{{"id", "c1"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "gpt-4o"},
                                                {"choices", json::array()},
                                                {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}}}
                                                   .dump() +
                                    "\n\n",
                                "data: [DONE]\n\n"});
}

class Conversations : public ::testing::Test {
 protected:
  std::string config(const std::string& extraTop = "") const {
    return R"({)" + extraTop + R"("providers":[
        {"name":"up","type":"openai","base_url":")" + upstream_.baseUrl() + R"(","api_key":"sk-up","retry":{"max_attempts":1},
         "models":["gpt-4o","gpt-shaped"]}]})";
  }
  // The messages the upstream received in request `index` (role: text, or role: call/result ids).
  std::vector<std::string> upstreamTurns(std::size_t index) const {
    const auto requests = upstream_.requests();
    EXPECT_LT(index, requests.size());
    if (index >= requests.size()) return {};
    std::vector<std::string> out;
    const json body = json::parse(requests[index].body);
    for (const auto& message : body["messages"]) {
      std::string line = message["role"].get<std::string>() + ": ";
      if (message.contains("tool_calls")) line += "call " + message["tool_calls"][0]["id"].get<std::string>();
      if (message.contains("tool_call_id")) line += "result " + message["tool_call_id"].get<std::string>() + " ";
      if (message.contains("content") && message["content"].is_string()) line += message["content"].get<std::string>();
      out.push_back(line);
    }
    return out;
  }

  std::atomic<int> count_{0};
  TestUpstream upstream_{[this](const RecordedRequest& request) { return answerer(request, count_); }};
};

json parsed(const HttpResult& result) { return json::parse(result.body, nullptr, false); }

std::string contextOf(const HttpResult& result) {
  auto it = result.headers.find("x-llmgate-context");
  return it == result.headers.end() ? "" : it->second;
}

TEST_F(Conversations, AStoredResponseIsContinuedReadAndDeleted) {
  GatewayHarness gateway(config());
  const auto first = gateway.post("/v1/responses", R"({"model":"gpt-4o","instructions":"Be brief.","input":"hello"})");
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string id = parsed(first)["id"];
  EXPECT_EQ(id.size(), 37u);
  EXPECT_EQ(first.headers.count("x-llmgate-context"), 0u) << "nothing prepended, no shaping";

  const auto second = gateway.post("/v1/responses", R"({"model":"gpt-4o","previous_response_id":")" + id + R"(","input":"and then?"})");
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(contextOf(second), "prior_turns=1");
  EXPECT_EQ(upstreamTurns(0), (std::vector<std::string>{"system: Be brief.", "user: hello"}));
  EXPECT_EQ(upstreamTurns(1), (std::vector<std::string>{"user: hello", "assistant: answer 1", "user: and then?"}))
      << "instructions are not carried over, as OpenAI does";

  // A chain: the third continues the second, which holds the first.
  const std::string secondId = parsed(second)["id"];
  ASSERT_EQ(gateway.post("/v1/responses", R"({"model":"gpt-4o","previous_response_id":")" + secondId + R"(","input":"last"})").status, 200);
  EXPECT_EQ(upstreamTurns(2), (std::vector<std::string>{"user: hello", "assistant: answer 1", "user: and then?",
                                                        "assistant: answer 2", "user: last"}));

  const auto read = gateway.get("/v1/responses/" + id);
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(parsed(read), parsed(first)) << "the stored object is the one the client got";

  const auto deleted = gateway.remove("/v1/responses/" + id);
  ASSERT_EQ(deleted.status, 200);
  EXPECT_EQ(parsed(deleted), (json{{"id", id}, {"object", "response"}, {"deleted", true}}));
  EXPECT_EQ(gateway.get("/v1/responses/" + id).status, 404);
  EXPECT_EQ(gateway.remove("/v1/responses/" + id).status, 404);
  const auto gone = gateway.post("/v1/responses", R"({"model":"gpt-4o","previous_response_id":")" + id + R"(","input":"x"})");
  EXPECT_EQ(gone.status, 400);
  EXPECT_EQ(parsed(gone)["error"]["code"], "previous_response_not_found");
  EXPECT_EQ(parsed(gone)["error"]["param"], "previous_response_id");
  EXPECT_EQ(upstream_.requests().size(), 3u) << "an unknown previous response never reaches the upstream";
  EXPECT_EQ(gateway.post("/v1/responses/" + id, "{}").status, 405);
}

TEST_F(Conversations, StoreFalseKeepsNothing) {
  GatewayHarness gateway(config());
  const auto answer = gateway.post("/v1/responses", R"({"model":"gpt-4o","store":false,"input":"hello"})");
  ASSERT_EQ(answer.status, 200);
  EXPECT_EQ(gateway.get("/v1/responses/" + parsed(answer)["id"].get<std::string>()).status, 404);
}

TEST_F(Conversations, AStreamedResponseReadsBackWithTheIdsTheStreamGave) {
  GatewayHarness gateway(config());
  const auto streamed = gateway.stream("/v1/responses", R"({"model":"gpt-4o","stream":true,"input":"hello"})",
                                       [](const std::string&) { return true; });
  ASSERT_EQ(streamed.status, 200);
  json completed;
  std::size_t from = 0;
  while ((from = streamed.body.find("data: ", from)) != std::string::npos) {
    const auto end = streamed.body.find('\n', from);
    const json event = json::parse(streamed.body.substr(from + 6, end - from - 6));
    if (event["type"] == "response.completed") completed = event["response"];
    from = end;
  }
  ASSERT_TRUE(completed.is_object()) << streamed.body;
  const auto read = gateway.get("/v1/responses/" + completed["id"].get<std::string>());
  ASSERT_EQ(read.status, 200);
  const json stored = parsed(read);
  EXPECT_EQ(stored, completed) << "the object response.completed carried, as it was";
  EXPECT_EQ(stored["output"][0]["content"][0]["text"], "answer 1");
}

TEST_F(Conversations, AnAnswerCutByAnErrorIsNotKept) {
  GatewayHarness gateway(config());
  const auto streamed = gateway.stream("/v1/responses", R"({"model":"gpt-4o","stream":true,"input":"break"})",
                                       [](const std::string&) { return true; });
  ASSERT_NE(streamed.body.find("response.failed"), std::string::npos) << streamed.body;
  const auto idAt = streamed.body.find("\"id\":\"resp_");
  ASSERT_NE(idAt, std::string::npos);
  const std::string id = streamed.body.substr(idAt + 6, 37);
  EXPECT_EQ(gateway.get("/v1/responses/" + id).status, 404);
}

TEST_F(Conversations, ResponsesBelongToTheKeyThatMadeThem) {
  GatewayHarness gateway(config(R"("auth":{"api_keys":["key-a","key-b"]},)"));
  const auto made = gateway.post("/v1/responses", R"({"model":"gpt-4o","input":"secret plan"})", {"Authorization: Bearer key-a"});
  ASSERT_EQ(made.status, 200);
  const std::string id = parsed(made)["id"];
  EXPECT_EQ(gateway.get("/v1/responses/" + id, {"Authorization: Bearer key-b"}).status, 404);
  EXPECT_EQ(gateway.remove("/v1/responses/" + id, {"x-api-key: key-b"}).status, 404);
  EXPECT_EQ(gateway.post("/v1/responses", R"({"model":"gpt-4o","previous_response_id":")" + id + R"(","input":"tell me"})",
                         {"Authorization: Bearer key-b"})
                .status,
            400);
  EXPECT_EQ(gateway.get("/v1/responses/" + id).status, 401);
  EXPECT_EQ(gateway.get("/v1/responses/" + id, {"x-api-key: key-a"}).status, 200) << "the same key by either header";
}

TEST_F(Conversations, AToolRoundTripContinuesFromTheStoredCall) {
  GatewayHarness gateway(config());
  const auto call = gateway.post("/v1/responses", R"({"model":"gpt-4o","input":"weather?","tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]})");
  ASSERT_EQ(call.status, 200) << call.body;
  const json output = parsed(call)["output"];
  ASSERT_EQ(output.back()["type"], "function_call") << output.dump();
  const auto result = gateway.post("/v1/responses", R"({"model":"gpt-4o","previous_response_id":")" + parsed(call)["id"].get<std::string>() +
                                                        R"(","input":[{"type":"function_call_output","call_id":"call_w","output":"-3 C"}]})");
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(upstreamTurns(1), (std::vector<std::string>{"user: weather?", "assistant: call call_w", "tool: result call_w -3 C"}));
}

TEST_F(Conversations, ASessionKeepsASlidingWindowOfTurns) {
  GatewayHarness gateway(config(R"("conversations":{"session_max_turns":2},)"));
  const auto ask = [&](const std::string& session, const std::string& text) {
    return gateway.post("/v1/chat/completions", R"({"model":"gpt-4o","messages":[{"role":"user","content":")" + text + R"("}]})",
                        {"x-llmgate-session: " + session});
  };
  ASSERT_EQ(ask("s1", "one").status, 200);
  ASSERT_EQ(ask("s1", "two").status, 200);
  const auto third = ask("s1", "three");
  ASSERT_EQ(third.status, 200);
  EXPECT_EQ(contextOf(third), "prior_turns=2");
  EXPECT_EQ(upstreamTurns(1), (std::vector<std::string>{"user: one", "assistant: answer 1", "user: two"}));
  EXPECT_EQ(upstreamTurns(2), (std::vector<std::string>{"user: one", "assistant: answer 1", "user: two", "assistant: answer 2",
                                                        "user: three"}));
  ASSERT_EQ(ask("s1", "four").status, 200);
  EXPECT_EQ(upstreamTurns(3), (std::vector<std::string>{"user: two", "assistant: answer 2", "user: three", "assistant: answer 3",
                                                        "user: four"}))
      << "the window keeps the last two turns";
  ASSERT_EQ(ask("s2", "other").status, 200);
  EXPECT_EQ(upstreamTurns(4), (std::vector<std::string>{"user: other"})) << "another session starts empty";

  const auto bad = ask("has space", "x");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(parsed(bad)["error"]["param"], "x-llmgate-session");
  // Without the header the passthrough is untouched: the body goes as the client wrote it.
  const std::string plain = R"({"model":"gpt-4o",  "messages":[{"role":"user","content":"plain"}]})";
  ASSERT_EQ(gateway.post("/v1/chat/completions", plain).status, 200);
  EXPECT_EQ(upstream_.requests().back().body, plain);
}

TEST_F(Conversations, ConcurrentTurnsOfOneSessionAllAnswer) {
  GatewayHarness gateway(config(R"("conversations":{"session_max_turns":4},)"));
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 10; ++i) {
        const bool stream = (c + i) % 2 == 0;
        const std::string body = std::string(R"({"model":"gpt-4o","stream":)") + (stream ? "true" : "false") +
                                 R"(,"messages":[{"role":"user","content":"turn"}]})";
        const auto result = gateway.post("/v1/chat/completions", body, {"x-llmgate-session: shared"});
        if (result.status == 200) ++ok;
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(ok.load(), 80);
  // Whatever the interleaving, the window is whole turns and at most four of them.
  ASSERT_EQ(gateway.post("/v1/chat/completions", R"({"model":"gpt-4o","messages":[{"role":"user","content":"end"}]})",
                         {"x-llmgate-session: shared"})
                .status,
            200);
  const auto turns = upstreamTurns(80);
  ASSERT_EQ(turns.size(), 9u);
  for (std::size_t i = 0; i + 1 < turns.size(); i += 2) {
    EXPECT_EQ(turns[i], "user: turn");
    EXPECT_EQ(turns[i + 1].rfind("assistant: answer ", 0), 0u) << turns[i + 1];
  }
}

TEST_F(Conversations, ContextShapingOnARouteTrimsWhatGoesUpstreamAndSaysSo) {
  GatewayHarness gateway(config(R"("context_shaping":{"gpt-shaped":{"keep_last_turns":2,"drop_duplicates":true}},)"));
  const std::string body = R"({"model":"gpt-shaped","messages":[
      {"role":"system","content":"Be brief."},{"role":"user","content":"u1"},{"role":"assistant","content":"a1"},
      {"role":"user","content":"weather?"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"-3 C"},{"role":"assistant","content":"Cold."},
      {"role":"user","content":"u3"},{"role":"user","content":"u3"}]})";
  const auto shaped = gateway.post("/v1/chat/completions", body);
  ASSERT_EQ(shaped.status, 200) << shaped.body;
  EXPECT_EQ(contextOf(shaped), "dedupe;dropped=1, last_turns;dropped=1");
  EXPECT_EQ(upstreamTurns(0), (std::vector<std::string>{"system: Be brief.", "user: weather?", "assistant: call call_1",
                                                        "tool: result call_1 -3 C", "assistant: Cold.", "user: u3"}));
  // Another model of the same provider has no shaping: its body passes through untouched.
  std::string unshaped = body;
  unshaped.replace(unshaped.find("gpt-shaped"), 10, "gpt-4o");
  const auto plain = gateway.post("/v1/chat/completions", unshaped);
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(plain.headers.count("x-llmgate-context"), 0u);
  EXPECT_EQ(upstream_.requests().back().body, unshaped);
}

TEST_F(Conversations, FittingTheWindowDropsWholeOldestTurns) {
  GatewayHarness gateway(config(R"("context_shaping":{"*":{"context_window_tokens":1500,"reserved_output_tokens":500}},)"));
  const std::string big(2000, 'x');  // about 500 tokens
  const std::string body = R"({"model":"gpt-4o","messages":[{"role":"user","content":")" + big + R"("},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":")" + big + R"("},
      {"role":"user","content":")" + big + R"("},{"role":"assistant","content":"ok"},{"role":"user","content":"now"}]})";
  const auto fitted = gateway.post("/v1/chat/completions", body);
  ASSERT_EQ(fitted.status, 200) << fitted.body;
  const auto turns = upstreamTurns(0);
  ASSERT_EQ(turns.size(), 3u) << "the first turn (the call and its result with it) went";
  EXPECT_EQ(turns[0], "user: " + big);
  EXPECT_EQ(contextOf(fitted).rfind("fit;trimmed=1;tokens=", 0), 0u) << contextOf(fitted);
}

TEST_F(Conversations, AReloadKeepsWhatIsStoredAndTheStoreIsReported) {
  GatewayHarness gateway(config());
  const auto first = gateway.post("/v1/responses", R"({"model":"gpt-4o","input":"hello"})");
  ASSERT_EQ(first.status, 200);
  ASSERT_TRUE(gateway.reload(config(R"("conversations":{"response_ttl_s":60},)")).ok);
  const auto continued = gateway.post(
      "/v1/responses", R"({"model":"gpt-4o","previous_response_id":")" + parsed(first)["id"].get<std::string>() + R"(","input":"again"})");
  ASSERT_EQ(continued.status, 200) << continued.body;
  EXPECT_EQ(contextOf(continued), "prior_turns=1");

  const json health = parsed(gateway.get("/v1/health/detailed"));
  EXPECT_EQ(health["conversations"]["entries"], 2);
  EXPECT_GT(health["conversations"]["bytes"].get<std::size_t>(), 0u);
  EXPECT_EQ(health["conversations"]["max_bytes"], 64 * 1024 * 1024);
  const std::string metrics = gateway.get("/metrics").body;
  EXPECT_NE(metrics.find("\nllmgate_conversations_entries 2\n"), std::string::npos);
  EXPECT_NE(metrics.find("\nllmgate_conversations_evicted_total 0\n"), std::string::npos);
}

TEST_F(Conversations, AMessagesSessionAnswersToolCallsItKept) {
  GatewayHarness gateway(config());
  const auto ask = [&](const std::string& content) {
    return gateway.post("/v1/messages", R"({"model":"gpt-4o","max_tokens":64,"tools":[{"name":"get_weather","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":)" + content + "}]}",
                        {"x-llmgate-session: agent-1", "anthropic-version: 2023-06-01"});
  };
  const auto call = ask(R"("weather?")");
  ASSERT_EQ(call.status, 200) << call.body;
  EXPECT_EQ(parsed(call)["stop_reason"], "tool_use");
  const auto result = ask(R"([{"type":"tool_result","tool_use_id":"call_w","content":"-3 C"}])");
  ASSERT_EQ(result.status, 200) << "a tool result may answer a call the session kept: " << result.body;
  EXPECT_EQ(upstreamTurns(1), (std::vector<std::string>{"user: weather?", "assistant: call call_w", "tool: result call_w -3 C"}));
}

TEST_F(Conversations, AKeptCallTheClientDoesNotAnswerIsDropped) {
  GatewayHarness gateway(config());
  const std::string tools = R"("tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}])";
  const auto ask = [&](const std::string& text) {
    return gateway.post("/v1/chat/completions", R"({"model":"gpt-4o",)" + tools + R"(,"messages":[{"role":"user","content":")" + text + R"("}]})",
                        {"x-llmgate-session: s-drop"});
  };
  ASSERT_EQ(ask("weather?").status, 200);
  const auto next = ask("never mind");
  ASSERT_EQ(next.status, 200);
  EXPECT_EQ(contextOf(next), "prior_turns=1, unanswered_calls_dropped=1");
  EXPECT_EQ(upstreamTurns(1), (std::vector<std::string>{"user: weather?", "user: never mind"}))
      << "an upstream refuses a tool call without its result; the session goes on without it";
}

TEST_F(Conversations, DeveloperInputItemsAreCarriedOverInstructionsAreNot) {
  GatewayHarness gateway(config());
  const auto first = gateway.post("/v1/responses", R"({"model":"gpt-4o","instructions":"Be brief.","input":[
      {"role":"developer","content":"Answer in French."},{"role":"user","content":"hi"}]})");
  ASSERT_EQ(first.status, 200) << first.body;
  const auto next = gateway.post("/v1/responses", R"({"model":"gpt-4o","instructions":"Be kind.","previous_response_id":")" +
                                                      parsed(first)["id"].get<std::string>() + R"(","input":"again"})");
  ASSERT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(upstreamTurns(1), (std::vector<std::string>{"system: Be kind.", "system: Answer in French.", "user: hi",
                                                        "assistant: answer 1", "user: again"}));
  EXPECT_EQ(parsed(next)["instructions"], "Be kind.");
  EXPECT_EQ(parsed(next)["previous_response_id"], parsed(first)["id"]);
}

TEST_F(Conversations, ShapingLeavesWhatItCannotReadToTheFastPath) {
  GatewayHarness gateway(config(R"("context_shaping":{"*":{"drop_duplicates":true}},)"));
  // A content part the gateway's decoder does not take: without shaping it passes through, so
  // shaping must not make it a 400.
  const std::string body = R"({"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]})";
  const auto answer = gateway.post("/v1/chat/completions", body);
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(upstream_.requests().back().body, body);
  EXPECT_EQ(contextOf(answer), "");
}

TEST_F(Conversations, AWindowLargerThanARequestMayBeStartsAfresh) {
  GatewayHarness gateway(config(R"("server":{"max_body_bytes":4096},)"));
  const auto ask = [&](const std::string& text) {
    return gateway.post("/v1/chat/completions", R"({"model":"gpt-4o","messages":[{"role":"user","content":")" + text + R"("}]})",
                        {"x-llmgate-session: s-big"});
  };
  ASSERT_EQ(ask("one").status, 200);
  EXPECT_EQ(contextOf(ask("big")), "prior_turns=1");
  const auto after = ask("three");
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(contextOf(after), "") << "not the stale window from before the large answer";
  EXPECT_EQ(upstreamTurns(2), (std::vector<std::string>{"user: three"}));
}

}  // namespace
}  // namespace llmgate::testing
