// Hot reload (what SIGHUP does): a new config generation is swapped in while requests flow;
// requests in flight finish on the generation they began on; a config that cannot be used
// leaves the running one; credential files and gateway keys are read again. And the drain
// that ends a replica: idle keep-alive connections get a grace, /health says 503.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gateway_harness.hpp"
#include "llmgate/auth/oauth_account.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string chatAnswer(const std::string& content) {
  return json{{"id", "c"},
              {"object", "chat.completion"},
              {"created", 1},
              {"model", "m"},
              {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}}, {"finish_reason", "stop"}}}},
              {"usage", {{"prompt_tokens", 1}, {"completion_tokens", 1}, {"total_tokens", 2}}}}
      .dump();
}

std::string chunk(const std::string& content) {
  return "data: " +
         json{{"id", "c"},
              {"object", "chat.completion.chunk"},
              {"created", 1},
              {"model", "m"},
              {"choices", {{{"index", 0}, {"delta", {{"content", content}}}, {"finish_reason", nullptr}}}}}
             .dump() +
         "\n\n";
}

std::string chatBody(const std::string& model, bool stream = false) {
  return json{{"model", model}, {"stream", stream}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}.dump();
}

std::string contentOf(const HttpResult& result) {
  const auto body = json::parse(result.body, nullptr, false);
  if (!body.is_object() || !body.contains("choices")) return "<no answer: " + result.body + ">";
  return body["choices"][0]["message"]["content"].get<std::string>();
}

// The value of the first sample line starting with `prefix`, or -1.
double sample(const std::string& text, const std::string& prefix) {
  const auto at = text.find("\n" + prefix);
  if (at == std::string::npos) return -1;
  const auto space = text.find(' ', at + 1 + prefix.size());
  return std::stod(text.substr(space + 1, text.find('\n', space) - space - 1));
}

std::string providerBlock(const std::string& name, const std::string& baseUrl, const std::string& model) {
  return json{{"name", name}, {"type", "openai"}, {"base_url", baseUrl}, {"api_key", "sk-test"}, {"models", {model}},
              {"retry", {{"max_attempts", 1}}}}
      .dump();
}

class ConfigReload : public ::testing::Test {
 protected:
  // "alpha" on the first upstream, whose streams wait at their second chunk until released.
  TestUpstream first{[this](const RecordedRequest& request) {
    if (request.body.find("\"stream\":true") != std::string::npos) {
      auto response = ScriptedResponse::sse({chunk("one "), chunk("two"), "data: [DONE]\n\n"});
      response.gate = [this] { return released.load(); };
      response.gateIndex = 1;
      return response;
    }
    return ScriptedResponse::json(200, chatAnswer("from first"));
  }};
  TestUpstream second{[](const RecordedRequest&) { return ScriptedResponse::json(200, chatAnswer("from second")); }};
  std::atomic<bool> released{false};

  std::string alphaConfig() const {
    return R"({"providers":[)" + providerBlock("first", first.baseUrl(), "alpha") + "]}";
  }
  std::string betaConfig(const std::string& extra = "") const {
    return R"({)" + extra + R"("providers":[)" + providerBlock("second", second.baseUrl(), "beta") + "]}";
  }
};

TEST_F(ConfigReload, NewRoutesServeAtOnceAndTheGenerationIsReported) {
  GatewayHarness gateway(alphaConfig());
  ASSERT_EQ(contentOf(gateway.post("/v1/chat/completions", chatBody("alpha"))), "from first");

  const auto result = gateway.reload(betaConfig());
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.generation, 2u);
  EXPECT_TRUE(result.needRestart.empty());

  EXPECT_EQ(contentOf(gateway.post("/v1/chat/completions", chatBody("beta"))), "from second");
  const auto gone = gateway.post("/v1/chat/completions", chatBody("alpha"));
  EXPECT_EQ(gone.status, 404);
  EXPECT_NE(gone.body.find("model_not_found"), std::string::npos) << gone.body;
  const auto models = json::parse(gateway.get("/v1/models").body);
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_EQ(models["data"][0]["id"], "beta");

  const auto health = json::parse(gateway.get("/v1/health/detailed").body);
  EXPECT_EQ(health["config"]["generation"], 2);
  EXPECT_EQ(health["config"]["reloads"], 1);
  EXPECT_EQ(health["config"]["failed_reloads"], 0);
  EXPECT_EQ(health["config"]["loaded_at"].get<std::string>().size(), 20u);  // 2026-12-01T13:40:00Z
  EXPECT_EQ(health["providers"][0]["name"], "second");
  const auto metrics = gateway.get("/metrics").body;
  EXPECT_EQ(sample(metrics, "llmgate_config_generation"), 2);
  EXPECT_EQ(sample(metrics, R"(llmgate_config_reloads_total{result="ok"})"), 1);
  EXPECT_EQ(sample(metrics, R"(llmgate_config_reloads_total{result="error"})"), 0);
}

TEST_F(ConfigReload, AStreamInFlightEndsOnTheGenerationItBeganOn) {
  GatewayHarness gateway(alphaConfig());
  std::promise<void> firstChunk;
  auto firstChunkSeen = firstChunk.get_future();
  bool told = false;
  auto streaming = std::async(std::launch::async, [&] {
    return gateway.stream("/v1/chat/completions", chatBody("alpha", true), [&](const std::string&) {
      if (!told) {
        told = true;
        firstChunk.set_value();
      }
      return true;
    });
  });
  ASSERT_EQ(firstChunkSeen.wait_for(5s), std::future_status::ready);

  // The provider this stream goes through is not in the new config: its generation must live on,
  // held by the stream alone once a second reload has replaced the generation after it.
  ASSERT_TRUE(gateway.reload(betaConfig()).ok);
  ASSERT_TRUE(gateway.reload(betaConfig()).ok);
  EXPECT_EQ(gateway.gateway().releaseRetired(), 1u) << "the stream's generation was freed under it";
  EXPECT_EQ(gateway.post("/v1/chat/completions", chatBody("alpha")).status, 404);
  EXPECT_EQ(contentOf(gateway.post("/v1/chat/completions", chatBody("beta"))), "from second");

  released = true;
  const auto result = streaming.get();
  EXPECT_EQ(result.status, 200);
  const auto answer = clientAnswer(core::Dialect::OpenAi, result.body, true);
  ASSERT_EQ(answer.choices.size(), 1u);
  EXPECT_EQ(answer.choices[0].text, "one two");
  EXPECT_NE(result.body.find("data: [DONE]"), std::string::npos);
  // Once the stream has ended, nothing holds it.
  EXPECT_TRUE(eventually([&] { return gateway.gateway().releaseRetired() == 0; }));
}

TEST_F(ConfigReload, AConfigThatCannotBeUsedLeavesTheRunningOne) {
  GatewayHarness gateway(alphaConfig());
  const std::vector<std::pair<std::string, std::string>> refused{
      {R"({"providers":[{"name":"x","type":"openai","base_ulr":"http://127.0.0.1:1/v1","models":["alpha"]}]})", "base_ulr"},
      {R"({"providers":[)", "JSON"},
      {R"({"providers":[{"name":"x","type":"no-such-type","models":["alpha"]}]})", "no-such-type"}};
  for (const auto& [text, named] : refused) {
    const auto result = gateway.reload(text);
    EXPECT_FALSE(result.ok) << text;
    EXPECT_EQ(result.generation, 1u);
    EXPECT_NE(result.error.find(named), std::string::npos) << result.error;
    EXPECT_EQ(result.error.find("sk-test"), std::string::npos) << "a key in the error: " << result.error;
    EXPECT_EQ(contentOf(gateway.post("/v1/chat/completions", chatBody("alpha"))), "from first");
  }
  const auto health = json::parse(gateway.get("/v1/health/detailed").body);
  EXPECT_EQ(health["config"]["generation"], 1);
  EXPECT_EQ(health["config"]["failed_reloads"], static_cast<int>(refused.size()));
  EXPECT_NE(health["config"]["last_failed_reload"]["error"].get<std::string>().find("no-such-type"), std::string::npos);
  EXPECT_EQ(sample(gateway.get("/metrics").body, R"(llmgate_config_reloads_total{result="error"})"),
            static_cast<double>(refused.size()));
}

TEST_F(ConfigReload, ChangesOnlyARestartAppliesAreNamed) {
  GatewayHarness gateway(alphaConfig());
  const auto result =
      gateway.reload(R"({"server":{"max_body_bytes":2048},"upstream":{"idle_seconds":5},"providers":[)" +
                     providerBlock("first", first.baseUrl(), "alpha") + "]}");
  ASSERT_TRUE(result.ok) << result.error;
  const std::vector<std::string> named{"server.max_body_bytes", "upstream.idle_seconds"};
  EXPECT_EQ(result.needRestart, named);
  // Judged against what runs, not against the last file: still not applied, still named.
  EXPECT_EQ(gateway.reload(R"({"server":{"max_body_bytes":2048},"upstream":{"idle_seconds":5},"providers":[)" +
                           providerBlock("first", first.baseUrl(), "alpha") + "]}")
                .needRestart,
            named);
  EXPECT_EQ(gateway.gateway().config().server.maxBodyBytes, 10 * 1024 * 1024) << "the generation says what runs";
  EXPECT_TRUE(gateway.reload(alphaConfig()).needRestart.empty());
}

TEST_F(ConfigReload, GatewayKeysAreReadAgainAndProbesNeedNone) {
  GatewayHarness gateway(alphaConfig());
  ASSERT_EQ(gateway.post("/v1/chat/completions", chatBody("alpha")).status, 200);
  ASSERT_TRUE(gateway.reload(R"({"auth":{"api_keys":["gk-2"]},"providers":[)" +
                             providerBlock("first", first.baseUrl(), "alpha") + "]}")
                  .ok);
  EXPECT_EQ(gateway.post("/v1/chat/completions", chatBody("alpha")).status, 401);
  EXPECT_EQ(gateway.post("/v1/chat/completions", chatBody("alpha"), {"Authorization: Bearer gk-2"}).status, 200);

  // A readiness probe carries no key: it gets the status and nothing else.
  const auto probe = gateway.get("/v1/health/detailed");
  EXPECT_EQ(probe.status, 200);
  EXPECT_EQ(json::parse(probe.body), (json{{"status", "ok"}}));
  const auto full = json::parse(gateway.get("/v1/health/detailed", {"x-api-key: gk-2"}).body);
  EXPECT_EQ(full["providers"][0]["name"], "first");
}

// Qwen-style OAuth credential files: a reload reads the file again, and the replaced
// generation stops refreshing in the background, so one credential is refreshed once.
class CredentialReload : public ::testing::Test {
 protected:
  void TearDown() override { std::remove(path_.c_str()); }

  void writeCredentials(const std::string& accessToken, std::int64_t expiresInMs) {
    std::ofstream(path_) << json{{"access_token", accessToken}, {"refresh_token", "rt-0"}, {"token_type", "Bearer"},
                                 {"resource_url", root()}, {"expiry_date", auth::nowEpochMs() + expiresInMs}}
                                .dump();
  }
  std::string root() const { return "http://127.0.0.1:" + std::to_string(upstream.port()); }
  std::string config() const {
    return json{{"providers", {{{"name", "qwen-code"}, {"type", "qwen"}, {"models", {"coder-model"}},
                                {"oauth_credentials", path_}, {"oauth_token_url", root() + "/token"},
                                {"refresh_lead_seconds", 2}}}}}
        .dump();
  }
  std::string lastAuthorization() const {
    const auto requests = upstream.requests();
    for (auto it = requests.rbegin(); it != requests.rend(); ++it) {
      if (it->target != "/token") return it->header("authorization");
    }
    return "";
  }

  std::atomic<int> refreshes{0};
  std::atomic<bool> onlyTokenB{false};  ///< the chat endpoint then accepts at-B alone
  TestUpstream upstream{[this](const RecordedRequest& request) {
    if (request.target == "/token") {
      ++refreshes;
      return ScriptedResponse::json(200, R"({"access_token":"at-refreshed","refresh_token":"rt-1","token_type":"Bearer","expires_in":3600})");
    }
    if (onlyTokenB && request.header("authorization") != "Bearer at-B") {
      return ScriptedResponse::json(401, R"({"error":{"message":"invalid access token","type":"invalid_request_error"}})");
    }
    return ScriptedResponse::json(200, chatAnswer("ok"));
  }};
  std::string path_ = ::testing::TempDir() + "credential_reload_" + std::to_string(::getpid()) + ".json";
};

TEST_F(CredentialReload, TheFileIsReadAgain) {
  writeCredentials("at-A", 3600 * 1000);
  GatewayHarness gateway(config());
  const std::string body = chatBody("coder-model");
  ASSERT_EQ(gateway.post("/v1/chat/completions", body).status, 200);
  EXPECT_EQ(lastAuthorization(), "Bearer at-A");

  writeCredentials("at-B", 3600 * 1000);  // as a login on the host would
  ASSERT_TRUE(gateway.reload(config()).ok);
  ASSERT_EQ(gateway.post("/v1/chat/completions", body).status, 200);
  EXPECT_EQ(lastAuthorization(), "Bearer at-B");
  EXPECT_EQ(refreshes.load(), 0);
}

TEST_F(CredentialReload, TheReplacedGenerationNoLongerRefreshes) {
  writeCredentials("at-A", 3000);  // due for a refresh one second from now (lead 2 s)
  GatewayHarness gateway(config());
  ASSERT_TRUE(gateway.reload(config()).ok);  // both generations read the same expiry
  ASSERT_TRUE(eventually([&] { return refreshes.load() >= 1; }, 8s));
  std::this_thread::sleep_for(1500ms);  // a second refresher would have fired by now
  EXPECT_EQ(refreshes.load(), 1);
  ASSERT_EQ(gateway.post("/v1/chat/completions", chatBody("coder-model")).status, 200);
  EXPECT_EQ(lastAuthorization(), "Bearer at-refreshed");
}

// Another writer (the CLI that owns the file, another replica, the generation before a reload)
// refreshed the token and rotated the refresh token: a 401 makes llmgate take the file's token
// instead of refreshing with the refresh token it holds.
TEST_F(CredentialReload, ANewerTokenInTheFileIsTakenInsteadOfRefreshing) {
  writeCredentials("at-A", 3600 * 1000);
  GatewayHarness gateway(config());
  writeCredentials("at-B", 7200 * 1000);
  onlyTokenB = true;
  const auto result = gateway.post("/v1/chat/completions", chatBody("coder-model"));
  EXPECT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(lastAuthorization(), "Bearer at-B");
  EXPECT_EQ(refreshes.load(), 0) << "refreshed with a refresh token another writer had used";
}

// A raw keep-alive connection, as a load balancer holds to a replica.
class RawConnection {
 public:
  explicit RawConnection(unsigned short port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }
  /// Sends a GET and reads one whole response (headers and the Content-Length body).
  std::string get(const std::string& path) {
    return send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n") ? readResponse() : "";
  }
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  std::string readResponse() {
    std::string response;
    char buffer[4096];
    for (;;) {
      const auto end = response.find("\r\n\r\n");
      if (end != std::string::npos) {
        const auto length = response.find("Content-Length: ");
        if (length != std::string::npos && response.size() >= end + 4 + std::stoul(response.substr(length + 16))) break;
      }
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      response.append(buffer, static_cast<std::size_t>(n));
    }
    return response;
  }
  /// True when the server closed the connection (a read sees the end) within the receive timeout.
  bool closedByServer() {
    char byte;
    return ::recv(fd_, &byte, 1, 0) == 0;
  }

 private:
  int fd_;
  bool connected_ = false;
};

TEST(Drain, IdleConnectionsGetAGraceAndHealthAnswers503) {
  std::atomic<bool> released{false};
  TestUpstream upstream{[&](const RecordedRequest&) {
    auto response = ScriptedResponse::json(200, chatAnswer("ok"));
    response.chunks.insert(response.chunks.begin(), "");
    response.gate = [&] { return released.load(); };
    response.gateIndex = 1;
    return response;
  }};
  GatewayHarness gateway(R"({"server":{"drain_idle_grace_ms":500},"providers":[)" +
                         providerBlock("up", upstream.baseUrl(), "m") + "]}");
  RawConnection used(gateway.server().port());
  RawConnection idle(gateway.server().port());
  RawConnection busy(gateway.server().port());
  RawConnection partial(gateway.server().port());
  ASSERT_TRUE(used.connected() && idle.connected() && busy.connected() && partial.connected());
  ASSERT_NE(used.get("/health").find("200 OK"), std::string::npos);
  ASSERT_NE(idle.get("/health").find("200 OK"), std::string::npos);
  const std::string chat = chatBody("m");
  const std::string chatHead =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(chat.size()) + "\r\n\r\n";
  ASSERT_TRUE(busy.send(chatHead + chat));  // waits upstream until released
  ASSERT_TRUE(eventually([&] { return upstream.requests().size() == 1; }));
  ASSERT_TRUE(partial.send(chatHead + chat.substr(0, 10)));  // the rest comes after the grace

  const auto drainStarted = std::chrono::steady_clock::now();
  gateway.server().beginDrain();
  ASSERT_TRUE(eventually([&] { return !RawConnection(gateway.server().port()).connected(); }, 2s))
      << "still accepting new connections";
  // A request on a connection kept from before is still served, told to close, then closed.
  const std::string answer = used.get("/health");
  EXPECT_NE(answer.find("503 Service Unavailable"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_NE(answer.find(R"({"status":"draining"})"), std::string::npos) << answer;
  EXPECT_TRUE(used.closedByServer());
  // A request in flight when the drain began says Connection: close too.
  released = true;
  const std::string busyAnswer = busy.readResponse();
  EXPECT_NE(busyAnswer.find("200 OK"), std::string::npos) << busyAnswer;
  EXPECT_NE(busyAnswer.find("Connection: close"), std::string::npos) << busyAnswer;
  EXPECT_TRUE(busy.closedByServer());
  // An idle one is closed when its grace ends, not before.
  EXPECT_TRUE(idle.closedByServer());
  EXPECT_GE(std::chrono::steady_clock::now() - drainStarted, 450ms);
  // A request half received when the grace ended is read to its end and answered.
  ASSERT_TRUE(partial.send(chat.substr(10)));
  const std::string partialAnswer = partial.readResponse();
  EXPECT_NE(partialAnswer.find("200 OK"), std::string::npos) << partialAnswer;
  EXPECT_NE(partialAnswer.find("Connection: close"), std::string::npos) << partialAnswer;
  EXPECT_TRUE(eventually([&] { return gateway.server().openConnections() == 0; }));
}

}  // namespace
}  // namespace llmgate::testing
