// The response cache end to end over loopback: what hits and what misses, one answer for a
// client that streams and one that does not, what is never kept, the x-llmgate-cache controls,
// expiry, and what /metrics says. The upstream numbers its answers, so a hit is the same number.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "gateway_harness.hpp"
#include "redis_server.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;

std::string chunk(const json& delta, const json& finish = nullptr) { return openAiChunk(delta.dump(), finish.dump()); }

class ResponseCacheTest : public ::testing::Test {
 protected:
  std::string config(const std::string& routes = R"({"gpt-4o":{},"gpt-sampled":{"sampled":true},"gpt-brief":{"ttl_s":1}})") const {
    return R"({"response_cache":{"routes":)" + routes + R"(},"providers":[
        {"name":"up","type":"openai","base_url":")" + upstream_.baseUrl() + R"(","api_key":"sk-up","retry":{"max_attempts":1},
         "models":["gpt-4o","gpt-sampled","gpt-brief","gpt-other"]}]})";
  }
  static std::string chat(const std::string& model, const std::string& text, const std::string& extra = R"(,"temperature":0)") {
    return R"({"model":")" + model + R"(","messages":[{"role":"user","content":")" + text + R"("}])" + extra + "}";
  }
  static std::string answerOf(const HttpResult& result) {
    const json body = json::parse(result.body, nullptr, false);
    if (!body.is_object() || !body.contains("choices")) return "<" + result.body + ">";
    return body["choices"][0]["message"]["content"].get<std::string>();
  }
  static std::string status(const HttpResult& result) {
    auto it = result.headers.find("x-llmgate-cache-status");
    return it == result.headers.end() ? "<none>" : it->second;
  }

  std::atomic<int> calls_{0};
  // Answers "answer N"; "fail" gets a 500, "cut" a stream cut by an error event.
  TestUpstream upstream_{[this](const RecordedRequest& request) {
    const int n = ++calls_;
    const json body = json::parse(request.body, nullptr, false);
    const std::string text = body["messages"].back()["content"].get<std::string>();
    const std::string answer = "answer " + std::to_string(n);
    if (text == "fail") return ScriptedResponse::json(500, R"({"error":{"message":"boom","type":"server_error"}})");
    if (body.value("stream", false)) {
      if (text == "cut") {
        return ScriptedResponse::sse({chunk({{"role", "assistant"}, {"content", "half"}}),
                                      "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n"});
      }
      return ScriptedResponse::sse({chunk({{"role", "assistant"}, {"content", answer}}), chunk(json::object(), "stop"),
                                    "data: [DONE]\n\n"});
    }
    return ScriptedResponse::json(
        200, json{{"id", "chatcmpl-" + std::to_string(n)}, {"object", "chat.completion"}, {"created", 1}, {"model", "gpt-4o"},
                  {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", answer}}}, {"finish_reason", "stop"}}}},
                  {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}}}
                 .dump());
  }};
};

TEST_F(ResponseCacheTest, TheSameRequestIsAnsweredOnceHoweverItsJsonIsWritten) {
  GatewayHarness gateway(config());
  const auto first = gateway.post("/v1/chat/completions", chat("gpt-4o", "hi"));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(status(first), "miss");
  const auto second = gateway.post("/v1/chat/completions", chat("gpt-4o", "hi"));
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(status(second), "hit");
  EXPECT_EQ(answerOf(second), answerOf(first));
  EXPECT_NE(json::parse(second.body)["id"], json::parse(first.body)["id"]) << "a hit is an answer of its own";
  EXPECT_EQ(json::parse(second.body)["usage"]["total_tokens"], 7);
  // Members in another order, other whitespace, a user and stream:false: the same question.
  const auto reordered = gateway.post("/v1/chat/completions",
                                      R"({ "temperature" : 0, "user":"u-42", "stream":false,
                                           "messages" : [ {"content":"hi", "role":"user"} ], "model":"gpt-4o" })");
  EXPECT_EQ(status(reordered), "hit");
  EXPECT_EQ(answerOf(reordered), answerOf(first));
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(ResponseCacheTest, WhatChangesTheAnswerChangesTheEntry) {
  GatewayHarness gateway(config());
  ASSERT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-4o", "hi"))), "miss");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-4o", "hello"))), "miss");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-4o", "hi", R"(,"temperature":0,"max_tokens":5)"))), "miss");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-sampled", "hi"))), "miss") << "another route";
  EXPECT_EQ(calls_.load(), 4);
}

TEST_F(ResponseCacheTest, ModelsMatchedByOnePatternNeverShareAnEntry) {
  GatewayHarness gateway(R"({"response_cache":{"routes":{"*":{}}},"providers":[
      {"name":"up","type":"openai","base_url":")" + upstream_.baseUrl() + R"(","api_key":"sk-up","models":["gpt-*"]}]})");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-small", "same"))), "miss");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-large", "same"))), "miss") << "another upstream model";
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-small", "same"))), "hit");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-small", "same", R"(,"temperature":0,"logprobs":true)"))),
            "bypass") << "log probabilities would be lost";
  EXPECT_EQ(calls_.load(), 3);
}

TEST_F(ResponseCacheTest, OneAnswerServesAClientThatStreamsAndOneThatDoesNot) {
  GatewayHarness gateway(config());
  const auto plain = gateway.post("/v1/chat/completions", chat("gpt-4o", "both"));
  ASSERT_EQ(status(plain), "miss");
  std::string streamed;
  const auto stream = gateway.stream("/v1/chat/completions", chat("gpt-4o", "both", R"(,"temperature":0,"stream":true)"),
                                     [&](const std::string& piece) {
                                       streamed += piece;
                                       return true;
                                     });
  EXPECT_EQ(stream.status, 200);
  EXPECT_EQ(status(stream), "hit");
  EXPECT_EQ(clientAnswer(core::Dialect::OpenAi, streamed, true).choices.at(0).text, answerOf(plain));
  EXPECT_NE(streamed.find("data: [DONE]"), std::string::npos);

  // And the other way: a streamed answer kept, then read whole.
  std::string first;
  gateway.stream("/v1/chat/completions", chat("gpt-4o", "streamed first", R"(,"temperature":0,"stream":true)"),
                 [&](const std::string& piece) {
                   first += piece;
                   return true;
                 });
  const auto whole = gateway.post("/v1/chat/completions", chat("gpt-4o", "streamed first"));
  EXPECT_EQ(status(whole), "hit");
  EXPECT_EQ(answerOf(whole), clientAnswer(core::Dialect::OpenAi, first, true).choices.at(0).text);
  EXPECT_EQ(calls_.load(), 2);
}

TEST_F(ResponseCacheTest, SampledAnswersAreKeptOnlyWhenTheRouteOrTheRequestSaysSo) {
  GatewayHarness gateway(config());
  const std::string sampled = chat("gpt-4o", "sampled", R"(,"temperature":0.7)");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", sampled)), "bypass");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", sampled)), "bypass");
  const std::string unset = chat("gpt-4o", "no temperature", "");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", unset)), "bypass") << "the provider's default samples";
  EXPECT_EQ(calls_.load(), 3);
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", sampled, {"x-llmgate-cache: on"})), "miss");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", sampled, {"x-llmgate-cache: on"})), "hit");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-sampled", "s", R"(,"temperature":1)"))), "miss");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-sampled", "s", R"(,"temperature":1)"))), "hit");
  // A route without cache settings caches only when asked.
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-other", "o"))), "bypass");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-other", "o"), {"x-llmgate-cache: on"})), "miss");
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-other", "o"), {"x-llmgate-cache: on"})), "hit");
  EXPECT_EQ(calls_.load(), 7);
}

TEST_F(ResponseCacheTest, OffSkipsItAndRefreshReplacesTheEntry) {
  GatewayHarness gateway(config());
  const auto kept = gateway.post("/v1/chat/completions", chat("gpt-4o", "q"));
  ASSERT_EQ(status(kept), "miss");
  const auto off = gateway.post("/v1/chat/completions", chat("gpt-4o", "q"), {"x-llmgate-cache: off"});
  EXPECT_EQ(status(off), "bypass");
  EXPECT_NE(answerOf(off), answerOf(kept));
  const auto refreshed = gateway.post("/v1/chat/completions", chat("gpt-4o", "q"), {"x-llmgate-cache: refresh"});
  EXPECT_EQ(status(refreshed), "refresh");
  const auto after = gateway.post("/v1/chat/completions", chat("gpt-4o", "q"));
  EXPECT_EQ(status(after), "hit");
  EXPECT_EQ(answerOf(after), answerOf(refreshed));
  EXPECT_EQ(calls_.load(), 3);
  const auto bad = gateway.post("/v1/chat/completions", chat("gpt-4o", "q"), {"x-llmgate-cache: maybe"});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["error"]["param"], "x-llmgate-cache");
}

TEST_F(ResponseCacheTest, ErrorsAndCutStreamsAreNeverKept) {
  GatewayHarness gateway(config());
  EXPECT_EQ(gateway.post("/v1/chat/completions", chat("gpt-4o", "fail")).status, 500);
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-4o", "fail"))), "miss");
  const std::string cut = chat("gpt-4o", "cut", R"(,"temperature":0,"stream":true)");
  gateway.stream("/v1/chat/completions", cut, [](const std::string&) { return true; });
  const auto again = gateway.stream("/v1/chat/completions", cut, [](const std::string&) { return true; });
  EXPECT_EQ(status(again), "miss");
  EXPECT_EQ(calls_.load(), 4);
}

TEST_F(ResponseCacheTest, EntriesExpire) {
  GatewayHarness gateway(config());
  ASSERT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-brief", "e"))), "miss");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-brief", "e"))), "hit");
  // The route's ttl_s is 1, from when the answer was asked: a hit does not make it live longer.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-brief", "e"))), "miss");
}

TEST_F(ResponseCacheTest, TheAnthropicDialectGetsItsOwnShapeFromTheCache) {
  GatewayHarness gateway(config());
  const std::string body = R"({"model":"gpt-4o","max_tokens":10,"temperature":0,"messages":[{"role":"user","content":"a"}]})";
  const auto first = gateway.post("/v1/messages", body);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(status(first), "miss");
  const auto second = gateway.post("/v1/messages", body);
  EXPECT_EQ(status(second), "hit");
  const json answer = json::parse(second.body);
  EXPECT_EQ(answer["type"], "message");
  EXPECT_EQ(answer["content"][0]["text"], json::parse(first.body)["content"][0]["text"]);
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(ResponseCacheTest, CountedInMetricsAndHealthAndSilentWhenNotConfigured) {
  {
    GatewayHarness gateway(config());
    gateway.post("/v1/chat/completions", chat("gpt-4o", "m"));
    gateway.post("/v1/chat/completions", chat("gpt-4o", "m"));
    gateway.post("/v1/chat/completions", chat("gpt-4o", "m"));
    const auto metrics = gateway.get("/metrics").body;
    EXPECT_NE(metrics.find("llmgate_response_cache_hits_total 2"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("llmgate_response_cache_misses_total 1"), std::string::npos);
    EXPECT_NE(metrics.find("llmgate_response_cache_entries 1"), std::string::npos);
    const json health = json::parse(gateway.get("/v1/health/detailed").body);
    EXPECT_EQ(health["response_cache"]["hits"], 2);
    EXPECT_GT(health["response_cache"]["bytes"].get<int>(), 0);
  }
  GatewayHarness plain(R"({"providers":[{"name":"up","type":"openai","base_url":")" + upstream_.baseUrl() +
                       R"(","api_key":"sk-up","models":["gpt-4o"]}]})");
  const auto result = plain.post("/v1/chat/completions", chat("gpt-4o", "m"));
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.headers.count("x-llmgate-cache-status"), 0u) << "no cache configured, nothing said";
}

TEST_F(ResponseCacheTest, AHitCountsAsAKeysRequestButSpendsNoTokens) {
  GatewayHarness gateway(R"({"auth":{"keys":[{"name":"k","key":"sk-k","rpm":100,"budget_tokens":1000}]},)"
                         R"("response_cache":{"routes":{"*":{}}},"providers":[
      {"name":"up","type":"openai","base_url":")" + upstream_.baseUrl() + R"(","api_key":"sk-up","models":["gpt-4o"]}]})");
  for (int i = 0; i < 3; ++i) {
    const auto result = gateway.post("/v1/chat/completions", chat("gpt-4o", "k"), {"Authorization: Bearer sk-k"});
    ASSERT_EQ(result.status, 200);
    EXPECT_EQ(result.headers.at("x-ratelimit-remaining-requests"), std::to_string(99 - i));
  }
  ASSERT_TRUE(eventually([&] { return gateway.gateway().limiter().usage().at(0).inFlight == 0; }));
  const auto usage = gateway.gateway().limiter().usage().at(0);
  EXPECT_EQ(usage.requests, 3u);
  EXPECT_EQ(usage.budgetUsed, 7) << "the one answer that came from the upstream";
}

// Replicas sharing answers through a real redis-server.
class SharedResponseCache : public ResponseCacheTest {
 protected:
  std::string sharedConfig() const {
    return R"({"redis":{"url":")" + redis_.url() + R"(","timeout_ms":50},)" + config().substr(1);
  }
  /// The Redis key the one answer kept there is under; empty while there is none.
  std::string storedKey() const { return redis_.cli("--scan --pattern 'llmgate:cache:*'"); }
  static std::string level(const HttpResult& result) {
    auto it = result.headers.find("x-llmgate-cache-level");
    return it == result.headers.end() ? "memory" : it->second;
  }
  RedisServer redis_;
};

TEST_F(SharedResponseCache, AMissOnOneReplicaIsAHitOnTheOther) {
  ASSERT_TRUE(redis_.running());
  GatewayHarness first(sharedConfig()), second(sharedConfig());
  ASSERT_TRUE(redisConnected(first));
  ASSERT_TRUE(redisConnected(second));
  const auto asked = first.post("/v1/chat/completions", chat("gpt-4o", "shared"));
  ASSERT_EQ(asked.status, 200) << asked.body;
  ASSERT_EQ(status(asked), "miss");
  ASSERT_TRUE(eventually([&] { return !storedKey().empty(); })) << "kept in Redis";
  const auto ttl = std::stoll(redis_.cli("PTTL " + storedKey()));
  EXPECT_GT(ttl, 100000);
  EXPECT_LE(ttl, 120000) << "the route's ttl_s (120 by default)";

  const auto answered = second.post("/v1/chat/completions", chat("gpt-4o", "shared"));
  ASSERT_EQ(answered.status, 200) << answered.body;
  EXPECT_EQ(status(answered), "hit");
  EXPECT_EQ(level(answered), "shared");
  EXPECT_EQ(answerOf(answered), answerOf(asked));
  EXPECT_EQ(json::parse(answered.body)["usage"]["total_tokens"], 7);
  // Now in the second replica's memory too.
  const auto again = second.post("/v1/chat/completions", chat("gpt-4o", "shared"));
  EXPECT_EQ(status(again), "hit");
  EXPECT_EQ(level(again), "memory");
  EXPECT_EQ(calls_.load(), 1) << "one upstream call for both replicas";
  const auto metrics = second.get("/metrics").body;
  EXPECT_NE(metrics.find("llmgate_response_cache_shared_hits_total 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("llmgate_response_cache_hits_total 2"), std::string::npos);
}

TEST_F(SharedResponseCache, AStreamedAnswerKeptByOneReplicaServesAClientThatDoesNotStreamOnTheOther) {
  ASSERT_TRUE(redis_.running());
  GatewayHarness first(sharedConfig()), second(sharedConfig());
  ASSERT_TRUE(redisConnected(first));
  ASSERT_TRUE(redisConnected(second));
  const auto streamed = first.stream("/v1/chat/completions", chat("gpt-4o", "s", R"(,"temperature":0,"stream":true)"),
                                     [](const std::string&) { return true; });
  ASSERT_EQ(status(streamed), "miss");
  ASSERT_TRUE(eventually([&] { return !storedKey().empty(); }));
  const auto plain = second.post("/v1/chat/completions", chat("gpt-4o", "s"));
  EXPECT_EQ(status(plain), "hit");
  EXPECT_EQ(level(plain), "shared");
  EXPECT_EQ(answerOf(plain), "answer 1");
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(SharedResponseCache, EntriesItCannotReadAreMissesAndAreReplaced) {
  ASSERT_TRUE(redis_.running());
  {
    GatewayHarness writer(sharedConfig());
    ASSERT_TRUE(redisConnected(writer));
    ASSERT_EQ(status(writer.post("/v1/chat/completions", chat("gpt-4o", "bad"))), "miss");
  }
  ASSERT_TRUE(eventually([&] { return !storedKey().empty(); }));
  const std::string key = storedKey();
  const std::vector<std::string> unreadable{
      "not json",
      R"({"layout":1})",                                               // no choices
      R"({"layout":1,"choices":[]})",                                  // none
      R"({"layout":2,"choices":[{"text":"x"}]})",                     // another layout
      R"({"layout":"1","choices":[{"text":"x"}]})",                   // the layout a string
      R"({"layout":1,"choices":[{"text":5}]})",                        // a number for text
      R"({"layout":1,"choices":[{"finish":99}]})",                     // no such finish reason
      R"({"layout":1,"choices":[{"index":-1}]})",                      // a negative index
      R"({"layout":1,"choices":"x"})",                                 // choices not an array
      R"({"layout":1,"choices":[7]})",                                 // a choice not an object
      R"({"layout":1,"choices":[{"tool_calls":[{"id":[]}]}]})",       // a tool call's id an array
      R"({"layout":1,"choices":[{"tool_calls":{}}]})",                // tool calls an object
      R"({"layout":1,"usage":{"input":"x"},"choices":[{}]})",         // a count a string
      R"({"layout":1,"usage":[],"choices":[{}]})",                    // usage an array
      R"([1,2,3])",
  };
  int expectedCalls = 1;
  for (const auto& value : unreadable) {
    ASSERT_EQ(redis_.cli("SET " + key + " '" + value + "'"), "OK") << value;
    GatewayHarness reader(sharedConfig());  // nothing in its memory
    ASSERT_TRUE(redisConnected(reader));
    const auto result = reader.post("/v1/chat/completions", chat("gpt-4o", "bad"));
    ASSERT_EQ(result.status, 200) << value << ": " << result.body;
    EXPECT_EQ(status(result), "miss") << value;
    EXPECT_EQ(answerOf(result), "answer " + std::to_string(++expectedCalls)) << value;
    EXPECT_EQ(json::parse(reader.get("/v1/health/detailed").body)["response_cache"]["shared_unreadable"], 1) << value;
    // The answer just asked for replaces what could not be read.
    EXPECT_TRUE(eventually([&] { return redis_.cli("GET " + key).find("\"layout\":1") != std::string::npos &&
                                        redis_.cli("GET " + key).find("answer " + std::to_string(expectedCalls)) != std::string::npos; }))
        << value;
  }
  // A key of another Redis type: GET answers an error, which is a miss too.
  redis_.cli("DEL " + key);
  redis_.cli("RPUSH " + key + " a");
  GatewayHarness reader(sharedConfig());
  ASSERT_TRUE(redisConnected(reader));
  const auto result = reader.post("/v1/chat/completions", chat("gpt-4o", "bad"));
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(status(result), "miss");
  EXPECT_EQ(calls_.load(), expectedCalls + 1);
}

TEST_F(SharedResponseCache, ARedisDownOrHungIsAMissNeverAnError) {
  ASSERT_TRUE(redis_.running());
  GatewayHarness gateway(sharedConfig());
  ASSERT_TRUE(redisConnected(gateway));
  redis_.pause();  // accepts nothing, answers nothing
  auto started = std::chrono::steady_clock::now();
  const auto hung = gateway.post("/v1/chat/completions", chat("gpt-4o", "down"));
  EXPECT_EQ(hung.status, 200) << hung.body;
  EXPECT_EQ(status(hung), "miss");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(500)) << "at most redis.timeout_ms waited";
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-4o", "down"))), "hit") << "memory still keeps it";
  redis_.resume();
  redis_.stop();
  started = std::chrono::steady_clock::now();
  const auto gone = gateway.post("/v1/chat/completions", chat("gpt-4o", "gone"));
  EXPECT_EQ(gone.status, 200);
  EXPECT_EQ(status(gone), "miss");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(500));
  EXPECT_EQ(status(gateway.post("/v1/chat/completions", chat("gpt-4o", "gone"))), "hit");
  const json health = json::parse(gateway.get("/v1/health/detailed").body);
  EXPECT_EQ(health["shared_state"]["backend"], "redis");
  EXPECT_EQ(health["status"], "degraded");
  EXPECT_EQ(calls_.load(), 2);
}

}  // namespace
}  // namespace llmgate::testing

namespace llmgate::testing {
namespace {

// Sends a request over a raw socket and returns it open: closing it is a client that leaves.
// A `receiveBuffer` in bytes makes it a client whose kernel takes little before it reads.
int sendAndKeepOpen(const std::string& url, const std::string& body, int receiveBuffer = 0) {
  const auto port = std::stoi(url.substr(url.rfind(':') + 1));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (receiveBuffer > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return -1;
  const std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  if (::write(fd, request.data(), request.size()) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class Coalescing : public ::testing::Test {
 protected:
  std::string config() const {
    return R"({"response_cache":{"routes":{"gpt-shared":{"coalesce":true}}},"providers":[
        {"name":"up","type":"openai","base_url":")" + upstream_.baseUrl() + R"(","api_key":"sk-up","retry":{"max_attempts":1},
         "models":["gpt-shared"]}]})";
  }
  static std::string body(bool stream) {
    return std::string(R"({"model":"gpt-shared","temperature":0,"messages":[{"role":"user","content":"same"}])") +
           (stream ? R"(,"stream":true})" : "}");
  }
  // A streaming client on a thread of its own: its status and all it read, once joined.
  static std::thread streamOnThread(GatewayHarness& gateway, HttpResult& result, std::string& received) {
    return std::thread([&gateway, &result, &received] {
      result = gateway.stream("/v1/chat/completions", body(true), [&received](const std::string& piece) {
        received += piece;
        return true;
      });
    });
  }
  std::atomic<bool> release_{false};
  std::atomic<int> calls_{0};
  // "shared answer", streamed in three pieces (the first sent at once) or whole, held back
  // until the test releases it: the request that leads may be either kind.
  TestUpstream upstream_{[this](const RecordedRequest& request) {
    ++calls_;
    const bool stream = json::parse(request.body, nullptr, false).value("stream", false);
    auto response =
        stream ? ScriptedResponse::sse({chunk({{"role", "assistant"}, {"content", "shared "}}), chunk({{"content", "answer"}}),
                                        chunk(json::object(), "stop"), "data: [DONE]\n\n"})
               : ScriptedResponse::json(200, json{{"id", "chatcmpl-s"}, {"object", "chat.completion"}, {"created", 1},
                                                  {"model", "gpt-shared"},
                                                  {"choices", {{{"index", 0},
                                                                {"message", {{"role", "assistant"}, {"content", "shared answer"}}},
                                                                {"finish_reason", "stop"}}}}}
                                                 .dump());
    response.gate = [this] { return release_.load(); };
    response.gateIndex = stream ? 1 : 0;
    return response;
  }};
};

TEST_F(Coalescing, AHundredIdenticalRequestsMakeOneUpstreamCall) {
  GatewayHarness gateway(config());
  constexpr int kClients = 100;
  std::vector<HttpResult> results(kClients);
  std::vector<std::string> streamed(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      // Half stream, half do not: one answer serves both.
      if (i % 2 == 0) {
        results[i] = gateway.stream("/v1/chat/completions", body(true), [&, i](const std::string& piece) {
          streamed[i] += piece;
          return true;
        });
      } else {
        results[i] = gateway.post("/v1/chat/completions", body(false));
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return gateway.gateway().coalescedRequests() == kClients - 1; }, std::chrono::seconds(20)))
      << gateway.gateway().coalescedRequests() << " followed";
  release_ = true;
  for (auto& client : clients) client.join();
  EXPECT_EQ(calls_.load(), 1);
  int coalesced = 0;
  for (int i = 0; i < kClients; ++i) {
    ASSERT_EQ(results[i].status, 200) << i << ": " << results[i].body;
    const std::string text = i % 2 == 0 ? clientAnswer(core::Dialect::OpenAi, streamed[i], true).choices.at(0).text
                                        : json::parse(results[i].body)["choices"][0]["message"]["content"].get<std::string>();
    EXPECT_EQ(text, "shared answer") << i;
    coalesced += results[i].headers.count("x-llmgate-coalesced");
  }
  EXPECT_EQ(coalesced, kClients - 1);
  EXPECT_NE(gateway.get("/metrics").body.find("llmgate_coalesced_requests_total 99"), std::string::npos);
  // Kept by the leader: the next one is a hit.
  EXPECT_EQ(gateway.post("/v1/chat/completions", body(false)).headers.at("x-llmgate-cache-status"), "hit");
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(Coalescing, TheCallGoesOnWhileAnyoneWaitsAndEndsWhenTheLastLeaves) {
  GatewayHarness gateway(config());
  // The leader's client leaves; its follower still gets the whole answer.
  const int leader = sendAndKeepOpen(gateway.url(""), body(true));
  ASSERT_GE(leader, 0);
  ASSERT_TRUE(eventually([&] { return calls_.load() == 1; }));
  std::string streamed;
  HttpResult follower;
  std::thread reader = streamOnThread(gateway, follower, streamed);
  ASSERT_TRUE(eventually([&] { return gateway.gateway().coalescedRequests() == 1; }));
  ::close(leader);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the gateway sees it leave
  EXPECT_FALSE(upstream_.lastPeerGone().has_value()) << "the upstream call was not cancelled";
  release_ = true;
  reader.join();
  EXPECT_EQ(follower.status, 200);
  EXPECT_EQ(clientAnswer(core::Dialect::OpenAi, streamed, true).choices.at(0).text, "shared answer");
  EXPECT_EQ(calls_.load(), 1);

  // Everyone leaves before the answer: the upstream call is cancelled.
  release_ = false;
  const std::string other = R"({"model":"gpt-shared","temperature":0,"stream":true,"messages":[{"role":"user","content":"other"}]})";
  const int first = sendAndKeepOpen(gateway.url(""), other);
  ASSERT_TRUE(eventually([&] { return calls_.load() == 2; }));
  const int second = sendAndKeepOpen(gateway.url(""), other);
  ASSERT_TRUE(eventually([&] { return gateway.gateway().coalescedRequests() == 2; }));
  const auto goneBefore = upstream_.lastPeerGone();
  ::close(first);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(upstream_.lastPeerGone(), goneBefore) << "one still waits: the call goes on";
  ::close(second);
  EXPECT_TRUE(eventually([&] { return upstream_.lastPeerGone() != goneBefore; })) << "the last one left: cancelled";
  release_ = true;
}

// 8 MB of answer at 2 MB/s, held back after its first event: more than the 4 MiB a client may
// fall behind the others plus what a client with a small receive buffer holds, at a pace a
// reading client keeps even under the sanitizers.
class CoalescingBigAnswer : public Coalescing {
 protected:
  static constexpr std::size_t kAnswerBytes = 8000000;
  static constexpr int kSmallReceiveBuffer = 4096;
  CoalescingBigAnswer() {
    events_.push_back(chunk({{"role", "assistant"}, {"content", ""}}));
    const std::string piece(100000, 'x');
    for (std::size_t i = 0; i < kAnswerBytes / piece.size(); ++i) events_.push_back(chunk({{"content", piece}}));
    events_.push_back(chunk(json::object(), "stop"));
    events_.push_back("data: [DONE]\n\n");
  }
  std::string bigConfig() const {
    return R"({"response_cache":{"routes":{"gpt-shared":{"coalesce":true}}},"providers":[
      {"name":"up","type":"openai","base_url":")" + big_.baseUrl() + R"(","api_key":"sk-up","models":["gpt-shared"]}]})";
  }
  // Reads what a client that never read was sent, until the gateway stops sending.
  static std::string drain(int fd) {
    std::string received;
    char buffer[65536];
    timeval wait{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) received.append(buffer, static_cast<std::size_t>(n));
    ::close(fd);
    return received;
  }
  std::vector<std::string> events_;
  std::atomic<bool> releaseBig_{false};
  TestUpstream big_{[this](const RecordedRequest&) {
    auto response = ScriptedResponse::sse(events_, std::chrono::milliseconds(50));
    response.gate = [this] { return releaseBig_.load(); };
    response.gateIndex = 1;
    return response;
  }};
};

TEST_F(CoalescingBigAnswer, AFollowerThatDoesNotReadIsCutAndSlowsNoOne) {
  GatewayHarness gateway(bigConfig());
  HttpResult leader;
  std::string buffered;
  std::thread reader = streamOnThread(gateway, leader, buffered);
  ASSERT_TRUE(eventually([&] { return big_.requests().size() == 1; }));
  const int slow = sendAndKeepOpen(gateway.url(""), body(true), kSmallReceiveBuffer);  // never reads
  ASSERT_GE(slow, 0);
  ASSERT_TRUE(eventually([&] { return gateway.gateway().coalescedRequests() == 1; }));
  releaseBig_ = true;
  reader.join();
  ASSERT_EQ(leader.status, 200);
  EXPECT_EQ(clientAnswer(core::Dialect::OpenAi, buffered, true).choices.at(0).text.size(), kAnswerBytes)
      << "the leader got it all while the follower read nothing";
  // What the slow one was sent: the start of the answer, then the error that cut it.
  const std::string received = drain(slow);
  EXPECT_LT(received.size(), kAnswerBytes);
  EXPECT_NE(received.find("client_too_slow"), std::string::npos) << received.substr(received.size() > 300 ? received.size() - 300 : 0);
}

TEST_F(CoalescingBigAnswer, ALeaderThatDoesNotReadIsCutAndItsFollowersGetTheWholeAnswer) {
  GatewayHarness gateway(bigConfig());
  const int slowLeader = sendAndKeepOpen(gateway.url(""), body(true), kSmallReceiveBuffer);  // never reads
  ASSERT_GE(slowLeader, 0);
  ASSERT_TRUE(eventually([&] { return big_.requests().size() == 1; }));
  HttpResult follower;
  std::string buffered;
  std::thread reader = streamOnThread(gateway, follower, buffered);
  ASSERT_TRUE(eventually([&] { return gateway.gateway().coalescedRequests() == 1; }));
  releaseBig_ = true;
  reader.join();
  ASSERT_EQ(follower.status, 200);
  EXPECT_EQ(clientAnswer(core::Dialect::OpenAi, buffered, true).choices.at(0).text.size(), kAnswerBytes)
      << "the leader's pace held no one back";
  EXPECT_LT(drain(slowLeader).size(), kAnswerBytes) << "the leader's own client was cut";
}

TEST_F(Coalescing, AFollowerSpendsNoneOfItsKeysTokens) {
  GatewayHarness gateway(R"({"auth":{"keys":[{"name":"k","key":"sk-k","budget_tokens":100000}]},)"
                         R"("response_cache":{"routes":{"gpt-shared":{"coalesce":true}}},"providers":[
      {"name":"up","type":"openai","base_url":")" + upstream_.baseUrl() + R"(","api_key":"sk-up","models":["gpt-shared"]}]})");
  HttpResult first, second;
  // Streamed: the upstream's stream reports no usage, so the leader is charged its estimate.
  std::thread leader([&] { first = gateway.post("/v1/chat/completions", body(true), {"Authorization: Bearer sk-k"}); });
  ASSERT_TRUE(eventually([&] { return calls_.load() == 1; }));
  std::thread follower([&] { second = gateway.post("/v1/chat/completions", body(true), {"Authorization: Bearer sk-k"}); });
  ASSERT_TRUE(eventually([&] { return gateway.gateway().coalescedRequests() == 1; }));
  release_ = true;
  leader.join();
  follower.join();
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(second.status, 200);
  ASSERT_TRUE(eventually([&] { return gateway.gateway().limiter().usage().at(0).inFlight == 0; }));
  // The leader is charged its estimate, the follower nothing.
  EXPECT_EQ(gateway.gateway().limiter().usage().at(0).budgetUsed, core::tokensForChars(body(true).size()));
}

}  // namespace
}  // namespace llmgate::testing
