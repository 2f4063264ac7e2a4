// /metrics, /v1/performance and Server-Timing after real traffic through a loopback upstream
// that takes a known time: what the upstream took is told apart from what the gateway took.
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gateway_harness.hpp"
#include "llmgate/proxy/metric_families.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// The value of the first sample line starting with `prefix`, or -1.
double sample(const std::string& text, const std::string& prefix) {
  const auto at = text.find("\n" + prefix);
  if (at == std::string::npos) return -1;
  const auto space = text.find(' ', at + 1 + prefix.size());
  return std::stod(text.substr(space + 1, text.find('\n', space) - space - 1));
}

class Observability : public ::testing::Test {
 protected:
  // Every answer takes about 60 ms upstream: three SSE chunks 30 ms apart, or a JSON body
  // after the same wait.
  TestUpstream upstream{[](const RecordedRequest& request) {
    if (request.body.find("\"stream\":true") != std::string::npos) {
      return ScriptedResponse::sse(
          {R"(data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]})" "\n\n",
           R"(data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}})" "\n\n",
           "data: [DONE]\n\n"},
          30ms);
    }
    auto response = ScriptedResponse::json(200, R"({"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_1"})");
    response.chunks.insert(response.chunks.begin(), "");
    response.chunkDelay = 60ms;
    return response;
  }};
  GatewayHarness gateway{R"({"providers":[{"name":"up","type":"openai","base_url":")" + upstream.baseUrl() +
                         R"(","models":["m"],"retry":{"max_attempts":1}}]})"};
};

TEST_F(Observability, MetricsCountRequestsAndSeparateUpstreamFromGatewayTime) {
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"hi"}])";
  for (int i = 0; i < 2; ++i) ASSERT_EQ(gateway.post("/v1/chat/completions", body + "}").status, 200);
  ASSERT_EQ(gateway.post("/v1/chat/completions", body + R"(,"stream":true})").status, 200);
  ASSERT_EQ(gateway.post("/v1/messages", R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})").status, 200);
  ASSERT_EQ(gateway.post("/v1/chat/completions", R"({"model":"nope","messages":[]})").status, 404);

  // A request is counted once its last byte is written, which may be just after the client read it.
  HttpResult scraped;
  ASSERT_TRUE(eventually([&] {
    scraped = gateway.get("/metrics");
    return sample(scraped.body, R"(llmgate_requests_total{endpoint="chat_completions",dialect="openai",provider="",model="other",status="4xx"})") == 1 &&
           sample(scraped.body, R"(llmgate_request_duration_seconds_count{provider="up",model="m"})") == 4;
  }));
  ASSERT_EQ(scraped.status, 200);
  EXPECT_EQ(scraped.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = scraped.body;
  EXPECT_EQ(sample(text, R"(llmgate_requests_total{endpoint="chat_completions",dialect="openai",provider="up",model="m",status="2xx"})"), 3);
  EXPECT_EQ(sample(text, R"(llmgate_requests_total{endpoint="messages",dialect="anthropic",provider="up",model="m",status="2xx"})"), 1);
  EXPECT_EQ(sample(text, R"(llmgate_requests_total{endpoint="chat_completions",dialect="openai",provider="",model="other",status="4xx"})"), 1);
  EXPECT_EQ(sample(text, R"(llmgate_request_duration_seconds_count{provider="up",model="m"})"), 4);
  // The upstream took >= 60 ms each time; the gateway's own share is a small part of that.
  const double upstreamSum = sample(text, R"(llmgate_upstream_duration_seconds_sum{provider="up",model="m"})");
  const double overheadSum = sample(text, R"(llmgate_gateway_overhead_seconds_sum{provider="up",model="m"})");
  const double durationSum = sample(text, R"(llmgate_request_duration_seconds_sum{provider="up",model="m"})");
  EXPECT_GE(upstreamSum, 4 * 0.055);
  EXPECT_LT(overheadSum, upstreamSum / 2);
  EXPECT_NEAR(durationSum, upstreamSum + overheadSum, 0.001);
  // Read from every answer: the passthrough ones' usage (nested details, a member after it) as text.
  EXPECT_EQ(sample(text, R"(llmgate_tokens_total{provider="up",model="m",direction="input"})"), 12);
  EXPECT_EQ(sample(text, R"(llmgate_tokens_total{provider="up",model="m",direction="output"})"), 4);
  // Pooled: at most one connection per worker (the harness runs two) for the four requests.
  EXPECT_GE(sample(text, "llmgate_upstream_connections_opened_total"), 1);
  EXPECT_LE(sample(text, "llmgate_upstream_connections_opened_total"), 2);
  EXPECT_EQ(sample(text, "llmgate_upstream_requests_total"), 4);
  EXPECT_EQ(sample(text, R"(llmgate_breaker_state{provider="up",endpoint="up#0",model="m"})"), 0);
  EXPECT_EQ(sample(text, "llmgate_conversion_cache_misses_total"), 1);  // the Anthropic client's request
  EXPECT_EQ(sample(text, "llmgate_active_streams"), 0);
  // Every line is a comment or `name{labels} value`.
  const std::regex line(R"(^(#.*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eInf]+)$)");
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);) EXPECT_TRUE(std::regex_match(l, line)) << l;
}

TEST_F(Observability, MetricsWritesEveryDeclaredFamilyAndNoOther) {
  ASSERT_EQ(gateway.post("/v1/chat/completions", R"({"model":"m","messages":[{"role":"user","content":"hi"}]})").status, 200);
  const std::string text = gateway.get("/metrics").body;
  std::set<std::string> declared;
  for (const auto& family : proxy::families::kAll) {
    declared.emplace(family.name);
    EXPECT_NE(text.find("# HELP " + std::string(family.name) + " " + std::string(family.help) + "\n# TYPE " +
                        std::string(family.name) + " " + std::string(family.type) + "\n"),
              std::string::npos)
        << family.name;
  }
  EXPECT_EQ(declared.size(), proxy::families::kAll.size());  // no name declared twice
  // Every family /metrics writes is one of the list.
  const std::regex help("^# HELP ([a-z_]+) ");
  std::istringstream lines(text);
  int written = 0;
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (!std::regex_search(line, match, help)) continue;
    ++written;
    EXPECT_EQ(declared.count(match[1]), 1u) << match[1];
  }
  EXPECT_EQ(written, static_cast<int>(declared.size()));
}

TEST_F(Observability, PerformanceGivesPercentilesOfTheRecentWindow) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(gateway.post("/v1/chat/completions", R"({"model":"m","messages":[{"role":"user","content":"hi"}]})").status, 200);
  }
  HttpResult result;
  ASSERT_TRUE(eventually([&] {
    result = gateway.get("/v1/performance?window=300");
    return result.status == 200 && json::parse(result.body)["requests"] == 5;
  })) << result.body;
  const json body = json::parse(result.body);
  EXPECT_EQ(body["window_seconds"], 300);
  EXPECT_EQ(body["requests"], 5);
  EXPECT_GE(body["duration_ms"]["p50"].get<double>(), 55.0);
  EXPECT_LT(body["overhead_ms"]["p99"].get<double>(), body["duration_ms"]["p50"].get<double>());
  ASSERT_EQ(body["by_target"].size(), 1u);
  EXPECT_EQ(body["by_target"][0]["provider"], "up");
  EXPECT_GE(body["by_target"][0]["duration_ms"]["p99"].get<double>(), body["by_target"][0]["duration_ms"]["p50"].get<double>());
  EXPECT_GE(body["uptime_seconds"].get<int>(), 0);
  EXPECT_EQ(gateway.get("/v1/performance?window=0").status, 400);
}

TEST_F(Observability, ServerTimingTellsWhereTheTimeWent) {
  const auto result = gateway.post("/v1/chat/completions", R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(result.status, 200);
  const std::string timing = result.headers.at("server-timing");
  EXPECT_TRUE(std::regex_match(timing, std::regex(R"(route;dur=\d+\.\d{3}(, [a-z-]+;dur=\d+\.\d{3})+)"))) << timing;
  std::smatch match;
  ASSERT_TRUE(std::regex_search(timing, match, std::regex(R"(upstream;dur=([0-9.]+))"))) << timing;
  EXPECT_GE(std::stod(match[1]), 55.0) << timing;
  ASSERT_TRUE(std::regex_search(timing, match, std::regex(R"(gateway;dur=([0-9.]+))"))) << timing;
  EXPECT_LT(std::stod(match[1]), 55.0) << timing;
  EXPECT_NE(timing.find("route;dur="), std::string::npos);
  // Translated requests also say what converting took.
  const auto translated = gateway.post("/v1/messages", R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_NE(translated.headers.at("server-timing").find("convert;dur="), std::string::npos);
}

}  // namespace
}  // namespace llmgate::testing
