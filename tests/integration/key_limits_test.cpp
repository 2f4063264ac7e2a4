// Named gateway keys end to end over loopback: models a key may use, requests and tokens per
// minute, requests in flight, token budgets, revocation, a keys file reloaded, per-key metrics;
// then two gateways sharing their limits through a real redis-server, and both serving on when
// it dies or hangs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "gateway_harness.hpp"
#include "redis_server.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;

// Every answer reports 5 input and 2 output tokens.
std::string completion() {
  return json{{"id", "chatcmpl-up"},
              {"object", "chat.completion"},
              {"created", 1},
              {"model", "gpt-4o"},
              {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "hi"}}}, {"finish_reason", "stop"}}}},
              {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}}}
      .dump();
}

const std::string kChat = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hello there"}]})";
const std::string kMessages = R"({"model":"gpt-4o","max_tokens":16,"messages":[{"role":"user","content":"hello"}]})";

std::vector<std::string> bearer(const std::string& key) { return {"Authorization: Bearer " + key}; }

class KeyLimits : public ::testing::Test {
 protected:
  // A config whose auth.keys are `keys` (a JSON array) and whose extra top-level members are `extra`.
  std::string config(const std::string& keys, const std::string& extra = "") const {
    return R"({"auth":{"keys":)" + keys + "}," + extra + R"("providers":[
        {"name":"up","type":"openai","base_url":")" + upstream_.baseUrl() + R"(","api_key":"sk-up","retry":{"max_attempts":1},
         "models":["gpt-4o","gpt-*"]}]})";
  }
  // The requests in flight the gateway still counts for `name` (an answer is settled when its
  // exchange ends, just after its last byte).
  static std::int64_t inFlight(proxy::Gateway& gateway, const std::string& name) {
    for (const auto& key : gateway.limiter().usage()) {
      if (key.name == name) return key.inFlight;
    }
    return 0;
  }
  static bool settled(proxy::Gateway& gateway, const std::string& name) {
    return eventually([&] { return inFlight(gateway, name) == 0; });
  }

  std::atomic<int> answered_{0};
  TestUpstream upstream_{[this](const RecordedRequest&) {
    ++answered_;
    return ScriptedResponse::json(200, completion());
  }};
};

TEST_F(KeyLimits, RequestsPerMinuteRefusedWithTheHeadersOpenAiClientsRead) {
  GatewayHarness gateway(config(R"([{"name":"team","key":"sk-team","rpm":3}])"));
  for (int i = 0; i < 3; ++i) {
    const auto result = gateway.post("/v1/chat/completions", kChat, bearer("sk-team"));
    ASSERT_EQ(result.status, 200) << result.body;
    EXPECT_EQ(result.headers.at("x-ratelimit-limit-requests"), "3");
    EXPECT_EQ(result.headers.at("x-ratelimit-remaining-requests"), std::to_string(2 - i));
    EXPECT_FALSE(result.headers.at("x-ratelimit-reset-requests").empty());
    EXPECT_EQ(result.headers.count("x-ratelimit-limit-tokens"), 0u) << "no tokens limit, no tokens headers";
  }
  const auto refused = gateway.post("/v1/chat/completions", kChat, bearer("sk-team"));
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.headers.at("x-ratelimit-remaining-requests"), "0");
  // One request of three per minute comes back in 20 s.
  EXPECT_EQ(refused.headers.at("retry-after"), "20");
  const int waitMs = std::stoi(refused.headers.at("retry-after-ms"));
  EXPECT_GT(waitMs, 19000);
  EXPECT_LE(waitMs, 20000);
  const json error = json::parse(refused.body);
  EXPECT_EQ(error["error"]["code"], "rate_limit_exceeded");
  EXPECT_NE(error["error"]["message"].get<std::string>().find("requests per minute (limit 3)"), std::string::npos);
  EXPECT_EQ(answered_.load(), 3) << "a refused request never reaches the upstream";

  // The Anthropic dialect gets its own error shape for the same refusal.
  const auto messages = gateway.post("/v1/messages", kMessages, {"x-api-key: sk-team", "anthropic-version: 2023-06-01"});
  EXPECT_EQ(messages.status, 429);
  const json anthropic = json::parse(messages.body);
  EXPECT_EQ(anthropic["type"], "error");
  EXPECT_EQ(anthropic["error"]["type"], "rate_limit_error");
  EXPECT_EQ(messages.headers.count("retry-after"), 1u);

  // Streams are refused before they start, as a plain 429.
  const auto stream = gateway.post("/v1/chat/completions",
                                   R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]})",
                                   bearer("sk-team"));
  EXPECT_EQ(stream.status, 429);
}

TEST_F(KeyLimits, AKeyUsesOnlyItsModelsAndEachDialectSaysSoItsWay) {
  GatewayHarness gateway(config(R"([{"name":"narrow","key":"sk-narrow","models":["gpt-4o","gpt-4.1-*"]},
                                    {"name":"wide","key":"sk-wide"}])"));
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-narrow")).status, 200);
  const std::string other = R"({"model":"gpt-5","messages":[{"role":"user","content":"x"}]})";
  const std::string glob = R"({"model":"gpt-4.1-mini","messages":[{"role":"user","content":"x"}]})";
  EXPECT_EQ(gateway.post("/v1/chat/completions", glob, bearer("sk-narrow")).status, 200);
  const auto openai = gateway.post("/v1/chat/completions", other, bearer("sk-narrow"));
  EXPECT_EQ(openai.status, 404);
  EXPECT_EQ(json::parse(openai.body)["error"]["code"], "model_not_found");
  const auto anthropic = gateway.post("/v1/messages", R"({"model":"gpt-5","max_tokens":5,"messages":[{"role":"user","content":"x"}]})",
                                      {"x-api-key: sk-narrow"});
  EXPECT_EQ(anthropic.status, 403);
  EXPECT_EQ(json::parse(anthropic.body)["error"]["type"], "permission_error");
  EXPECT_EQ(gateway.post("/v1/chat/completions", other, bearer("sk-wide")).status, 200);
  EXPECT_EQ(answered_.load(), 3);
}

TEST_F(KeyLimits, UnknownAndRevokedKeysAre401) {
  GatewayHarness gateway(config(R"([{"name":"gone","key":"sk-gone","disabled":true}])"));
  const auto revoked = gateway.post("/v1/chat/completions", kChat, bearer("sk-gone"));
  EXPECT_EQ(revoked.status, 401);
  EXPECT_NE(revoked.body.find("revoked"), std::string::npos);
  EXPECT_EQ(revoked.body.find("sk-gone"), std::string::npos) << "the key is never echoed";
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-other")).status, 401);
  EXPECT_EQ(answered_.load(), 0);
}

TEST_F(KeyLimits, TokensPerMinuteAreChargedWithWhatTheAnswerUsed) {
  // The request is estimated at 25 tokens (its body's size); each answer reports 7. Charged by
  // the estimate, a second request would find 10 of 35 left and be refused; charged by what the
  // answers used, two go through (35 -> 28 -> 21) and the third finds fewer than 25.
  const std::string body = R"({"model":"gpt-4o","messages":[{"role":"user","content":"a question of some length, twenty tokens"}]})";
  ASSERT_EQ(core::tokensForChars(body.size()), 25);
  GatewayHarness gateway(config(R"([{"name":"tokens","key":"sk-t","tpm":35}])"));
  for (int i = 0; i < 2; ++i) {
    const auto result = gateway.post("/v1/chat/completions", body, bearer("sk-t"));
    ASSERT_EQ(result.status, 200) << i << ": " << result.body;
    EXPECT_EQ(result.headers.at("x-ratelimit-limit-tokens"), "35");
    ASSERT_TRUE(settled(gateway.gateway(), "tokens"));
  }
  const auto refused = gateway.post("/v1/chat/completions", body, bearer("sk-t"));
  EXPECT_EQ(refused.status, 429);
  EXPECT_NE(refused.body.find("tokens per minute"), std::string::npos);
  EXPECT_EQ(refused.headers.at("x-ratelimit-remaining-tokens"), "21");
}

TEST_F(KeyLimits, RequestsInFlightAreCappedAndFreedWhenTheyEnd) {
  std::atomic<bool> release{false};
  TestUpstream slow([&](const RecordedRequest&) {
    auto response = ScriptedResponse::json(200, completion());
    response.gate = [&] { return release.load(); };
    return response;
  });
  GatewayHarness gateway(R"({"auth":{"keys":[{"name":"one","key":"sk-one","max_concurrent":1}]},"providers":[
      {"name":"up","type":"openai","base_url":")" + slow.baseUrl() + R"(","api_key":"sk-up","models":["gpt-4o"]}]})");
  HttpResult first;
  std::thread holder([&] { first = gateway.post("/v1/chat/completions", kChat, bearer("sk-one")); });
  ASSERT_TRUE(eventually([&] { return slow.requests().size() == 1; }));
  const auto second = gateway.post("/v1/chat/completions", kChat, bearer("sk-one"));
  EXPECT_EQ(second.status, 429);
  EXPECT_NE(second.body.find("requests at once (limit 1)"), std::string::npos);
  release = true;
  holder.join();
  EXPECT_EQ(first.status, 200);
  ASSERT_TRUE(settled(gateway.gateway(), "one"));
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-one")).status, 200);
}

TEST_F(KeyLimits, ABudgetRunsOutAndSaysWhenItRenews) {
  GatewayHarness gateway(config(R"([{"name":"small","key":"sk-small","budget_tokens":10,"budget_period":"day"}])"));
  // 7 tokens used, then 14: the third request finds the budget spent.
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-small")).status, 200);
    ASSERT_TRUE(settled(gateway.gateway(), "small"));
  }
  const auto refused = gateway.post("/v1/chat/completions", kChat, bearer("sk-small"));
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(json::parse(refused.body)["error"]["code"], "insufficient_quota");
  const int retryAfter = std::stoi(refused.headers.at("retry-after"));
  EXPECT_GT(retryAfter, 0);
  EXPECT_LE(retryAfter, 86400) << "the budget renews at the next UTC midnight";
}

TEST_F(KeyLimits, UsageByKeyNameInMetricsAndTheKeyNowhere) {
  GatewayHarness gateway(config(R"([{"name":"team","key":"sk-secret-team","rpm":2}])"));
  for (int i = 0; i < 3; ++i) gateway.post("/v1/chat/completions", kChat, bearer("sk-secret-team"));
  ASSERT_TRUE(settled(gateway.gateway(), "team"));
  const auto metrics = gateway.get("/metrics");
  EXPECT_NE(metrics.body.find("llmgate_key_requests_total{key=\"team\"} 2"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("llmgate_key_tokens_total{key=\"team\",direction=\"input\"} 10"), std::string::npos);
  EXPECT_NE(metrics.body.find("llmgate_key_tokens_total{key=\"team\",direction=\"output\"} 4"), std::string::npos);
  EXPECT_NE(metrics.body.find("llmgate_key_rejected_total{key=\"team\",reason=\"rpm\"} 1"), std::string::npos);
  EXPECT_EQ(metrics.body.find("sk-secret"), std::string::npos);
  const auto health = gateway.get("/v1/health/detailed", bearer("sk-secret-team"));
  EXPECT_EQ(json::parse(health.body)["shared_state"]["backend"], "memory");
  EXPECT_EQ(health.body.find("sk-secret"), std::string::npos);
}

TEST_F(KeyLimits, AKeysFileIsReadAgainOnReloadAndSpendingSurvivesIt) {
  const std::string path = ::testing::TempDir() + "llmgate-keys-" + std::to_string(::getpid()) + ".json";
  const auto writeKeys = [&](const std::string& keys) { std::ofstream(path) << keys; };
  writeKeys(R"({"keys":[{"name":"alpha","key":"sk-alpha","rpm":2}]})");
  const std::string withFile = R"({"auth":{"keys_file":")" + path + R"("},"providers":[
      {"name":"up","type":"openai","base_url":")" + upstream_.baseUrl() + R"(","api_key":"sk-up","models":["gpt-4o"]}]})";
  GatewayHarness gateway(withFile);
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-alpha")).status, 200);
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-beta")).status, 401);

  writeKeys(R"([{"name":"alpha","key":"sk-alpha","rpm":2},{"name":"beta","key":"sk-beta"}])");
  ASSERT_TRUE(gateway.reload(withFile).ok);
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-beta")).status, 200);
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-alpha")).status, 200);
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-alpha")).status, 429)
      << "the reload kept what alpha had spent";

  writeKeys(R"([{"name":"beta","key":"sk-beta","disabled":true}])");
  ASSERT_TRUE(gateway.reload(withFile).ok);
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-beta")).status, 401);
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-alpha")).status, 401);

  writeKeys("not json");
  const auto broken = gateway.reload(withFile);
  EXPECT_FALSE(broken.ok);
  EXPECT_NE(broken.error.find("keys_file"), std::string::npos) << broken.error;
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-beta")).status, 401) << "the running keys stay";
  std::remove(path.c_str());
}

class SharedLimits : public KeyLimits {
 protected:
  std::string sharedConfig(const std::string& keys) const {
    return config(keys, R"("redis":{"url":")" + redis_.url() + R"(","timeout_ms":50},)");
  }
  // Two gateways (replicas) with `keys`, both connected to the test's Redis.
  struct Replicas {
    std::unique_ptr<GatewayHarness> first, second;
  };
  Replicas replicas(const std::string& keys) const {
    Replicas both{std::make_unique<GatewayHarness>(sharedConfig(keys)), std::make_unique<GatewayHarness>(sharedConfig(keys))};
    EXPECT_TRUE(redisConnected(*both.first));
    EXPECT_TRUE(redisConnected(*both.second));
    return both;
  }
  RedisServer redis_;
};

TEST_F(SharedLimits, TwoGatewaysAdmitExactlyTheLimitBetweenThem) {
  ASSERT_TRUE(redis_.running());
  auto both = replicas(R"([{"name":"shared","key":"sk-shared","rpm":10}])");
  GatewayHarness& first = *both.first;
  GatewayHarness& second = *both.second;
  std::atomic<int> admitted{0}, refused{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      GatewayHarness& gateway = c % 2 == 0 ? first : second;
      for (int i = 0; i < 8; ++i) {
        const long status = gateway.post("/v1/chat/completions", kChat, bearer("sk-shared")).status;
        (status == 200 ? admitted : status == 429 ? refused : other)++;
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(admitted.load(), 10) << "one limit of 10 a minute for both replicas";
  EXPECT_EQ(refused.load(), 22);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(first.gateway().limiter().localDecisions(), 0u);
  EXPECT_EQ(second.gateway().limiter().localDecisions(), 0u);
  EXPECT_NE(redis_.cli("HGET 'llmgate:{shared}:limits' at"), "") << "the buckets live in Redis";
}

TEST_F(SharedLimits, ABudgetSpentOnOneGatewayIsSpentOnTheOther) {
  ASSERT_TRUE(redis_.running());
  auto both = replicas(R"([{"name":"b","key":"sk-b","budget_tokens":10,"budget_period":"month"}])");
  GatewayHarness& first = *both.first;
  GatewayHarness& second = *both.second;
  ASSERT_EQ(first.post("/v1/chat/completions", kChat, bearer("sk-b")).status, 200);
  ASSERT_TRUE(settled(first.gateway(), "b"));
  ASSERT_EQ(second.post("/v1/chat/completions", kChat, bearer("sk-b")).status, 200);
  ASSERT_TRUE(settled(second.gateway(), "b"));
  // 14 of 10 spent, 7 on each replica: neither would know alone.
  EXPECT_TRUE(eventually([&] { return first.post("/v1/chat/completions", kChat, bearer("sk-b")).status == 429; }));
  EXPECT_EQ(second.post("/v1/chat/completions", kChat, bearer("sk-b")).status, 429);
}

TEST_F(SharedLimits, WhatWasSpentWhileRedisWasDownReachesItWhenItIsBack) {
  ASSERT_TRUE(redis_.running());
  GatewayHarness gateway(sharedConfig(R"([{"name":"spender","key":"sk-s","budget_tokens":1000}])"));
  ASSERT_TRUE(redisConnected(gateway));
  redis_.stop();
  for (int i = 0; i < 2; ++i) ASSERT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-s")).status, 200);
  ASSERT_TRUE(settled(gateway.gateway(), "spender"));
  redis_.start();  // empty: what it holds now came from the gateway's queue
  ASSERT_TRUE(redisConnected(gateway));
  EXPECT_TRUE(eventually([&] {
    const std::string key = redis_.cli("--scan --pattern 'llmgate:{spender}:budget:*'");
    return !key.empty() && redis_.cli("GET '" + key + "'") == "14";
  })) << "two answers of 7 tokens";
}

TEST_F(SharedLimits, RedisDyingOrHangingNeverFailsARequest) {
  ASSERT_TRUE(redis_.running());
  auto both = replicas(R"([{"name":"k","key":"sk-k","rpm":1000}])");
  GatewayHarness& first = *both.first;
  GatewayHarness& second = *both.second;
  ASSERT_EQ(first.post("/v1/chat/completions", kChat, bearer("sk-k")).status, 200);

  redis_.stop();
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(first.post("/v1/chat/completions", kChat, bearer("sk-k")).status, 200);
    EXPECT_EQ(second.post("/v1/chat/completions", kChat, bearer("sk-k")).status, 200);
  }
  const auto health = first.get("/v1/health/detailed", bearer("sk-k"));
  EXPECT_EQ(health.status, 200) << "a replica without Redis still takes traffic";
  const json report = json::parse(health.body);
  EXPECT_EQ(report["status"], "degraded");
  EXPECT_EQ(report["shared_state"]["connections"], 0);
  EXPECT_GT(first.gateway().limiter().localDecisions(), 0u);
  EXPECT_NE(first.get("/metrics").body.find("llmgate_redis_connections 0"), std::string::npos);

  // Back on the same port: both reconnect by themselves and share again.
  redis_.start();
  ASSERT_TRUE(redisConnected(first));
  ASSERT_TRUE(redisConnected(second));
  const auto local = first.gateway().limiter().localDecisions();
  EXPECT_EQ(first.post("/v1/chat/completions", kChat, bearer("sk-k")).status, 200);
  EXPECT_EQ(first.gateway().limiter().localDecisions(), local);

  // Hung (accepting nothing, answering nothing): every request waits at most the 50 ms timeout.
  redis_.pause();
  for (int i = 0; i < 5; ++i) {
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(first.post("/v1/chat/completions", kChat, bearer("sk-k")).status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  }
  EXPECT_GT(first.gateway().redis().report().timeouts, 0u);
  redis_.resume();
  EXPECT_TRUE(redisConnected(first));
}

// A server on the Redis port that answers the connection's setup, then every read with `reply`
// (bytes of the wrong type, more replies than commands, or not RESP at all).
class WrongRedis {
 public:
  explicit WrongRedis(std::string reply) : reply_(std::move(reply)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(listener_, 16);
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0) return;
        connections_.push_back(std::thread([this, fd] {
          char buffer[4096];
          bool greeted = false;
          while (::read(fd, buffer, sizeof buffer) > 0) {
            // The connection's setup: two scripts loaded (their SHA), then PONG.
            const std::string out = greeted ? reply_ : "$1\r\na\r\n$1\r\nb\r\n+PONG\r\n";
            greeted = true;
            if (::write(fd, out.data(), out.size()) < 0) break;
          }
          ::close(fd);
        }));
      }
    });
  }
  ~WrongRedis() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
    for (auto& connection : connections_) connection.detach();  // each ends when the gateway closes its side
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string reply_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<std::thread> connections_;
};

class WrongRedisReplies : public KeyLimits, public ::testing::WithParamInterface<std::string> {};

TEST_P(WrongRedisReplies, AreDecidedLocallyAndNeverFailARequest) {
  WrongRedis redis(GetParam());
  GatewayHarness gateway(config(R"([{"name":"w","key":"sk-w","rpm":5}])",
                                R"("redis":{"url":")" + redis.url() + R"(","timeout_ms":50},)"));
  // Ready once its PING was answered: the wrong bytes come in reply to the limits script.
  ASSERT_TRUE(eventually([&] { return gateway.gateway().redis().report().connected > 0; }));
  for (int i = 0; i < 5; ++i) {
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-w")).status, 200) << i;
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(500)) << "at most redis.timeout_ms waited";
  }
  EXPECT_EQ(gateway.post("/v1/chat/completions", kChat, bearer("sk-w")).status, 429) << "the local limit held";
  EXPECT_EQ(gateway.get("/health").status, 200);
}

INSTANTIATE_TEST_SUITE_P(Bytes, WrongRedisReplies,
                         ::testing::Values("+OK\r\n",                                 // a status, not the script's array
                                           ":7\r\n",                                  // an integer
                                           "-ERR unknown command\r\n",                // an error
                                           "*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n",  // an array of the wrong types
                                           "*2\r\n$1\r\nx\r\n",                      // an array of the wrong length
                                           "*9999999999\r\n",                          // an absurd length
                                           "HTTP/1.1 400 Bad Request\r\n\r\n",       // not RESP at all
                                           "$5\r\nab",                                 // cut short
                                           "+OK\r\n+OK\r\n+OK\r\n",                   // more replies than commands
                                           "*2000\r\n"));                              // an array larger than any asked for

}  // namespace
}  // namespace llmgate::testing
