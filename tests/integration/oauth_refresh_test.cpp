// OAuth accounts (Qwen Code credentials) against a loopback token endpoint and upstream: the
// token is refreshed before it expires and written back; a 401 refreshes once and retries; many
// requests rejected at once cause exactly one refresh.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gateway_harness.hpp"
#include "llmgate/auth/oauth_account.hpp"
#include "redis_server.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;

// A token endpoint and a chat upstream on one port, sharing which access token is valid.
class OAuthWorld {
 public:
  explicit OAuthWorld(std::string validToken) : valid_(std::move(validToken)) {}

  ScriptedResponse handle(const RecordedRequest& request) {
    if (request.target == "/token") {
      const int n = ++refreshes_;
      std::this_thread::sleep_for(refreshDelay);  // keeps the refresh in flight while others arrive
      if (failRefresh) return ScriptedResponse::json(400, R"({"error":"invalid_grant"})");
      std::lock_guard lock(mutex_);
      // Each refresh token works once, as with providers that rotate them.
      if (request.body.find("refresh_token=" + validRefresh_ + "&") == std::string::npos) {
        ++refusedRefreshes_;
        return ScriptedResponse::json(400, R"({"error":"invalid_grant","error_description":"refresh token already used"})");
      }
      validRefresh_ = "rt-" + std::to_string(n);
      refreshBodies_.push_back(request.body);
      valid_ = "at-" + std::to_string(n);
      json answer{{"access_token", valid_}, {"refresh_token", "rt-" + std::to_string(n)}, {"token_type", "Bearer"}};
      if (expiresIn > 0) answer["expires_in"] = expiresIn;
      return ScriptedResponse::json(200, answer.dump());
    }
    std::string valid;
    {
      std::lock_guard lock(mutex_);
      valid = valid_;
    }
    if (request.header("authorization") != "Bearer " + valid) {
      ++rejected_;
      return ScriptedResponse::json(401, R"({"error":{"message":"invalid access token or token expired","type":"invalid_request_error","code":"invalid_api_key"}})");
    }
    return ScriptedResponse::json(200, R"({"id":"c","object":"chat.completion","created":1,"model":"coder-model",
        "choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],
        "usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})");
  }

  int refreshes() const { return refreshes_.load(); }
  int refusedRefreshes() const { return refusedRefreshes_.load(); }
  int rejected() const { return rejected_.load(); }
  std::vector<std::string> refreshBodies() const {
    std::lock_guard lock(mutex_);
    return refreshBodies_;
  }

  std::chrono::milliseconds refreshDelay{0};
  std::int64_t expiresIn = 3600;  ///< 0: the answer does not say
  bool failRefresh = false;

 private:
  mutable std::mutex mutex_;
  std::string valid_;
  std::string validRefresh_ = "rt-0";
  std::atomic<int> refusedRefreshes_{0};
  std::vector<std::string> refreshBodies_;
  std::atomic<int> refreshes_{0};
  std::atomic<int> rejected_{0};
};

class OAuthRefresh : public ::testing::Test {
 protected:
  void TearDown() override { std::remove(path_.c_str()); }

  // Writes the credential file and starts the gateway with one Qwen OAuth account.
  void start(OAuthWorld& world, std::int64_t expiresInMs, int leadSeconds) {
    upstream_ = std::make_unique<TestUpstream>([&world](const RecordedRequest& r) { return world.handle(r); });
    const std::string root = "http://127.0.0.1:" + std::to_string(upstream_->port());
    path_ = ::testing::TempDir() + "oauth_refresh_" + std::to_string(::getpid()) + ".json";
    std::ofstream(path_) << json{{"access_token", "at-0"}, {"refresh_token", "rt-0"}, {"token_type", "Bearer"},
                                 {"resource_url", root}, {"expiry_date", auth::nowEpochMs() + expiresInMs}}.dump();
    gateway_ = std::make_unique<GatewayHarness>(json{{"providers", {{{"name", "qwen-code"}, {"type", "qwen"},
                                                                     {"models", {"coder-model"}},
                                                                     {"oauth_credentials", path_},
                                                                     {"oauth_token_url", root + "/token"},
                                                                     {"refresh_lead_seconds", leadSeconds}}}}}.dump());
  }

  HttpResult chat() const {
    return gateway_->post("/v1/chat/completions", R"({"model":"coder-model","messages":[{"role":"user","content":"hi"}]})");
  }

  json savedFile() const {
    std::ifstream in(path_);
    return json::parse(in, nullptr, false);
  }

  std::string path_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<GatewayHarness> gateway_;
};

TEST_F(OAuthRefresh, RefreshesBeforeExpiryAndWritesTheFileBack) {
  OAuthWorld world("at-1");  // only the refreshed token will be accepted
  start(world, 3000, 2);     // due one second from now
  ASSERT_TRUE(eventually([&] { return world.refreshes() >= 1 && savedFile().value("access_token", "") == "at-1"; },
                         std::chrono::seconds(8)));
  EXPECT_EQ(world.refreshBodies().at(0),
            "grant_type=refresh_token&refresh_token=rt-0&client_id=f0304373b74a44d2b584a3fb70ca9e56");
  const json saved = savedFile();
  EXPECT_EQ(saved["refresh_token"], "rt-1");
  EXPECT_GT(saved["expiry_date"].get<std::int64_t>(), auth::nowEpochMs() + 3000000);
  EXPECT_EQ(saved["resource_url"], "http://127.0.0.1:" + std::to_string(upstream_->port()));  // kept
  const auto result = chat();
  EXPECT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(world.rejected(), 0);  // the client never met an expired token
  EXPECT_EQ(world.refreshes(), 1);
}

TEST_F(OAuthRefresh, A401RefreshesOnceAndRetries) {
  OAuthWorld world("revoked-elsewhere");  // the file's token was invalidated before its expiry
  start(world, 3600000, 300);
  const auto result = chat();
  EXPECT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(world.rejected(), 1);
  EXPECT_EQ(world.refreshes(), 1);
  EXPECT_EQ(savedFile()["access_token"], "at-1");
}

TEST_F(OAuthRefresh, AFailedRefreshGivesTheClientTheUpstreams401) {
  OAuthWorld world("revoked-elsewhere");
  world.failRefresh = true;
  start(world, 3600000, 300);
  const auto result = chat();
  EXPECT_EQ(result.status, 401) << result.body;
  EXPECT_NE(result.body.find("invalid access token"), std::string::npos) << result.body;
  EXPECT_EQ(world.refreshes(), 1);  // refreshed once, not in a loop
  EXPECT_EQ(world.rejected(), 1);
  EXPECT_EQ(savedFile()["access_token"], "at-0");  // nothing written
  // Operators see the failure and the expiry in the detailed health, and no token.
  const auto health = gateway_->get("/v1/health/detailed");
  const json credential = json::parse(health.body)["providers"][0]["endpoints"][0]["credential"];
  EXPECT_EQ(credential["type"], "oauth");
  EXPECT_NEAR(credential["expires_in_s"].get<double>(), 3600.0, 60.0);
  EXPECT_EQ(credential["last_refresh_error"]["message"], "refresh endpoint answered HTTP 400");
  EXPECT_EQ(health.body.find("at-0"), std::string::npos);
  EXPECT_EQ(health.body.find("rt-0"), std::string::npos);
}

TEST_F(OAuthRefresh, ConcurrentRejectedRequestsShareOneRefresh) {
  OAuthWorld world("revoked-elsewhere");
  world.refreshDelay = std::chrono::milliseconds(300);
  start(world, 3600000, 300);
  constexpr int kClients = 8;
  std::vector<long> statuses(kClients, 0);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) clients.emplace_back([&, i] { statuses[i] = chat().status; });
  for (auto& client : clients) client.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(statuses[i], 200) << "client " << i;
  EXPECT_EQ(world.refreshes(), 1);
  // Several met the old token while the refresh was running (a slow machine may let the last
  // ones start after it, with the new token).
  EXPECT_GE(world.rejected(), 2);
  EXPECT_LE(world.rejected(), kClients);
}

// Replicas sharing one OAuth account through a real redis-server: one refreshes, the others
// adopt its token, and the rotated refresh token is never sent twice.
class SharedOAuth : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const auto& path : paths_) std::remove(path.c_str());
  }
  // A replica with its own copy of the account's credential file.
  std::unique_ptr<GatewayHarness> replica(OAuthWorld& world, std::int64_t expiresInMs, int leadSeconds) {
    if (!upstream_) upstream_ = std::make_unique<TestUpstream>([&world](const RecordedRequest& r) { return world.handle(r); });
    const std::string root = "http://127.0.0.1:" + std::to_string(upstream_->port());
    paths_.push_back(::testing::TempDir() + "shared_oauth_" + std::to_string(::getpid()) + "_" + std::to_string(paths_.size()) + ".json");
    std::ofstream(paths_.back()) << json{{"access_token", "at-0"}, {"refresh_token", "rt-0"}, {"token_type", "Bearer"},
                                         {"resource_url", root}, {"expiry_date", auth::nowEpochMs() + expiresInMs}}.dump();
    return std::make_unique<GatewayHarness>(
        json{{"redis", {{"url", redis_.url()}, {"timeout_ms", 200}}},
             {"providers", {{{"name", "qwen-code"}, {"type", "qwen"}, {"models", {"coder-model"}},
                             {"oauth_credentials", paths_.back()}, {"oauth_token_url", root + "/token"},
                             {"refresh_lead_seconds", leadSeconds}}}}}.dump());
  }
  static HttpResult chat(GatewayHarness& gateway) {
    return gateway.post("/v1/chat/completions", R"({"model":"coder-model","messages":[{"role":"user","content":"hi"}]})");
  }
  json savedFile(std::size_t replica) const {
    std::ifstream in(paths_.at(replica));
    return json::parse(in, nullptr, false);
  }

  RedisServer redis_;
  std::unique_ptr<TestUpstream> upstream_;
  std::vector<std::string> paths_;
};

TEST_F(SharedOAuth, OneReplicaRefreshesBeforeExpiryAndTheOthersAdoptItsToken) {
  ASSERT_TRUE(redis_.running());
  OAuthWorld world("at-1");  // only the refreshed token will be accepted
  world.refreshDelay = std::chrono::milliseconds(300);  // the others find the lock taken
  std::vector<std::unique_ptr<GatewayHarness>> replicas;
  for (int i = 0; i < 3; ++i) replicas.push_back(replica(world, 4000, 2));  // due two seconds from now
  for (auto& gateway : replicas) ASSERT_TRUE(redisConnected(*gateway));
  ASSERT_TRUE(eventually([&] {
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      if (savedFile(i).value("access_token", "") != "at-1") return false;
    }
    return true;
  }, std::chrono::seconds(10))) << "every replica's file holds the one new token";
  EXPECT_EQ(world.refreshes(), 1);
  EXPECT_EQ(world.refusedRefreshes(), 0) << "no replica sent the rotated refresh token";
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    EXPECT_EQ(savedFile(i)["refresh_token"], "rt-1") << i;
    const auto result = chat(*replicas[i]);
    EXPECT_EQ(result.status, 200) << i << ": " << result.body;
  }
  EXPECT_EQ(world.rejected(), 0);
  const std::string shared = redis_.cli("HGET 'llmgate:oauth:{qwen-code#0}:token' token");
  EXPECT_NE(shared.find("at-1"), std::string::npos) << "the token is kept in Redis for replicas to come";
  EXPECT_EQ(redis_.cli("EXISTS 'llmgate:oauth:{qwen-code#0}:lock'"), "0") << "the lock is given back";
}

TEST_F(SharedOAuth, AReplicaWhoseTokenIsRejectedTakesTheOneAnotherRefreshed) {
  ASSERT_TRUE(redis_.running());
  OAuthWorld world("revoked-elsewhere");
  auto first = replica(world, 3600000, 300);
  auto second = replica(world, 3600000, 300);
  ASSERT_TRUE(redisConnected(*first));
  ASSERT_TRUE(redisConnected(*second));
  const auto one = chat(*first);
  EXPECT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(world.refreshes(), 1);
  // The second still holds at-0 (now rejected) and rt-0 (now used): it must not refresh with it.
  const auto two = chat(*second);
  EXPECT_EQ(two.status, 200) << two.body;
  EXPECT_EQ(world.refreshes(), 1);
  EXPECT_EQ(world.refusedRefreshes(), 0);
  EXPECT_EQ(world.rejected(), 2);
  EXPECT_EQ(savedFile(1)["access_token"], "at-1");
}

TEST_F(SharedOAuth, ReplicasStartedWithATokenAlreadyDueRefreshItOnce) {
  ASSERT_TRUE(redis_.running());
  OAuthWorld world("at-1");
  world.refreshDelay = std::chrono::milliseconds(300);
  std::vector<std::unique_ptr<GatewayHarness>> replicas;
  // Due at once: each refresher begins before its first connection to Redis is up.
  for (int i = 0; i < 3; ++i) replicas.push_back(replica(world, 1000, 300));
  ASSERT_TRUE(eventually([&] {
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      if (savedFile(i).value("access_token", "") != "at-1") return false;
    }
    return true;
  }, std::chrono::seconds(10)));
  EXPECT_EQ(world.refreshes(), 1);
  EXPECT_EQ(world.refusedRefreshes(), 0);
  for (auto& gateway : replicas) EXPECT_EQ(chat(*gateway).status, 200);
}

TEST_F(SharedOAuth, ATokenWhoseExpiryIsNotSaidIsAdoptedToo) {
  ASSERT_TRUE(redis_.running());
  OAuthWorld world("revoked-elsewhere");
  world.expiresIn = 0;  // the refresh answer says no expires_in
  auto first = replica(world, 3600000, 300);
  auto second = replica(world, 3600000, 300);
  ASSERT_TRUE(redisConnected(*first));
  ASSERT_TRUE(redisConnected(*second));
  EXPECT_EQ(chat(*first).status, 200);
  const auto two = chat(*second);
  EXPECT_EQ(two.status, 200) << two.body;
  EXPECT_EQ(world.refreshes(), 1);
  EXPECT_EQ(world.refusedRefreshes(), 0);
}

TEST_F(SharedOAuth, AnOlderTokenInRedisIsNeverAdopted) {
  ASSERT_TRUE(redis_.running());
  OAuthWorld world("revoked-elsewhere");
  auto gateway = replica(world, 3600000, 300);
  ASSERT_TRUE(redisConnected(*gateway));
  // What a replica published long before this one's file was written (a lost or late publish):
  // another access token, one that expires later even, with a refresh token used since.
  const json stale{{"access_token", "at-stale"}, {"refresh_token", "rt-stale"}, {"token_type", "Bearer"},
                   {"resource_url", "http://127.0.0.1:" + std::to_string(upstream_->port())},
                   {"expiry_date", auth::nowEpochMs() + 7200000}};
  ASSERT_EQ(redis_.cli("HSET 'llmgate:oauth:{qwen-code#0}:token' at 1000 token '" + stale.dump() + "'"), "2");
  const auto result = chat(*gateway);
  EXPECT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(world.refreshes(), 1) << "refreshed with its own refresh token";
  EXPECT_EQ(world.refusedRefreshes(), 0);
  EXPECT_EQ(savedFile(0)["access_token"], "at-1");
  // Its newer token replaced the stale one.
  EXPECT_TRUE(eventually([&] {
    return redis_.cli("HGET 'llmgate:oauth:{qwen-code#0}:token' token").find("at-1") != std::string::npos;
  }));
}

TEST_F(SharedOAuth, WithRedisDownEachReplicaRefreshesOnItsOwn) {
  ASSERT_TRUE(redis_.running());
  OAuthWorld world("revoked-elsewhere");
  auto gateway = replica(world, 3600000, 300);
  ASSERT_TRUE(redisConnected(*gateway));
  redis_.stop();
  const auto result = chat(*gateway);
  EXPECT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(world.refreshes(), 1);
  EXPECT_EQ(savedFile(0)["access_token"], "at-1");
}

}  // namespace
}  // namespace llmgate::testing
