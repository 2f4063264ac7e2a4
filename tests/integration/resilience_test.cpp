// Upstreams that misbehave, driven by a fault-injecting loopback upstream: retries, Retry-After,
// fallbacks across dialects, circuit breakers, load balancing, key cool-downs, deadlines,
// keep-alives and cancellation while waiting to retry.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <ctime>
#include <curl/curl.h>
#include <thread>

#include "gateway_harness.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kAsk = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";

ScriptedResponse completion(const std::string& text = "ok") {
  return ScriptedResponse::json(200, json{{"id", "c"}, {"object", "chat.completion"}, {"created", 1}, {"model", "m"},
                                          {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}},
                                                        {"finish_reason", "stop"}}}}}.dump());
}

ScriptedResponse status(int code, std::vector<std::pair<std::string, std::string>> headers = {}) {
  auto response = ScriptedResponse::json(code, R"({"error":{"message":"scripted failure","type":"server_error","param":null,"code":null}})");
  for (auto& header : headers) response.headers.push_back(std::move(header));
  return response;
}

std::string provider(const std::string& name, const TestUpstream& upstream, const std::string& extra = "") {
  return R"({"name":")" + name + R"(","type":"openai","base_url":")" + upstream.baseUrl() + R"(","models":[")" + name +
         R"(-model"])" + extra + "}";
}

double elapsedMs(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

TEST(Resilience, ServiceUnavailableTwiceThenOkIsRetriedWithLinearBackoff) {
  std::atomic<int> calls{0};
  TestUpstream upstream([&](const RecordedRequest&) { return ++calls <= 2 ? status(503) : completion(); });
  GatewayHarness gateway(R"({"providers":[)" + provider("up", upstream, R"(,"retry":{"base_delay_ms":100,"jitter_percent":0})") +
                         R"(],"aliases":{"m":"up-model"}})");
  const auto start = Clock::now();
  auto result = gateway.post("/v1/chat/completions", kAsk);
  EXPECT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(calls.load(), 3);
  EXPECT_GE(elapsedMs(start), 280);  // 100 ms then 200 ms
}

TEST(Resilience, RetryAfterInMillisecondsSecondsAndHttpDateIsHonoured) {
  for (const auto& [name, value, minimumMs] :
       std::vector<std::tuple<std::string, std::string, double>>{{"retry-after-ms", "300", 280}, {"retry-after", "1", 950}}) {
    std::atomic<int> calls{0};
    TestUpstream upstream([&, name = name, value = value](const RecordedRequest&) {
      return ++calls == 1 ? status(429, {{name, value}}) : completion();
    });
    GatewayHarness gateway(R"({"providers":[)" + provider("up", upstream) + R"(],"aliases":{"m":"up-model"}})");
    const auto start = Clock::now();
    auto result = gateway.post("/v1/chat/completions", kAsk);
    EXPECT_EQ(result.status, 200) << name;
    EXPECT_EQ(calls.load(), 2) << name;
    EXPECT_GE(elapsedMs(start), minimumMs) << name;
    EXPECT_LT(elapsedMs(start), minimumMs + 3000) << name;
  }
  // An HTTP-date two seconds ahead: the wait is at least the one whole second it guarantees.
  std::atomic<int> calls{0};
  TestUpstream upstream([&](const RecordedRequest&) {
    if (++calls > 1) return completion();
    std::time_t at = std::time(nullptr) + 2;
    char date[64];
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&at));
    return status(503, {{"retry-after", date}});
  });
  GatewayHarness gateway(R"({"providers":[)" + provider("up", upstream) + R"(],"aliases":{"m":"up-model"}})");
  const auto start = Clock::now();
  EXPECT_EQ(gateway.post("/v1/chat/completions", kAsk).status, 200);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_GE(elapsedMs(start), 950);
}

TEST(Resilience, FallbackToASecondProviderInAnotherDialect) {
  // The primary refuses connections; the fallback is Claude-speaking.
  TestUpstream claude([](const RecordedRequest& request) {
    EXPECT_EQ(request.target, "/v1/messages");
    return ScriptedResponse::json(200, R"({"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"from claude"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}})");
  });
  const RefusingPort dead;
  GatewayHarness gateway(R"({"providers":[
      {"name":"dead","type":"openai","base_url":"http://127.0.0.1:)" + std::to_string(dead.port()) + R"(/v1","models":["x"]},
      {"name":"claude","type":"anthropic","base_url":"http://127.0.0.1:)" + std::to_string(claude.port()) + R"(","models":["c"]}],
    "routes":{"m":{"targets":["dead/gpt-4o","claude/claude-sonnet"]}}})");
  auto result = gateway.post("/v1/chat/completions", kAsk);
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(json::parse(result.body)["choices"][0]["message"]["content"], "from claude");
  EXPECT_EQ(json::parse(claude.requests().at(0).body)["model"], "claude-sonnet");
}

TEST(Resilience, SilentPrimaryFallsBackAfterItsFirstByteTimeout) {
  TestUpstream silent([](const RecordedRequest&) {
    ScriptedResponse response;
    response.fault = ScriptedResponse::Fault::NeverRespond;
    return response;
  });
  TestUpstream backup([](const RecordedRequest&) { return completion("backup"); });
  GatewayHarness gateway(R"({"providers":[)" + provider("silent", silent, R"(,"timeouts":{"first_byte_ms":200})") + "," +
                         provider("backup", backup) + R"(],"routes":{"m":{"targets":["silent-model","backup-model"]}}})");
  auto result = gateway.post("/v1/chat/completions", kAsk);
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(json::parse(result.body)["choices"][0]["message"]["content"], "backup");
  EXPECT_TRUE(eventually([&] { return silent.lastPeerGone().has_value(); }));  // the silent attempt was dropped
}

TEST(Resilience, BreakerOpensAfterFiveFailuresYetALoneDeploymentIsStillTried) {
  std::atomic<bool> healthy{false};
  std::atomic<int> calls{0};
  TestUpstream upstream([&](const RecordedRequest&) {
    ++calls;
    return healthy ? completion() : status(500);
  });
  GatewayHarness gateway(R"({"providers":[)" +
                         provider("up", upstream, R"(,"retry":{"max_attempts":1},"breaker":{"failure_threshold":5,"open_ms":60000,"success_threshold":3})") +
                         R"(],"aliases":{"m":"up-model"}})");
  const auto& health = *gateway.gateway().pool().health(*gateway.gateway().providers()[0], 0, "up-model");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(gateway.post("/v1/chat/completions", kAsk).status, 500);
  EXPECT_EQ(health.state(), resilience::BreakerState::Open);
  auto detailed = gateway.get("/v1/health/detailed");
  EXPECT_EQ(detailed.status, 503);  // its only model cannot take traffic
  auto report = json::parse(detailed.body);
  EXPECT_EQ(report["status"], "unavailable");
  EXPECT_EQ(report["providers"][0]["endpoints"][0]["endpoint"], "up#0");
  EXPECT_EQ(report["providers"][0]["endpoints"][0]["model"], "up-model");
  EXPECT_EQ(report["providers"][0]["endpoints"][0]["breaker"], "open");
  EXPECT_EQ(report["providers"][0]["endpoints"][0]["last_error"]["code"], "upstream_http_500");
  // Nothing else serves m: the request is sent anyway (a panic send), not refused untried.
  EXPECT_EQ(gateway.post("/v1/chat/completions", kAsk).status, 500);
  EXPECT_EQ(calls.load(), 6);
  healthy = true;
  // Successful sends made while open close the circuit as probes would.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(gateway.post("/v1/chat/completions", kAsk).status, 200);
  EXPECT_EQ(health.state(), resilience::BreakerState::Closed);
  EXPECT_EQ(calls.load(), 9);
  auto recovered = gateway.get("/v1/health/detailed");
  EXPECT_EQ(recovered.status, 200);
  EXPECT_EQ(json::parse(recovered.body)["status"], "ok");
}

TEST(Resilience, AnOpenCircuitSendsItsRouteToTheFallbackThenHalfOpensAndCloses) {
  std::atomic<bool> healthy{false};
  std::atomic<int> primaryCalls{0}, backupCalls{0};
  TestUpstream primary([&](const RecordedRequest&) {
    ++primaryCalls;
    return healthy ? completion("primary") : status(500);
  });
  TestUpstream backup([&](const RecordedRequest&) {
    ++backupCalls;
    return completion("backup");
  });
  GatewayHarness gateway(R"({"providers":[)" +
                         provider("up", primary, R"(,"retry":{"max_attempts":1},"breaker":{"failure_threshold":2,"open_ms":300,"success_threshold":2})") +
                         "," + provider("backup", backup) + R"(],"routes":{"m":{"targets":["up-model","backup-model"]}}})");
  const auto& health = *gateway.gateway().pool().health(*gateway.gateway().providers()[0], 0, "up-model");
  for (int i = 0; i < 2; ++i) EXPECT_EQ(gateway.post("/v1/chat/completions", kAsk).status, 200);  // served by backup
  EXPECT_EQ(health.state(), resilience::BreakerState::Open);
  for (int i = 0; i < 3; ++i) {
    auto result = gateway.post("/v1/chat/completions", kAsk);
    EXPECT_EQ(json::parse(result.body)["choices"][0]["message"]["content"], "backup");
  }
  EXPECT_EQ(primaryCalls.load(), 2);  // the open circuit kept the route away from it
  EXPECT_EQ(json::parse(gateway.get("/v1/health/detailed").body)["status"], "degraded");
  healthy = true;
  ASSERT_TRUE(eventually([&] { return health.state() == resilience::BreakerState::HalfOpen; }, 2s));
  for (int i = 0; i < 2; ++i) {
    auto result = gateway.post("/v1/chat/completions", kAsk);
    EXPECT_EQ(json::parse(result.body)["choices"][0]["message"]["content"], "primary");
  }
  EXPECT_EQ(health.state(), resilience::BreakerState::Closed);
  EXPECT_EQ(primaryCalls.load(), 4);
}

TEST(Resilience, AFailingModelOpensItsOwnCircuitNotThoseOfItsKey) {
  std::atomic<int> goodCalls{0};
  TestUpstream upstream([&](const RecordedRequest& request) {
    if (json::parse(request.body)["model"] == "bad") return status(500);
    ++goodCalls;
    return completion();
  });
  GatewayHarness gateway(R"({"providers":[{"name":"up","type":"openai","base_url":")" + upstream.baseUrl() +
                         R"(","api_key":"k","models":["bad","good"],"retry":{"max_attempts":1},"breaker":{"failure_threshold":2}}]})");
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(gateway.post("/v1/chat/completions", R"({"model":"bad","messages":[{"role":"user","content":"x"}]})").status, 500);
  }
  const auto& provider = *gateway.gateway().providers()[0];
  EXPECT_EQ(gateway.gateway().pool().health(provider, 0, "bad")->state(), resilience::BreakerState::Open);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(gateway.post("/v1/chat/completions", R"({"model":"good","messages":[{"role":"user","content":"x"}]})").status, 200);
  }
  EXPECT_EQ(goodCalls.load(), 3);
  EXPECT_EQ(gateway.gateway().pool().health(provider, 0, "good")->state(), resilience::BreakerState::Closed);
  const json report = json::parse(gateway.get("/v1/health/detailed").body);
  EXPECT_EQ(report["status"], "degraded");
  EXPECT_EQ(report["providers"][0]["endpoints"][0]["model"], "bad");
  EXPECT_EQ(report["providers"][0]["endpoints"][0]["breaker"], "open");
  EXPECT_EQ(report["providers"][0]["endpoints"][1]["model"], "good");
  EXPECT_EQ(report["providers"][0]["endpoints"][1]["breaker"], "closed");
  const std::string metrics = gateway.get("/metrics").body;
  EXPECT_NE(metrics.find(R"(llmgate_breaker_state{provider="up",endpoint="up#0",model="bad"} 2)"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"(llmgate_breaker_state{provider="up",endpoint="up#0",model="good"} 0)"), std::string::npos);
}

TEST(Resilience, RoundRobinAndWeightedShares) {
  std::atomic<int> a{0}, b{0};
  TestUpstream upA([&](const RecordedRequest&) { ++a; return completion("a"); });
  TestUpstream upB([&](const RecordedRequest&) { ++b; return completion("b"); });
  GatewayHarness gateway(R"({"providers":[)" + provider("a", upA) + "," + provider("b", upB) + R"(],
    "routes":{"rr":{"strategy":"round_robin","targets":["a-model","b-model"]},
              "w":{"strategy":"weighted","targets":[{"model":"a-model","weight":3},{"model":"b-model","weight":1}]}}})");
  for (int i = 0; i < 10; ++i) ASSERT_EQ(gateway.post("/v1/chat/completions", R"({"model":"rr","messages":[{"role":"user","content":"x"}]})").status, 200);
  EXPECT_EQ(a.load(), 5);
  EXPECT_EQ(b.load(), 5);
  a = 0;
  b = 0;
  for (int i = 0; i < 8; ++i) ASSERT_EQ(gateway.post("/v1/chat/completions", R"({"model":"w","messages":[{"role":"user","content":"x"}]})").status, 200);
  EXPECT_EQ(a.load(), 6);
  EXPECT_EQ(b.load(), 2);
}

TEST(Resilience, LeastLatencyPrefersTheFasterTarget) {
  std::atomic<int> slowCalls{0}, fastCalls{0};
  TestUpstream slow([&](const RecordedRequest&) {
    ++slowCalls;
    std::this_thread::sleep_for(80ms);
    return completion("slow");
  });
  TestUpstream fast([&](const RecordedRequest&) { ++fastCalls; return completion("fast"); });
  GatewayHarness gateway(R"({"providers":[)" + provider("slow", slow) + "," + provider("fast", fast) + R"(],
    "routes":{"m":{"strategy":"least_latency","targets":["slow-model","fast-model"]}}})");
  for (int i = 0; i < 10; ++i) ASSERT_EQ(gateway.post("/v1/chat/completions", kAsk).status, 200);
  // Each is measured once (unmeasured targets go first); then the faster one takes the rest.
  EXPECT_EQ(slowCalls.load(), 1);
  EXPECT_EQ(fastCalls.load(), 9);
}

TEST(Resilience, RateLimitedKeyCoolsDownWhileTheOtherKeyServes) {
  std::atomic<int> firstKey{0}, secondKey{0};
  TestUpstream upstream([&](const RecordedRequest& request) {
    if (request.header("authorization") == "Bearer key-1") {
      ++firstKey;
      return status(429, {{"retry-after", "30"}});
    }
    ++secondKey;
    return completion();
  });
  GatewayHarness gateway(R"({"providers":[)" + provider("up", upstream, R"(,"api_keys":["key-1","key-2"])") +
                         R"(],"aliases":{"m":"up-model"}})");
  const auto start = Clock::now();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(gateway.post("/v1/chat/completions", kAsk).status, 200);
  EXPECT_EQ(firstKey.load(), 1);  // cooled down for 30 s after its 429
  EXPECT_EQ(secondKey.load(), 6);
  EXPECT_LT(elapsedMs(start), 5000);  // nobody waited the 30 s: the other key answered at once
}

TEST(Resilience, DeadlineHeaderBoundsRetries) {
  std::atomic<int> calls{0};
  TestUpstream upstream([&](const RecordedRequest&) { ++calls; return status(503); });
  GatewayHarness gateway(R"({"providers":[)" + provider("up", upstream, R"(,"retry":{"max_attempts":5,"base_delay_ms":400})") +
                         R"(],"aliases":{"m":"up-model"}})");
  const auto start = Clock::now();
  auto result = gateway.post("/v1/chat/completions", kAsk, {"x-llmgate-timeout-ms: 300"});
  EXPECT_EQ(result.status, 503);
  EXPECT_EQ(calls.load(), 1);  // the first backoff (~400 ms) would not fit in 300 ms
  EXPECT_LT(elapsedMs(start), 1500);
}

TEST(Resilience, RetryBudgetStopsRetriesDuringAnOutage) {
  std::atomic<int> calls{0};
  TestUpstream upstream([&](const RecordedRequest&) { ++calls; return status(503); });
  GatewayHarness gateway(R"({"providers":[)" +
                         provider("up", upstream, R"(,"retry":{"max_attempts":3,"base_delay_ms":1,"budget_percent":0,"budget_min_per_second":0},"breaker":{"failure_threshold":1000})") +
                         R"(],"aliases":{"m":"up-model"}})");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(gateway.post("/v1/chat/completions", kAsk).status, 503);
  // One retry token to start with, none earned afterwards: 4 requests + 1 retry.
  EXPECT_EQ(calls.load(), 5);
}

TEST(Resilience, MalformedUpstreamBodyIsRetriedThenReported) {
  std::atomic<int> calls{0};
  TestUpstream upstream([&](const RecordedRequest&) {
    ++calls;
    return ScriptedResponse::json(200, "{\"choices\": not json");
  });
  GatewayHarness gateway(R"({"providers":[)" + provider("up", upstream, R"(,"retry":{"base_delay_ms":1})") +
                         R"(],"aliases":{"m":"up-model"}})");
  // An Anthropic client: the answer is decoded (not relayed), so the broken body is noticed.
  auto result = gateway.post("/v1/messages", R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(result.status, 502);
  EXPECT_EQ(json::parse(result.body)["error"]["type"], "api_error");
  EXPECT_EQ(calls.load(), 3);
}

TEST(Resilience, HangMidStreamEndsWithAnErrorEventNotASilentCut) {
  TestUpstream upstream([](const RecordedRequest&) {
    auto response = ScriptedResponse::sse({"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"},\"finish_reason\":null}]}\n\n",
                                           "data: [DONE]\n\n"},
                                          3000ms);
    return response;
  });
  GatewayHarness gateway(R"({"providers":[)" + provider("up", upstream, R"(,"timeouts":{"idle_ms":200})") +
                         R"(],"aliases":{"m":"up-model"}})");
  for (const std::string path : {"/v1/chat/completions", "/v1/messages"}) {
    const auto start = Clock::now();
    auto result = gateway.post(path, R"({"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(result.status, 200);
    EXPECT_LT(elapsedMs(start), 2500);
    if (path == "/v1/messages") {
      EXPECT_NE(result.body.find("event: error\ndata: {\"error\":{\"message\":\"upstream stream went silent for too long\",\"type\":\"timeout_error\"}"),
                std::string::npos) << result.body;
    } else {
      EXPECT_NE(result.body.find("\"code\":\"upstream_idle_timeout\""), std::string::npos) << result.body;
    }
  }
}

TEST(Resilience, KeepAliveCommentsWhileTheFirstTokenIsAwaited) {
  std::atomic<bool> release{false};
  TestUpstream upstream([&](const RecordedRequest&) {
    auto response = ScriptedResponse::sse({"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"},\"finish_reason\":\"stop\"}]}\n\n",
                                           "data: [DONE]\n\n"});
    // The status line goes out at once; the first token only after the client saw a keep-alive.
    response.gate = [&] { return release.load(); };
    response.gateIndex = 0;
    return response;
  });
  GatewayHarness gateway(R"({"server":{"stream_keepalive_ms":50},"providers":[)" + provider("up", upstream) +
                         R"(],"aliases":{"m":"up-model"}})");
  std::string received;
  auto result = gateway.stream("/v1/chat/completions", R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})",
                               [&](const std::string& piece) {
                                 received += piece;
                                 if (received.find(": keep-alive\n\n") != std::string::npos) release = true;
                                 return true;
                               });
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body.rfind(": keep-alive\n\n", 0), 0u) << result.body;
  EXPECT_NE(result.body.find("\"content\":\"late\""), std::string::npos);
}

TEST(Resilience, ClientLeavingDuringBackoffCancelsTheRetry) {
  std::atomic<int> calls{0};
  TestUpstream upstream([&](const RecordedRequest&) { ++calls; return status(503); });
  GatewayHarness gateway(R"({"providers":[)" + provider("up", upstream, R"(,"retry":{"base_delay_ms":800,"jitter_percent":0})") +
                         R"(],"aliases":{"m":"up-model"}})");
  CURL* easy = curl_easy_init();
  const std::string url = gateway.url("/v1/chat/completions");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, kAsk.c_str());
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 300L);  // gone while the gateway waits 800 ms to retry
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_perform(easy);
  curl_easy_cleanup(easy);
  EXPECT_TRUE(eventually([&] { return gateway.server().inFlight() == 0; }, 2s));
  std::this_thread::sleep_for(1200ms);  // past the moment the retry would have gone out
  EXPECT_EQ(calls.load(), 1);
}

TEST(Resilience, AKeyIsCooledDownAMinuteAtMostWhateverRetryAfterSays) {
  TestUpstream upstream([](const RecordedRequest&) { return status(429, {{"retry-after", "99999999999999999999"}}); });
  GatewayHarness gateway(R"({"providers":[)" + provider("up", upstream, R"(,"retry":{"max_attempts":1})") +
                         R"(],"aliases":{"m":"up-model"}})");
  auto result = gateway.post("/v1/chat/completions", kAsk);
  EXPECT_EQ(result.status, 429);
  const json health = json::parse(gateway.get("/v1/health/detailed").body);
  const auto cooldown = health["providers"][0]["endpoints"][0]["cooldown_ms"].get<std::int64_t>();
  EXPECT_GT(cooldown, 0);
  EXPECT_LE(cooldown, 60000);
}


TEST(Resilience, ALoneRateLimitedDeploymentIsWaitedForOrTriedNotRefused) {
  for (const std::string retryAfter : {"1", "30"}) {
    std::atomic<int> calls{0};
    TestUpstream upstream([&](const RecordedRequest&) {
      return ++calls == 1 ? status(429, {{"retry-after", retryAfter}}) : completion();
    });
    GatewayHarness gateway(R"({"providers":[)" + provider("up", upstream, R"(,"retry":{"max_attempts":1,"max_delay_ms":5000})") +
                           R"(],"aliases":{"m":"up-model"}})");
    EXPECT_EQ(gateway.post("/v1/chat/completions", kAsk).status, 429);
    const auto start = Clock::now();
    auto result = gateway.post("/v1/chat/completions", kAsk);
    EXPECT_EQ(result.status, 200) << retryAfter << ": " << result.body;
    EXPECT_EQ(calls.load(), 2) << retryAfter;
    if (retryAfter == "1") {
      EXPECT_GE(elapsedMs(start), 800);  // waited for the cool-down to end, then sent
    } else {
      EXPECT_LT(elapsedMs(start), 1000);  // longer than max_delay_ms: sent at once all the same
    }
  }
}

ScriptedResponse silence() {
  ScriptedResponse response;
  response.fault = ScriptedResponse::Fault::NeverRespond;
  return response;
}

TEST(Resilience, AFirstByteTimeoutMovesOnAndNeverRetriesTheSilentDeployment) {
  std::atomic<int> silentCalls{0}, answeringCalls{0};
  TestUpstream upstream([&](const RecordedRequest& request) {
    if (request.header("authorization") == "Bearer key-1") {
      ++silentCalls;
      return silence();
    }
    ++answeringCalls;
    return completion();
  });
  GatewayHarness twoKeys(R"({"providers":[)" +
                         provider("up", upstream, R"(,"api_keys":["key-1","key-2"],"timeouts":{"first_byte_ms":300})") +
                         R"(],"aliases":{"m":"up-model"}})");
  for (int i = 0; i < 4; ++i) {
    const auto start = Clock::now();
    EXPECT_EQ(twoKeys.post("/v1/chat/completions", kAsk).status, 200);
    EXPECT_LT(elapsedMs(start), 1000);  // at most one timeout, then the other key at once
  }
  EXPECT_LE(silentCalls.load(), 4);  // once per request at most
  EXPECT_EQ(answeringCalls.load(), 4);

  // One silent deployment: the error after one timeout, not three.
  for (const bool same : {false, true}) {
    std::atomic<int> calls{0};
    TestUpstream lone([&](const RecordedRequest&) {
      ++calls;
      return silence();
    });
    GatewayHarness gateway(R"({"providers":[)" +
                           provider("up", lone, std::string(R"(,"timeouts":{"first_byte_ms":300},"retry":{"base_delay_ms":1,"same_deployment_after_timeout":)") +
                                                    (same ? "true" : "false") + "}") +
                           R"(],"aliases":{"m":"up-model"}})");
    const auto start = Clock::now();
    auto result = gateway.post("/v1/chat/completions", R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(result.status, 504) << result.body;
    EXPECT_EQ(calls.load(), same ? 3 : 1);
    if (!same) EXPECT_LT(elapsedMs(start), 800);
  }
}

TEST(Resilience, ATruncatedFastPathAnswerIsAMalformedUpstreamErrorNotA200) {
  std::atomic<int> calls{0};
  std::atomic<bool> alwaysBroken{false};
  TestUpstream upstream([&](const RecordedRequest&) {
    if (++calls == 1 || alwaysBroken) return ScriptedResponse::json(200, R"({"id":"c","object":"chat.completion","choices":[)");
    return completion("whole");
  });
  GatewayHarness gateway(R"({"providers":[)" + provider("up", upstream, R"(,"retry":{"base_delay_ms":1})") +
                         R"(],"aliases":{"m":"up-model"}})");
  auto retried = gateway.post("/v1/chat/completions", kAsk);
  ASSERT_EQ(retried.status, 200) << retried.body;
  EXPECT_EQ(json::parse(retried.body)["choices"][0]["message"]["content"], "whole");
  EXPECT_EQ(calls.load(), 2);
  alwaysBroken = true;
  auto broken = gateway.post("/v1/chat/completions", kAsk);
  EXPECT_EQ(broken.status, 502);
  EXPECT_EQ(json::parse(broken.body)["error"]["code"], "upstream_malformed_response");
}

}  // namespace
}  // namespace llmgate::testing
