// The process never dies: what a client or an upstream sends, and how the timings fall, ends one
// request at most. Regressions of the crashes found so far, containment of a deliberately
// throwing provider, a timer race stress, bounded labels, and bodies over the limit.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <stdexcept>
#include <thread>

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/event_stream_writer.hpp"
#include "gateway_harness.hpp"
#include "providers/openai/openai_codec.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kMockOnly = R"({"providers":[{"name":"mock","type":"mock","models":["mock"]}]})";

std::string errorCode(const std::string& body) {
  const json parsed = json::parse(body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("error") || !parsed["error"].is_object()) return {};
  const json& error = parsed["error"];
  if (error.contains("code") && error["code"].is_string()) return error["code"];
  return error.contains("type") && error["type"].is_string() ? error["type"].get<std::string>() : std::string();
}

// The sum of every sample of `name` in a Prometheus text exposition.
double metricValue(const std::string& text, const std::string& name) {
  double total = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name, 0) != 0 || (line.size() > name.size() && line[name.size()] != ' ' && line[name.size()] != '{')) continue;
    total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

// ---- client JSON of unexpected types ------------------------------------------------------

TEST(NeverDies, ToolWithANullDescriptionIsServed) {
  GatewayHarness gateway(kMockOnly);
  const std::string body = R"({"model":"mock","max_tokens":10,"messages":[{"role":"user","content":"hi"}],
    "tools":[{"name":"t","description":null,"input_schema":{"type":"object"}}]})";
  EXPECT_EQ(gateway.post("/v1/messages", body).status, 200);
  EXPECT_EQ(gateway.post("/v1/messages/count_tokens", body).status, 200);
  EXPECT_EQ(gateway.get("/health").status, 200);
}

TEST(NeverDies, AWrongTypeIsA400NamingTheFieldInTheClientsDialect) {
  GatewayHarness gateway(kMockOnly);
  auto openAi = gateway.post("/v1/chat/completions",
                             R"({"model":"mock","messages":[{"role":"user","content":"hi","name":5}]})");
  EXPECT_EQ(openAi.status, 400);
  const json openAiError = json::parse(openAi.body)["error"];
  EXPECT_EQ(openAiError["param"], "messages[0].name");
  EXPECT_EQ(openAiError["code"], "invalid_type");
  EXPECT_EQ(openAiError["message"], "messages[0].name: expected string, got number");

  auto anthropic = gateway.post("/v1/messages", R"({"model":"mock","max_tokens":"10","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(anthropic.status, 400);
  const json anthropicError = json::parse(anthropic.body);
  EXPECT_EQ(anthropicError["type"], "error");
  EXPECT_EQ(anthropicError["error"]["type"], "invalid_request_error");
  EXPECT_EQ(anthropicError["error"]["message"], "max_tokens: expected integer, got string");
}

TEST(NeverDies, NestingDeeperThanTheBoundIsRefusedNotRecursedInto) {
  GatewayHarness gateway(kMockOnly);
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  for (const std::string& body :
       {R"({"model":"mock","messages":[{"role":"user","content":"hi"}],"x":)" + deep + "}",
        R"({"model":"mock","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"t","input_schema":{"a":)" +
            deep + "}}]}"}) {
    for (const char* path : {"/v1/chat/completions", "/v1/messages"}) {
      auto result = gateway.post(path, body);
      EXPECT_EQ(result.status, 400) << path;
      EXPECT_EQ(errorCode(result.body), std::string(path) == "/v1/messages" ? "invalid_request_error" : "invalid_json");
    }
  }
  EXPECT_EQ(gateway.get("/health").status, 200);
}

// ---- upstream JSON of unexpected types ----------------------------------------------------

TEST(NeverDies, PassthroughUsageOfTheWrongTypeIsRelayedAsItCameAndCountedAsUnknown) {
  const std::string whole =
      R"({"id":"c","object":"chat.completion","created":1,"model":"glm-4.6","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":"7","completion_tokens":[],"total_tokens":{}}})";
  const std::vector<std::string> events{
      R"(data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"glm-4.6","choices":[{"index":0,"delta":{"content":"hi"}}]})" "\n\n",
      R"(data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"glm-4.6","choices":[],"usage":{"prompt_tokens":"7","completion_tokens":null}})" "\n\n",
      "data: [DONE]\n\n"};
  TestUpstream upstream([&](const RecordedRequest& request) {
    return request.body.find("\"stream\":true") != std::string::npos ? ScriptedResponse::sse(events)
                                                                       : ScriptedResponse::json(200, whole);
  });
  GatewayHarness gateway(R"({"providers":[{"name":"zhipu","type":"zhipu","base_url":")" + upstream.baseUrl() +
                         R"(","api_key":"k","models":["glm-4.6"]}]})");
  auto answer = gateway.post("/v1/chat/completions", R"({"model":"glm-4.6","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, whole);
  auto streamed = gateway.post("/v1/chat/completions",
                               R"({"model":"glm-4.6","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.body, events[0] + events[1] + events[2]);
  // Translated, the same answer's text arrives and its usage is left out rather than invented.
  auto translated = gateway.post("/v1/messages", R"({"model":"glm-4.6","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(translated.status, 200) << translated.body;
  EXPECT_EQ(json::parse(translated.body)["content"][0]["text"], "hi");
}

class KiroWrongTypes : public ::testing::TestWithParam<std::string> {};

TEST_P(KiroWrongTypes, EndTheRequestWithAMalformedUpstreamError) {
  const std::string credentials = ::testing::TempDir() + "never_dies_kiro_" + std::to_string(::getpid()) + ".json";
  std::ofstream(credentials) << R"({"accessToken":"at","refreshToken":"rt","authMethod":"social","expiresAt":"2099-01-01T00:00:00.000Z"})";
  const std::string payload = GetParam();
  TestUpstream upstream([&](const RecordedRequest&) {
    ScriptedResponse response;
    response.headers.emplace_back("Content-Type", "application/vnd.amazon.eventstream");
    response.chunked = true;
    const std::string type = payload.find("toolUseId") != std::string::npos ? "toolUseEvent" : "assistantResponseEvent";
    response.chunks = {awsEvent(type, payload)};
    return response;
  });
  const std::string root = "http://127.0.0.1:" + std::to_string(upstream.port());
  GatewayHarness gateway(json{{"providers", {{{"name", "kiro"}, {"type", "kiro"}, {"base_url", root},
                                              {"credentials", {credentials}}, {"retry", {{"max_attempts", 1}}},
                                              {"models", {"claude-sonnet-4-5"}}}}}}.dump());
  for (const bool stream : {false, true}) {
    const auto started = std::chrono::steady_clock::now();
    auto result = gateway.post("/v1/messages", json{{"model", "claude-sonnet-4-5"}, {"max_tokens", 5}, {"stream", stream},
                                                    {"messages", {{{"role", "user"}, {"content", "hi"}}}}}.dump());
    // Before, the decoder's failure cancelled the transfer without telling the request: no answer.
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    EXPECT_TRUE(result.curlError.empty()) << result.curlError;
    if (stream && result.status == 200) {
      EXPECT_NE(result.body.find("event: error"), std::string::npos) << result.body;
    } else {
      EXPECT_EQ(result.status, 502) << result.body;
      EXPECT_EQ(errorCode(result.body), "api_error") << result.body;
    }
  }
  std::remove(credentials.c_str());
}

INSTANTIATE_TEST_SUITE_P(Payloads, KiroWrongTypes,
                         ::testing::Values(R"({"content":5})", R"({"content":{"a":1}})",
                                           R"({"toolUseId":"t1","name":[],"input":"{}"})",
                                           R"({"toolUseId":"t1","name":"f","input":"{}","stop":"yes"})"));

// ---- containment of a bug that throws -----------------------------------------------------

// Throws where the last user turn says ("throw:local", "throw:encode", "throw:feed",
// "throw:finish", "throw:after-first-event"), so that every entry point into a request is
// shown to contain what its code throws.
class ThrowingDecoder : public providers::ResponseDecoder {
 public:
  explicit ThrowingDecoder(std::string stage) : stage_(std::move(stage)) {}
  std::optional<core::GatewayError> feed(std::string_view, std::vector<core::ChatEvent>& out) override {
    if (stage_ == "throw:feed" || (stage_ == "throw:after-first-event" && fed_)) throw std::runtime_error("deliberate: feed");
    if (!fed_) {
      out.push_back(core::ChatEvent::start("id", "m"));
      out.push_back(core::ChatEvent::textDelta("partial"));
    }
    fed_ = true;
    return std::nullopt;
  }
  std::optional<core::GatewayError> finish(std::vector<core::ChatEvent>& out) override {
    if (stage_ == "throw:finish" || stage_ == "throw:after-first-event") throw std::logic_error("deliberate: finish");
    out.push_back(core::ChatEvent::finished(core::FinishReason::Stop));
    return std::nullopt;
  }

 private:
  std::string stage_;
  bool fed_ = false;
};

class ThrowingProvider : public providers::Provider {
 public:
  using Provider::Provider;
  bool isLocal() const override { return config().baseUrl.empty(); }
  std::optional<providers::LocalReply> respondLocally(const core::ChatRequest&, const std::string&) const override {
    throw std::runtime_error("deliberate: local");
  }
  core::Result<upstream::Request> encodeRequest(const core::ChatRequest& request, const std::string& model,
                                                         const providers::ClientHints&) const override {
    if (request.lastUserPrompt() == "throw:encode") throw std::runtime_error("deliberate: encode");
    return llmgate::upstream::Request{config().baseUrl + "/chat/completions", {"Content-Type: application/json"},
                                      providers::openai::encodeRequest(request, model).dump()};
  }
  std::unique_ptr<providers::ResponseDecoder> makeDecoder(const core::ChatRequest& request) const override {
    return std::make_unique<ThrowingDecoder>(request.lastUserPrompt());
  }
};

const providers::ProviderFactory kThrowing{
    "throwing", [](const config::ProviderConfig& config) { return std::make_unique<ThrowingProvider>(config); }};

TEST(NeverDies, AnExceptionInAnyStepFailsThatRequestAloneWithA500InItsDialect) {
  TestUpstream upstream([](const RecordedRequest&) {
    ScriptedResponse response = ScriptedResponse::sse({"data: one\n\n", "data: two\n\n"}, 30ms);
    return response;
  });
  GatewayHarness gateway(R"({"providers":[{"name":"local","type":"throwing","models":["local"]},
                              {"name":"remote","type":"throwing","base_url":")" + upstream.baseUrl() +
                             R"(","models":["remote"],"retry":{"max_attempts":1}},
                              {"name":"mock","type":"mock","models":["mock"]}]})",
                         2, {kThrowing});
  int failures = 0;
  for (const char* path : {"/v1/chat/completions", "/v1/messages"}) {
    const bool anthropic = std::string(path) == "/v1/messages";
    const std::string internalError = anthropic ? R"("type":"api_error")" : R"("code":"internal_error")";
    auto ask = [&](const std::string& model, const std::string& stage, bool stream) {
      return gateway.post(path, json{{"model", model}, {"max_tokens", 5}, {"stream", stream},
                                     {"messages", {{{"role", "user"}, {"content", stage}}}}}.dump());
    };
    for (const bool stream : {false, true}) {
      for (const auto& [model, stage] : std::vector<std::pair<std::string, std::string>>{
               {"local", "throw:local"}, {"remote", "throw:encode"}, {"remote", "throw:feed"}, {"remote", "throw:finish"}}) {
        auto result = ask(model, stage, stream);
        ++failures;
        SCOPED_TRACE(std::string(path) + " " + stage + (stream ? " streamed" : ""));
        EXPECT_TRUE(result.curlError.empty()) << result.curlError;
        EXPECT_FALSE(result.headers["x-request-id"].empty());
        if (result.status == 200) {
          // The stream had begun: the error travels inside it, and the stream ends.
          ASSERT_TRUE(stream) << result.body;
          EXPECT_NE(result.body.find(internalError), std::string::npos) << result.body;
          continue;
        }
        EXPECT_EQ(result.status, 500) << result.body;
        EXPECT_EQ(errorCode(result.body), anthropic ? "api_error" : "internal_error") << result.body;
      }
      // After some content: the client gets what was sent, then an error, never a hang.
      auto late = ask("remote", "throw:after-first-event", stream);
      ++failures;
      EXPECT_TRUE(late.curlError.empty()) << late.curlError;
      if (stream) {
        EXPECT_EQ(late.status, 200);
        EXPECT_NE(late.body.find("partial"), std::string::npos) << late.body;
        EXPECT_NE(late.body.find(internalError), std::string::npos) << late.body;
      } else {
        EXPECT_EQ(late.status, 500) << late.body;
      }
    }
    // Everyone else is served all along.
    EXPECT_EQ(ask("mock", "hello", false).status, 200);
  }
  EXPECT_EQ(gateway.get("/health").status, 200);
  EXPECT_TRUE(eventually([&] {
    return metricValue(gateway.get("/metrics").body, "llmgate_internal_errors_total") == failures;
  })) << gateway.get("/metrics").body;
}

// ---- timer races --------------------------------------------------------------------------

// Deadlines that expire in the same loop turn as curl's own total timeout, clients that leave
// at random moments, upstreams that reset or go silent, retries: hundreds at once, seeded. The
// process must stay up (ASan+UBSan watch every handler), every request must end, and nothing
// may stay in flight.
TEST(NeverDies, ConcurrentDeadlinesAbortsResetsAndRetriesEndEveryRequest) {
  std::atomic<int> served{0};
  TestUpstream upstream([&](const RecordedRequest&) {
    const int n = served++;
    ScriptedResponse response;
    switch (n % 5) {
      case 0:
      case 1: response.fault = ScriptedResponse::Fault::NeverRespond; break;
      case 2: response.fault = ScriptedResponse::Fault::CloseWithoutResponse; break;
      case 3:
        response = ScriptedResponse::sse({"data: {\"choices\":[]}\n\n", "data: [DONE]\n\n"}, 200ms);
        response.fault = n % 2 == 0 ? ScriptedResponse::Fault::CloseMidBody : ScriptedResponse::Fault::None;
        break;
      default:
        response = ScriptedResponse::json(
            200, R"({"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]})");
    }
    return response;
  });
  // first_byte == total: the repro of the use after free.
  GatewayHarness gateway(R"({"providers":[{"name":"up","type":"openai","base_url":")" + upstream.baseUrl() +
                             R"(","models":["m"],"timeouts":{"connect_ms":200,"first_byte_ms":150,"idle_ms":150,"total_ms":150,
                              "stream_total_ms":150},"retry":{"max_attempts":2,"base_delay_ms":1,"jitter_percent":0},
                              "breaker":{"failure_threshold":1000000}}]})",
                         2);
  std::mt19937 random(20261201);
  constexpr int kRounds = 3;
  constexpr int kConcurrent = 150;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> clients;
    std::atomic<int> ended{0};
    for (int i = 0; i < kConcurrent; ++i) {
      const bool stream = random() % 2 == 0;
      const long clientTimeoutMs = 20 + static_cast<long>(random() % 400);  // some leave before the gateway's deadline
      const bool anthropic = random() % 3 == 0;
      clients.emplace_back([&, stream, clientTimeoutMs, anthropic] {
        CURL* easy = curl_easy_init();
        const std::string body = std::string(R"({"model":"m","max_tokens":5,"stream":)") + (stream ? "true" : "false") +
                                 R"(,"messages":[{"role":"user","content":"hi"}]})";
        const std::string url = gateway.url(anthropic ? "/v1/messages" : "/v1/chat/completions");
        curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, clientTimeoutMs);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char*, std::size_t size, std::size_t count, void*) { return size * count; });
        curl_easy_perform(easy);  // an answer or the client's own timeout: both end the request
        curl_easy_cleanup(easy);
        ++ended;
      });
    }
    for (auto& client : clients) client.join();
    EXPECT_EQ(ended.load(), kConcurrent);
  }
  EXPECT_EQ(gateway.get("/health").status, 200);
  // Every request ends on the gateway's side too: by its deadline, or as a cancel.
  EXPECT_TRUE(eventually([&] { return gateway.server().inFlight() == 0; }, 10s)) << gateway.server().inFlight();
  EXPECT_EQ(gateway.post("/v1/chat/completions", R"({"model":"m","messages":[{"role":"user","content":"hi"}]})").curlError, "");
}

// ---- client-chosen names -----------------------------------------------------------------

TEST(NeverDies, ModelNamesClientsChooseNeverBecomeLabels) {
  GatewayHarness gateway(kMockOnly);
  ASSERT_EQ(gateway.post("/v1/chat/completions", R"({"model":"mock","messages":[{"role":"user","content":"hi"}]})").status, 200);
  ASSERT_EQ(gateway.post("/v1/chat/completions", R"({"model":"mock/x-0","messages":[{"role":"user","content":"hi"}]})").status, 200);
  ASSERT_EQ(gateway.post("/v1/chat/completions", R"({"model":"unknown-0","messages":[{"role":"user","content":"hi"}]})").status, 404);
  const auto seriesOf = [&] {
    std::set<std::string> labels;
    const std::string text = gateway.get("/metrics").body + gateway.get("/v1/performance").body;
    static const std::regex kModel(R"(model"?[=:]"([^"]*)\")");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kModel); it != std::sregex_iterator(); ++it) {
      labels.insert((*it)[1]);
    }
    return labels;
  };
  ASSERT_TRUE(eventually([&] { return seriesOf().count("other") == 1 && seriesOf().count("mock") == 1; }));
  const auto before = seriesOf();
  for (int i = 1; i <= 1500; ++i) {
    const std::string n = std::to_string(i);
    ASSERT_EQ(gateway.post("/v1/chat/completions", R"({"model":"mock/x-)" + n + R"(","messages":[{"role":"user","content":"hi"}]})").status, 200);
    ASSERT_EQ(gateway.post("/v1/messages", R"({"model":"unknown-)" + n + R"(","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})").status, 404);
  }
  EXPECT_EQ(seriesOf(), before);
  // The configured name, "other", and the empty label of endpoints without a model.
  EXPECT_EQ(before, (std::set<std::string>{"", "mock", "other"}));
  // A name of a megabyte is echoed clipped, and logged clipped.
  auto huge = gateway.post("/v1/chat/completions", R"({"model":")" + std::string(1 << 20, 'm') + R"(","messages":[]})");
  EXPECT_EQ(huge.status, 404);
  EXPECT_LT(huge.body.size(), 1000u);
}

// ---- bodies and headers over the limit ----------------------------------------------------

// What a client that sends its whole request before reading anything gets back (many HTTP
// libraries work this way): the bytes read after sending, and whether sending failed.
struct WriteThenRead {
  bool sendFailed = false;
  std::string received;
};

WriteThenRead writeWholeRequestThenRead(unsigned short port, const std::string& request) {
  WriteThenRead out;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    out.sendFailed = true;
    return out;
  }
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      out.sendFailed = true;
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  char buffer[4096];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) out.received.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

TEST(NeverDies, ABodyOverTheLimitGetsThe413NotAReset) {
  GatewayHarness gateway(R"({"server":{"max_body_bytes":1048576,"max_header_bytes":4096},
                             "providers":[{"name":"mock","type":"mock","models":["mock"]}]})");
  const unsigned short port = static_cast<unsigned short>(std::stoi(gateway.url("").substr(gateway.url("").rfind(':') + 1)));
  const std::string body = R"({"model":"mock","messages":[{"role":"user","content":")" + std::string(16 << 20, 'a') + R"("}]})";
  for (const char* path : {"/v1/chat/completions", "/v1/messages"}) {
    // The whole body goes out before the client reads: the gateway must read and drop it
    // (lingering close), else closing with unread bytes resets the connection and the
    // client never sees the answer.
    const std::string request = std::string("POST ") + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    const auto result = writeWholeRequestThenRead(port, request);
    EXPECT_FALSE(result.sendFailed) << path;
    EXPECT_EQ(result.received.rfind("HTTP/1.1 413", 0), 0u) << path << ": " << result.received.substr(0, 200);
    const bool anthropic = std::string(path) == "/v1/messages";
    EXPECT_NE(result.received.find(anthropic ? R"("type":"request_too_large")" : R"("code":"request_body_too_large")"),
              std::string::npos)
        << path;
    // A client that reads as it sends (curl) gets it too.
    auto answer = gateway.post(path, body);
    EXPECT_TRUE(answer.curlError.empty()) << answer.curlError;
    EXPECT_EQ(answer.status, 413);
  }
  auto headers = gateway.post("/v1/chat/completions", R"({"model":"mock","messages":[{"role":"user","content":"hi"}]})",
                              {"X-Big: " + std::string(8192, 'h')});
  EXPECT_TRUE(headers.curlError.empty()) << headers.curlError;
  EXPECT_EQ(headers.status, 431);
  EXPECT_EQ(gateway.post("/v1/chat/completions", R"({"model":"mock","messages":[{"role":"user","content":"hi"}]})").status, 200);
}

}  // namespace
}  // namespace llmgate::testing
