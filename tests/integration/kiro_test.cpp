// Kiro end to end against a loopback CodeWhisperer that sends genuine event-stream frames:
// text deltas reach the client frame by frame, an exception frame becomes the client's error or
// moves the request to another account, and a rejected token is refreshed once.
#include <atomic>
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/event_stream_writer.hpp"
#include "gateway_harness.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

ScriptedResponse frames(std::vector<std::string> chunks) {
  ScriptedResponse response;
  response.headers.emplace_back("Content-Type", "application/vnd.amazon.eventstream");
  response.chunked = true;
  response.chunks = std::move(chunks);
  return response;
}

class Kiro : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const auto& file : files_) std::remove(file.c_str());
  }

  std::string credential(const std::string& name, const std::string& accessToken) {
    const std::string path = ::testing::TempDir() + "kiro_it_" + name + "_" + std::to_string(::getpid()) + ".json";
    std::ofstream(path) << json{{"accessToken", accessToken}, {"refreshToken", "rt-" + name}, {"authMethod", "social"},
                                {"expiresAt", "2099-01-01T00:00:00.000Z"}, {"profileArn", "arn:test"}}.dump();
    files_.push_back(path);
    return path;
  }

  std::unique_ptr<GatewayHarness> start(TestUpstream& upstream, const json& credentials) {
    const std::string root = "http://127.0.0.1:" + std::to_string(upstream.port());
    return std::make_unique<GatewayHarness>(json{{"providers", {{{"name", "kiro"}, {"type", "kiro"}, {"base_url", root},
                                                                 {"social_refresh_url", root + "/refreshToken"},
                                                                 {"credentials", credentials},
                                                                 {"models", {"claude-sonnet-4-5"}}}}}}.dump());
  }

  std::vector<std::string> files_;
};

constexpr const char* kStream = R"({"model":"claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":"hi"}]})";
constexpr const char* kWhole = R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]})";

TEST_F(Kiro, EachTextFrameReachesTheClientBeforeTheNextIsSent) {
  std::atomic<bool> clientSawFirstDelta{false};
  TestUpstream upstream([&](const RecordedRequest&) {
    auto response = frames({awsEvent("assistantResponseEvent", R"({"content":"Hel"})"),
                            awsEvent("assistantResponseEvent", R"({"content":"lo"})")});
    // The second frame waits for the client to hold the first delta: a gateway that buffered
    // (pseudo-streaming) would never see it released.
    response.gate = [&] { return clientSawFirstDelta.load(); };
    response.gateIndex = 1;
    return response;
  });
  auto gateway = start(upstream, credential("a", "at-a"));
  std::string received;
  const auto began = std::chrono::steady_clock::now();
  auto result = gateway->stream("/v1/chat/completions", kStream, [&](const std::string& piece) {
    received += piece;
    if (received.find("\"content\":\"Hel\"") != std::string::npos) clientSawFirstDelta = true;
    return true;
  });
  EXPECT_LT(std::chrono::steady_clock::now() - began, 5s) << "the first delta was held back";
  ASSERT_EQ(result.status, 200);
  const auto answer = clientAnswer(core::Dialect::OpenAi, result.body, true);
  EXPECT_EQ(answer.choices.at(0).text, "Hello");
  EXPECT_NE(result.body.find("data: [DONE]"), std::string::npos);
}

TEST_F(Kiro, AThrottledAccountCoolsDownAndTheRequestMovesToTheNext) {
  TestUpstream upstream([&](const RecordedRequest& request) {
    if (request.header("authorization") == "Bearer at-a") {
      return frames({awsException("ThrottlingException", R"({"message":"Too many requests","reason":"MONTHLY_REQUEST_COUNT"})")});
    }
    return frames({awsEvent("assistantResponseEvent", R"({"content":"from b"})")});
  });
  auto gateway = start(upstream, {credential("a", "at-a"), credential("b", "at-b")});
  for (int i = 0; i < 4; ++i) {
    const auto result = gateway->post("/v1/chat/completions", kWhole);
    ASSERT_EQ(result.status, 200) << result.body;
    EXPECT_EQ(clientAnswer(core::Dialect::OpenAi, result.body, false).choices.at(0).text, "from b");
  }
  // Account a was tried once, then left alone while it cools down.
  int triedA = 0;
  for (const auto& request : upstream.requests()) triedA += request.header("authorization") == "Bearer at-a";
  EXPECT_EQ(triedA, 1);
  const json health = json::parse(gateway->get("/v1/health/detailed").body);
  EXPECT_GT(health["providers"][0]["endpoints"][0]["cooldown_ms"].get<std::int64_t>(), 0);
}

TEST_F(Kiro, AnExceptionFrameIsTheClientsErrorInItsDialect) {
  TestUpstream upstream([&](const RecordedRequest&) {
    return frames({awsException("ValidationException", R"({"message":"Input is too long.","reason":"CONTENT_LENGTH_EXCEEDS_THRESHOLD"})")});
  });
  auto gateway = start(upstream, credential("a", "at-a"));
  const auto openai = gateway->post("/v1/chat/completions", kWhole);
  EXPECT_EQ(openai.status, 400);
  EXPECT_EQ(json::parse(openai.body)["error"]["message"], "Input is too long.");
  const auto anthropic = gateway->post("/v1/messages", R"({"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(anthropic.status, 400);
  EXPECT_EQ(json::parse(anthropic.body)["error"]["type"], "invalid_request_error");
}

TEST_F(Kiro, ARejectedTokenIsRefreshedOnceAndTheRequestRetried) {
  std::atomic<int> refreshes{0};
  TestUpstream upstream([&](const RecordedRequest& request) {
    if (request.target == "/refreshToken") {
      ++refreshes;
      EXPECT_EQ(json::parse(request.body)["refreshToken"], "rt-a");
      return ScriptedResponse::json(200, R"({"accessToken":"at-fresh","refreshToken":"rt-fresh","expiresIn":3600})");
    }
    if (request.header("authorization") != "Bearer at-fresh") {
      return ScriptedResponse::json(403, R"({"message":"The bearer token included in the request is invalid.","reason":null})");
    }
    return frames({awsEvent("assistantResponseEvent", R"({"content":"ok"})")});
  });
  const std::string file = credential("a", "at-stale");
  auto gateway = start(upstream, file);
  const auto result = gateway->post("/v1/messages", R"({"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(refreshes.load(), 1);
  std::ifstream in(file);
  const json saved = json::parse(in);
  EXPECT_EQ(saved["accessToken"], "at-fresh");
  EXPECT_EQ(saved["refreshToken"], "rt-fresh");
  EXPECT_EQ(saved["profileArn"], "arn:test");
}

TEST_F(Kiro, ARepeatedRequestReusesItsConversion) {
  TestUpstream upstream([&](const RecordedRequest&) { return frames({awsEvent("assistantResponseEvent", R"({"content":"ok"})")}); });
  auto gateway = start(upstream, credential("a", "at-a"));
  ASSERT_EQ(gateway->post("/v1/chat/completions", kWhole).status, 200);
  ASSERT_EQ(gateway->post("/v1/chat/completions", kWhole).status, 200);
  const auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].body, requests[1].body);  // the cached conversion, credentials added again
  EXPECT_NE(requests[0].header("amz-sdk-invocation-id"), requests[1].header("amz-sdk-invocation-id"));
  const json cache = json::parse(gateway->get("/v1/health/detailed").body)["conversion_cache"];
  EXPECT_EQ(cache["hits"], 1);
  EXPECT_EQ(cache["misses"], 1);
  EXPECT_EQ(cache["capacity"], 100);
}

}  // namespace
}  // namespace llmgate::testing
