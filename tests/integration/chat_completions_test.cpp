// End-to-end: real gateway, real loopback upstream, real sockets.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <curl/curl.h>
#include <future>
#include <thread>

#include "gateway_harness.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kSimpleBody = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
const std::string kStreamBody =
    R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]})";

// Retries are off unless a test is about them: these tests look at single attempts.
std::string configFor(const TestUpstream& upstream, const std::string& extraTop = "",
                      const std::string& timeouts = "") {
  return R"({)" + extraTop + R"("providers":[
      {"name":"mock","type":"mock","models":["mock"]},
      {"name":"up","type":"openai","base_url":")" + upstream.baseUrl() + R"(","api_key":"sk-upstream-secret",
       "headers":{"X-Extra":"1"},"retry":{"max_attempts":1},
       "models":["gpt-4o","alias-model"],"model_map":{"alias-model":"real-model"})" +
         (timeouts.empty() ? "" : R"(,"timeouts":)" + timeouts) + R"(}]})";
}

const char* kCompletion = R"({"id":"chatcmpl-up1","object":"chat.completion","created":1727346168,"model":"gpt-4o-2024-08-06",
  "choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"logprobs":null,"finish_reason":"stop"}],
  "usage":{"prompt_tokens":14,"completion_tokens":2,"total_tokens":16}})";

std::vector<std::string> sseEvents(const std::string& captured) {
  std::vector<std::string> events;
  std::size_t from = 0;
  while (from < captured.size()) {
    const std::size_t end = captured.find("\n\n", from);
    if (end == std::string::npos) break;
    events.push_back(captured.substr(from, end + 2 - from));
    from = end + 2;
  }
  return events;
}

std::string textStopCapture() {
  // The first events of the recorded gpt-4o stream, then finish, usage and [DONE].
  return "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
         "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
         "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
         "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
         "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n"
         "data: [DONE]\n\n";
}

TEST(ChatCompletions, NonStreamPassthroughForwardsBodyAuthAndRequestId) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream));
  auto result = gateway.post("/v1/chat/completions", kSimpleBody, {"x-request-id: trace-123"});
  ASSERT_EQ(result.status, 200) << result.body << result.curlError;
  EXPECT_EQ(result.body, kCompletion);  // bytes untouched
  EXPECT_EQ(result.headers["x-request-id"], "trace-123");
  auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/v1/chat/completions");
  EXPECT_EQ(requests[0].header("authorization"), "Bearer sk-upstream-secret");
  EXPECT_EQ(requests[0].header("x-extra"), "1");
  EXPECT_EQ(requests[0].header("x-request-id"), "trace-123");
  EXPECT_EQ(requests[0].body, kSimpleBody);
}

TEST(ChatCompletions, ModelMapRewritesOnlyTheModelField) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream));
  const std::string body = R"({"model":"alias-model","messages":[{"role":"user","content":"model \"alias-model\""}],"x_custom":{"model":"keep"}})";
  auto result = gateway.post("/v1/chat/completions", body);
  ASSERT_EQ(result.status, 200);
  auto sent = json::parse(upstream.requests().at(0).body);
  EXPECT_EQ(sent["model"], "real-model");
  EXPECT_EQ(sent["messages"][0]["content"], "model \"alias-model\"");
  EXPECT_EQ(sent["x_custom"]["model"], "keep");
}

TEST(ChatCompletions, ARepeatedModelKeyCannotSmuggleAnUnroutedModelUpstream) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream));
  // The gateway routes by the last copy (alias-model -> real-model); the first copy would be
  // what a first-wins parser upstream reads.
  auto result = gateway.post("/v1/chat/completions",
                             R"({"model":"secret-model","messages":[{"role":"user","content":"x"}],"model":"alias-model"})");
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(upstream.requests().at(0).body,
            R"({"model":"real-model","messages":[{"role":"user","content":"x"}],"model":"real-model"})");
}

TEST(ChatCompletions, StreamChunksReachTheClientBeforeTheUpstreamFinishes) {
  std::atomic<bool> clientSawFirstChunk{false};
  const auto events = sseEvents(textStopCapture());
  TestUpstream upstream([&](const RecordedRequest&) {
    auto response = ScriptedResponse::sse(events);
    // The rest of the stream is held back until the client has the first chunk: a gateway that
    // buffered would never release it and the test would time out.
    response.gate = [&] { return clientSawFirstChunk.load(); };
    response.gateIndex = 1;
    return response;
  });
  GatewayHarness gateway(configFor(upstream));
  std::string received;
  const auto start = std::chrono::steady_clock::now();
  auto result = gateway.stream("/v1/chat/completions", kStreamBody, [&](const std::string& piece) {
    received += piece;
    if (received.find("\n\n") != std::string::npos) clientSawFirstChunk = true;
    return true;
  });
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "the stream was held back";
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(result.headers["content-type"], "text/event-stream");
  EXPECT_EQ(result.body, textStopCapture());  // passthrough keeps every byte
}

TEST(ChatCompletions, ToolCallStreamsAndBodiesPassThrough) {
  const std::string toolStream =
      "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: [DONE]\n\n";
  TestUpstream upstream([&](const RecordedRequest& request) {
    if (request.body.find("\"stream\":true") != std::string::npos) return ScriptedResponse::sse(sseEvents(toolStream), 5ms);
    return ScriptedResponse::json(200, R"({"id":"c3","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}]})");
  });
  GatewayHarness gateway(configFor(upstream));
  const std::string tools = R"(,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])";
  auto streamed = gateway.post("/v1/chat/completions", R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"w"}])" + tools + "}");
  ASSERT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.body, toolStream);
  auto whole = gateway.post("/v1/chat/completions", R"({"model":"gpt-4o","messages":[{"role":"user","content":"w"}])" + tools + "}");
  ASSERT_EQ(whole.status, 200);
  EXPECT_EQ(json::parse(whole.body)["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Paris\"}");
  EXPECT_NE(upstream.requests().at(0).body.find("get_weather"), std::string::npos);
}

TEST(ChatCompletions, UpstreamErrorsKeepStatusShapeAndRetryAfter) {
  TestUpstream upstream([](const RecordedRequest& request) {
    if (request.body.find("rate") != std::string::npos) {
      auto response = ScriptedResponse::json(
          429, R"({"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}})");
      response.headers.emplace_back("retry-after", "7");
      return response;
    }
    if (request.body.find("bad") != std::string::npos) {
      return ScriptedResponse::json(400, R"({"error":{"message":"Invalid 'messages'","type":"invalid_request_error","param":"messages","code":null}})");
    }
    return ScriptedResponse::json(503, "<html>upstream overloaded</html>");
  });
  GatewayHarness gateway(configFor(upstream));
  auto bad = gateway.post("/v1/chat/completions", R"({"model":"gpt-4o","messages":[{"role":"user","content":"bad"}]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["error"]["param"], "messages");
  auto down = gateway.post("/v1/chat/completions", R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(down.status, 503);
  auto downBody = json::parse(down.body);
  EXPECT_EQ(downBody["error"]["message"], "upstream returned HTTP 503");
  EXPECT_EQ(downBody["error"]["type"], "upstream_error");
  // Last: a 429 also cools the (only) deployment down for the 7 s it asked for.
  auto limited = gateway.post("/v1/chat/completions", R"({"model":"gpt-4o","messages":[{"role":"user","content":"rate"}]})");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers["retry-after"], "7");
  auto limitedBody = json::parse(limited.body);
  EXPECT_EQ(limitedBody["error"]["message"], "Rate limit reached for gpt-4o");
  EXPECT_EQ(limitedBody["error"]["code"], "rate_limit_exceeded");
  const auto* health = gateway.gateway().pool().health(*gateway.gateway().providers()[1], 0, "gpt-4o");
  ASSERT_NE(health, nullptr);
  EXPECT_TRUE(health->coolingDown());
  EXPECT_GT(health->coolDownUntil(), std::chrono::steady_clock::now() + std::chrono::seconds(6));
  EXPECT_EQ(down.body.find("sk-upstream-secret"), std::string::npos);
}

TEST(ChatCompletions, UnreachableAndSilentUpstreamsGiveGatewayErrors) {
  TestUpstream upstream([](const RecordedRequest&) {
    ScriptedResponse silent;
    silent.fault = ScriptedResponse::Fault::NeverRespond;
    return silent;
  });
  GatewayHarness slow(configFor(upstream, "", R"({"first_byte_ms":200})"));
  auto timedOut = slow.post("/v1/chat/completions", kSimpleBody);
  EXPECT_EQ(timedOut.status, 504);
  EXPECT_EQ(json::parse(timedOut.body)["error"]["code"], "upstream_first_byte_timeout");

  const RefusingPort refusing;
  const unsigned short deadPort = refusing.port();
  const std::string config = R"({"providers":[{"name":"up","type":"openai","base_url":"http://127.0.0.1:)" +
                             std::to_string(deadPort) + R"(/v1","models":["gpt-4o"],"retry":{"max_attempts":1}}]})";
  GatewayHarness refused(config);
  auto result = refused.post("/v1/chat/completions", kSimpleBody);
  EXPECT_EQ(result.status, 502);
  EXPECT_EQ(json::parse(result.body)["error"]["code"], "upstream_connect_error");
}

TEST(ChatCompletions, BrokenUpstreamStreamEndsWithAnErrorEvent) {
  TestUpstream upstream([](const RecordedRequest&) {
    auto response = ScriptedResponse::sse({"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"},\"finish_reason\":null}]}\n\n"});
    response.fault = ScriptedResponse::Fault::CloseMidBody;
    return response;
  });
  GatewayHarness gateway(configFor(upstream));
  auto result = gateway.post("/v1/chat/completions", kStreamBody);
  EXPECT_EQ(result.status, 200);
  EXPECT_NE(result.body.find("\"content\":\"par\""), std::string::npos);
  EXPECT_NE(result.body.find("data: {\"error\":"), std::string::npos) << result.body;
  EXPECT_NE(result.body.find("upstream_disconnected"), std::string::npos);
  EXPECT_EQ(result.body.find("[DONE]"), std::string::npos);
}

TEST(ChatCompletions, ClientErrorsAreAnsweredInOpenAiShape) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream, R"("server":{"max_body_bytes":2048},)"));
  auto unknown = gateway.post("/v1/chat/completions", R"({"model":"nope","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "model_not_found");
  auto malformed = gateway.post("/v1/chat/completions", R"({"model":"gpt-4o",)");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(json::parse(malformed.body)["error"]["code"], "invalid_json");
  auto wrongType = gateway.post("/v1/chat/completions", R"({"model":"mock","messages":"hi"})");
  EXPECT_EQ(wrongType.status, 400);
  EXPECT_EQ(json::parse(wrongType.body)["error"]["param"], "messages");
  auto oversize = gateway.post("/v1/chat/completions", std::string(4096, ' ') + kSimpleBody);
  EXPECT_EQ(oversize.status, 413);
  EXPECT_EQ(json::parse(oversize.body)["error"]["code"], "request_body_too_large");
  auto wrongMethod = gateway.get("/v1/chat/completions");
  EXPECT_EQ(wrongMethod.status, 405);
  auto noRoute = gateway.get("/v2/whatever");
  EXPECT_EQ(noRoute.status, 404);
  EXPECT_TRUE(upstream.requests().empty());
  // The server is still healthy after all of that.
  EXPECT_EQ(gateway.get("/health").status, 200);
}

TEST(ChatCompletions, RequestShapeIsCheckedBeforeAnyUpstreamSeesIt) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream));
  const auto expectError = [&](const std::string& body, int status, const std::string& code, const std::string& param) {
    const auto result = gateway.post("/v1/chat/completions", body);
    EXPECT_EQ(result.status, status) << body;
    const auto error = json::parse(result.body)["error"];
    EXPECT_EQ(error["code"], code) << body;
    if (!param.empty()) EXPECT_EQ(error["param"], param) << body;
  };
  expectError(R"([{"model":"gpt-4o"}])", 400, "invalid_request", "");
  expectError(R"("gpt-4o")", 400, "invalid_request", "");
  expectError(R"({"model":"gpt-4o"} trailing)", 400, "invalid_json", "");
  expectError(R"({"messages":[]})", 400, "missing_field", "model");
  expectError(R"({"model":42,"messages":[]})", 400, "missing_field", "model");
  expectError(R"({"model":"","messages":[]})", 400, "missing_field", "model");
  expectError(R"({"model":"gpt-4o","stream":"yes","messages":[]})", 400, "invalid_request", "stream");
  // A key nested deeper is not the model; a repeated key means its last value.
  expectError(R"({"metadata":{"model":"gpt-4o"},"messages":[]})", 400, "missing_field", "model");
  expectError(R"({"model":"gpt-4o","model":"nope","messages":[]})", 404, "model_not_found", "model");
  EXPECT_TRUE(upstream.requests().empty());

  // Escapes in the model name are decoded before routing; the upstream gets the routed name.
  const auto escaped = gateway.post("/v1/chat/completions",
                                    R"({"model":"gpt\u002d4o","stream":null,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(escaped.status, 200) << escaped.body;
  ASSERT_EQ(upstream.requests().size(), 1u);
  EXPECT_EQ(json::parse(upstream.requests()[0].body)["model"], "gpt-4o");
}

TEST(ChatCompletions, LargeBodyWithExpectContinueIsAcceptedWithoutDelay) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream));
  const std::string big = R"({"model":"gpt-4o","messages":[{"role":"user","content":")" + std::string(2 << 20, 'x') + R"("}]})";
  const auto start = std::chrono::steady_clock::now();
  // The harness's curl waits 15 s for "100 Continue" before it sends the body anyway.
  auto result = gateway.post("/v1/chat/completions", big, {"Expect: 100-continue"});
  EXPECT_EQ(result.status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  ASSERT_EQ(upstream.requests().size(), 1u);
  EXPECT_EQ(upstream.requests()[0].body.size(), big.size());
}

TEST(ChatCompletions, OversizedHeadersAndSlowClientsAreAnsweredAndCut) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream, R"("server":{"read_timeout_ms":300,"max_header_bytes":8192},)"));
  auto huge = gateway.post("/v1/chat/completions", kSimpleBody, {"X-Padding: " + std::string(20000, 'x')});
  EXPECT_EQ(huge.status, 431);
  EXPECT_EQ(json::parse(huge.body)["error"]["code"], "request_header_too_large");

  // A client that sends half a request and stalls is cut off at read_timeout_ms.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(gateway.server().port());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const std::string partial = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mod";
  ASSERT_EQ(::send(fd, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
  const auto sent = std::chrono::steady_clock::now();
  char buffer[4096];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);  // blocks until the server closes
  ::close(fd);
  EXPECT_LE(n, 0);
  EXPECT_GE(std::chrono::steady_clock::now() - sent, 250ms);
  EXPECT_LT(std::chrono::steady_clock::now() - sent, 5s);
  EXPECT_TRUE(upstream.requests().empty());
  EXPECT_EQ(gateway.get("/health").status, 200);
}

// A raw keep-alive connection to the gateway, for what curl's pool hides: the timing of reads
// on one connection.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port, int receiveBuffer = 0) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (receiveBuffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    timeval wait{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool send(const std::string& body) { return send(std::vector<std::string>{body}); }
  /// Several requests in one write, as a pipelining client sends them.
  bool send(const std::vector<std::string>& bodies) {
    std::string requests;
    for (const auto& body : bodies) {
      requests += "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    return sendRaw(requests);
  }
  bool sendRaw(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  /// One whole response (Content-Length framed); empty when the connection ended first.
  std::string readResponse() {
    for (;;) {
      const auto headEnd = buffered_.find("\r\n\r\n");
      if (headEnd != std::string::npos) {
        const auto lengthAt = buffered_.find("Content-Length: ");
        const std::size_t length = lengthAt < headEnd ? std::stoul(buffered_.substr(lengthAt + 16)) : 0;
        if (buffered_.size() >= headEnd + 4 + length) {
          std::string response = buffered_.substr(0, headEnd + 4 + length);
          buffered_.erase(0, response.size());
          return response;
        }
      }
      if (readSome() <= 0) return {};
    }
  }
  /// Reads until the gateway closes the connection (or 5 s pass); what came is kept.
  std::size_t readUntilClosed() {
    std::size_t total = buffered_.size();
    for (ssize_t n; (n = readSome()) > 0;) total += static_cast<std::size_t>(n);
    return total;
  }

 private:
  ssize_t readSome() {
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) buffered_.append(chunk, static_cast<std::size_t>(n));
    return n;
  }
  int fd_;
  bool connected_ = false;
  std::string buffered_;
};

// The read timeout bounds a request and the idle time between requests, not the life of a
// connection: one that keeps sending is served past it, an idle one is closed at it.
TEST(ChatCompletions, AKeepAliveConnectionIsServedPastTheReadTimeoutAndClosedWhenIdle) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream, R"("server":{"read_timeout_ms":300},)"));
  RawConnection connection(gateway.server().port());
  ASSERT_TRUE(connection.connected());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {  // 10 x 120 ms: four read timeouts long, on one connection
    ASSERT_TRUE(connection.send(kSimpleBody)) << "request " << i;
    const std::string response = connection.readResponse();
    ASSERT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << "request " << i << ": " << response;
    std::this_thread::sleep_for(120ms);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1200ms);
  const auto idleFrom = std::chrono::steady_clock::now();
  EXPECT_EQ(connection.readUntilClosed(), 0u);
  const auto idle = std::chrono::steady_clock::now() - idleFrom;
  EXPECT_GE(idle, 150ms) << "closed at 300 ms after the last request was read, 120 ms of which were slept";
  EXPECT_LT(idle, 2s);
}

// HTTP/1.1 pipelining: requests sent before the previous answer came (in one write with it, or
// while it is produced) are answered in order on the same connection, which stays usable.
TEST(ChatCompletions, PipelinedRequestsAreAnsweredInOrder) {
  std::atomic<bool> release{false};
  TestUpstream upstream([&](const RecordedRequest& request) {
    const auto at = request.body.find("\"content\":\"");
    const std::string word = request.body.substr(at + 11, request.body.find('"', at + 11) - at - 11);
    auto response = ScriptedResponse::json(200, R"({"id":"c","object":"chat.completion","created":1,"model":"gpt-4o",)"
                                                R"("choices":[{"index":0,"message":{"role":"assistant","content":"echo )" +
                                                    word + R"("},"finish_reason":"stop"}]})");
    if (word == "slow") {
      response.gate = [&] { return release.load(); };
    }
    return response;
  });
  GatewayHarness gateway(configFor(upstream));
  RawConnection connection(gateway.server().port());
  ASSERT_TRUE(connection.connected());
  auto body = [](const std::string& word) {
    return R"({"model":"gpt-4o","messages":[{"role":"user","content":")" + word + R"("}]})";
  };
  auto answered = [](const std::string& response, const std::string& word) {
    return response.rfind("HTTP/1.1 200", 0) == 0 && response.find("\"echo " + word + "\"") != std::string::npos;
  };

  ASSERT_TRUE(connection.send(std::vector<std::string>{body("one"), body("two"), body("three")}));
  for (const std::string word : {"one", "two", "three"}) {
    const std::string response = connection.readResponse();
    EXPECT_TRUE(answered(response, word)) << word << ": " << response;
  }

  // The next request arrives while the slow one's answer is awaited upstream.
  ASSERT_TRUE(connection.send(body("slow")));
  ASSERT_TRUE(eventually([&] { return upstream.requests().size() == 4; }));
  ASSERT_TRUE(connection.send(body("after")));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(upstream.requests().size(), 4u) << "a pipelined request is handled after the answer before it";
  release = true;
  const std::string slow = connection.readResponse();
  EXPECT_TRUE(answered(slow, "slow")) << slow;
  const std::string after = connection.readResponse();
  EXPECT_TRUE(answered(after, "after")) << after;

  // A request whose head, and then body, come in pieces on the kept-alive connection.
  const std::string pieces = body("pieces");
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(pieces.size()) + "\r\n\r\n";
  for (const std::string& piece : {head.substr(0, 20), head.substr(20), pieces.substr(0, 10), pieces.substr(10)}) {
    ASSERT_TRUE(connection.sendRaw(piece));
    std::this_thread::sleep_for(30ms);
  }
  const std::string inPieces = connection.readResponse();
  EXPECT_TRUE(answered(inPieces, "pieces")) << inPieces;

  // A chunked body whose first chunk-size line is cut between two writes.
  const std::string chunkedBody = body("chunked");
  char size[16];
  std::snprintf(size, sizeof size, "%zx", chunkedBody.size());
  ASSERT_GE(std::strlen(size), 2u);
  ASSERT_TRUE(connection.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                 std::string(size, 1)));
  std::this_thread::sleep_for(30ms);
  ASSERT_TRUE(connection.sendRaw(std::string(size + 1) + "\r\n" + chunkedBody + "\r\n0\r\n\r\n"));
  const std::string chunked = connection.readResponse();
  EXPECT_TRUE(answered(chunked, "chunked")) << chunked;

  // One that waits for 100 Continue before it sends its body.
  const std::string waiting = body("continued");
  ASSERT_TRUE(connection.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
                                 std::to_string(waiting.size()) + "\r\n\r\n"));
  const std::string interim = connection.readResponse();
  EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue", 0), 0u) << interim;
  ASSERT_TRUE(connection.sendRaw(waiting));
  const std::string continued = connection.readResponse();
  EXPECT_TRUE(answered(continued, "continued")) << continued;

  ASSERT_TRUE(connection.send(body("last")));
  const std::string last = connection.readResponse();
  EXPECT_TRUE(answered(last, "last")) << last;
  EXPECT_EQ(upstream.requests().size(), 9u);
  EXPECT_TRUE(eventually([&] { return gateway.server().inFlight() == 0; }));
}

// A request refused as it is parsed (too large, malformed) on a kept-alive connection gets its
// error, then the connection closes: what was not read of it cannot be told from a next request.
TEST(ChatCompletions, ARefusedRequestOnAKeptAliveConnectionIsAnsweredThenTheConnectionCloses) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream, R"("server":{"max_body_bytes":2048},)"));
  for (const bool tooLarge : {true, false}) {
    RawConnection connection(gateway.server().port());
    ASSERT_TRUE(connection.connected());
    ASSERT_TRUE(connection.send(kSimpleBody));
    const std::string first = connection.readResponse();
    ASSERT_EQ(first.rfind("HTTP/1.1 200", 0), 0u) << first;
    if (tooLarge) {
      ASSERT_TRUE(connection.send(R"({"model":"gpt-4o","messages":[{"role":"user","content":")" + std::string(4096, 'x') + R"("}]})"));
    } else {
      ASSERT_TRUE(connection.sendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: nine\r\n\r\n"));
    }
    const std::string refused = connection.readResponse();
    EXPECT_EQ(refused.rfind(tooLarge ? "HTTP/1.1 413" : "HTTP/1.1 400", 0), 0u) << refused;
    EXPECT_NE(refused.find("Connection: close"), std::string::npos) << refused;
    EXPECT_EQ(connection.readUntilClosed(), 0u);
  }
  EXPECT_EQ(upstream.requests().size(), 2u);
  EXPECT_EQ(gateway.get("/health").status, 200);
}

// A client that reads nothing of its answer is dropped at write_timeout_ms, and the gateway
// stops sending it.
TEST(ChatCompletions, AClientThatReadsNothingIsDroppedAtTheWriteTimeout) {
  const std::size_t contentBytes = 16 * 1024 * 1024;
  const std::string big = R"({"id":"c","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,)"
                          R"("message":{"role":"assistant","content":")" + std::string(contentBytes, 'x') +
                          R"("},"finish_reason":"stop"}]})";
  TestUpstream upstream([&](const RecordedRequest&) { return ScriptedResponse::json(200, big); });
  GatewayHarness gateway(configFor(upstream, R"("server":{"write_timeout_ms":300},)"));
  RawConnection slow(gateway.server().port(), 4096);
  ASSERT_TRUE(slow.connected());
  ASSERT_TRUE(slow.send(kSimpleBody));
  ASSERT_TRUE(eventually([&] { return upstream.requests().size() == 1; }));
  std::this_thread::sleep_for(1500ms);  // the write stalls on the full buffers for longer than the timeout
  const std::size_t received = slow.readUntilClosed();
  EXPECT_GT(received, 0u);
  EXPECT_LT(received, contentBytes) << "the gateway went on writing after the write timeout";
  EXPECT_EQ(gateway.get("/health").status, 200);
}

// The write timeout bounds a write the client does not take, not the pauses of a stream (a
// model thinking): a stream whose events are further apart than it is relayed whole.
TEST(ChatCompletions, AStreamPausingLongerThanTheWriteTimeoutIsNotCut) {
  const std::vector<std::string> events = {
      "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n",
      "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\n\n",
      "data: [DONE]\n\n"};
  TestUpstream upstream([&](const RecordedRequest&) { return ScriptedResponse::sse(events, 400ms); });
  GatewayHarness gateway(configFor(upstream, R"("server":{"write_timeout_ms":150,"read_timeout_ms":150},)"));
  std::string received;
  const auto result = gateway.stream("/v1/chat/completions", kStreamBody, [&](const std::string& piece) {
    received += piece;
    return true;
  });
  ASSERT_EQ(result.status, 200) << result.curlError;
  EXPECT_NE(received.find("\"content\":\"b\""), std::string::npos) << received;
  EXPECT_NE(received.find("data: [DONE]"), std::string::npos) << received;
}

TEST(ChatCompletions, GatewayKeysAreRequiredWhenConfigured) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream, R"("auth":{"api_keys":["gw-key"]},)"));
  auto missing = gateway.post("/v1/chat/completions", kSimpleBody);
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(json::parse(missing.body)["error"]["type"], "authentication_error");
  EXPECT_EQ(gateway.post("/v1/chat/completions", kSimpleBody, {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(gateway.get("/v1/models").status, 401);
  EXPECT_EQ(gateway.post("/v1/chat/completions", kSimpleBody, {"Authorization: Bearer gw-key"}).status, 200);
  EXPECT_EQ(gateway.post("/v1/chat/completions", kSimpleBody, {"x-api-key: gw-key"}).status, 200);
  EXPECT_EQ(gateway.get("/health").status, 200);  // liveness stays open
  // The client's gateway key is never forwarded upstream.
  for (const auto& request : upstream.requests()) EXPECT_EQ(request.header("authorization"), "Bearer sk-upstream-secret");
}

TEST(ChatCompletions, ModelsListsEveryRoutableModel) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream));
  auto result = gateway.get("/v1/models");
  ASSERT_EQ(result.status, 200);
  auto body = json::parse(result.body);
  EXPECT_EQ(body["object"], "list");
  std::vector<std::string> ids;
  for (const auto& model : body["data"]) {
    EXPECT_EQ(model["object"], "model");
    ids.push_back(model["id"]);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"mock", "gpt-4o", "alias-model"}));
}

TEST(ChatCompletions, ModelsAlsoListsWhatTheUpstreamListsThatRoutesHere) {
  TestUpstream upstream([](const RecordedRequest& request) {
    if (request.method == "GET" && request.target == "/v1/models") {
      return ScriptedResponse::json(200, R"({"object":"list","data":[{"id":"gpt-9","object":"model"},{"id":"gpt-4o"},
        {"id":"whisper-1"},{"id":5},{"object":"model"}]})");
    }
    return ScriptedResponse::json(200, kCompletion);
  });
  GatewayHarness gateway(R"({"providers":[{"name":"up","type":"openai","base_url":")" + upstream.baseUrl() +
                         R"(","api_key":"sk-up","models":["gpt-4o","gpt-*"]}]})");
  auto idsOf = [](const std::string& body) {
    const json listing = json::parse(body);
    std::vector<std::string> ids;
    for (const auto& model : listing["data"]) ids.push_back(model["id"]);
    return ids;
  };
  // Nothing is asked before a client lists models; the first listing waits for the upstream's.
  EXPECT_TRUE(upstream.requests().empty());
  // Configured names first, patterns never; of the upstream's, those that route here (gpt-9
  // through gpt-*, not whisper-1), each once.
  EXPECT_EQ(idsOf(gateway.get("/v1/models").body), (std::vector<std::string>{"gpt-4o", "gpt-9"}));
  const auto requests = upstream.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests.front().method, "GET");
  EXPECT_EQ(requests.front().header("authorization"), "Bearer sk-up");
  // Kept for five minutes: more listings fetch nothing more.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(idsOf(gateway.get("/v1/models").body).size(), 2u);
  EXPECT_EQ(upstream.requests().size(), 1u);
}

TEST(ChatCompletions, ModelsAnswersWithTheConfiguredNamesWhenTheUpstreamListFails) {
  // One upstream refuses, one never answers, one answers garbage: the listing still comes, once
  // the silent one's fetch timed out (3 s), with the configured names.
  TestUpstream failing([](const RecordedRequest&) { return ScriptedResponse::json(401, R"({"error":{}})"); });
  TestUpstream silent([](const RecordedRequest&) {
    ScriptedResponse response;
    response.fault = ScriptedResponse::Fault::NeverRespond;
    return response;
  });
  TestUpstream garbage([](const RecordedRequest&) { return ScriptedResponse::json(200, R"({"data":{"id":[1]}})"); });
  GatewayHarness gateway(R"({"providers":[{"name":"a","type":"openai","base_url":")" + failing.baseUrl() +
                         R"(","api_key":"k","models":["gpt-a","gpt-*"]},{"name":"b","type":"openai","base_url":")" +
                         silent.baseUrl() + R"(","api_key":"k","models":["gpt-b"]},{"name":"c","type":"anthropic","base_url":"http://127.0.0.1:)" +
                         std::to_string(garbage.port()) + R"(","api_key":"k","models":["claude-c"]}]})");
  const auto started = std::chrono::steady_clock::now();
  const auto listing = gateway.get("/v1/models");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(8));
  ASSERT_EQ(listing.status, 200);
  const json parsed = json::parse(listing.body);
  std::vector<std::string> ids;
  for (const auto& model : parsed["data"]) ids.push_back(model["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"gpt-a", "gpt-b", "claude-c"}));
  EXPECT_EQ(garbage.requests().front().target, "/v1/models?limit=100");
  EXPECT_EQ(garbage.requests().front().header("x-api-key"), "k");
  // Failed lists are asked again only after five minutes: the next listing answers at once.
  const auto again = std::chrono::steady_clock::now();
  EXPECT_EQ(gateway.get("/v1/models").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::seconds(1));
  EXPECT_EQ(silent.requests().size(), 1u);
}

TEST(ChatCompletions, MockAnswersThroughTheTranslatedPath) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream));
  auto whole = gateway.post("/v1/chat/completions", R"({"model":"mock","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(whole.status, 200);
  auto body = json::parse(whole.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Hello from the llmgate mock provider. You said: hi");
  auto streamed = gateway.post("/v1/chat/completions",
                               R"({"model":"mock","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.body.rfind("data: {", 0), 0u);
  EXPECT_NE(streamed.body.find("\"finish_reason\":\"stop\""), std::string::npos);
  EXPECT_NE(streamed.body.find("\"choices\":[],\"usage\""), std::string::npos);
  EXPECT_EQ(streamed.body.substr(streamed.body.size() - 14), "data: [DONE]\n\n");
}

TEST(ChatCompletions, UpstreamConnectionsAreReused) {
  TestUpstream upstream([](const RecordedRequest&) { return ScriptedResponse::json(200, kCompletion); });
  GatewayHarness gateway(configFor(upstream), 1);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(gateway.post("/v1/chat/completions", kSimpleBody).status, 200);
  EXPECT_EQ(upstream.connectionsAccepted(), 1);
  EXPECT_EQ(gateway.gateway().httpClient(0).stats().connectionsOpened, 1u);
}

// upstream.prewarm_connections: each worker opens them at start (and at a reload that asks for
// them) with HEAD requests that carry no credentials; the first requests find them in the pool.
TEST(ChatCompletions, PrewarmedConnectionsServeTheFirstRequests) {
  TestUpstream upstream([](const RecordedRequest& request) {
    return request.method == "HEAD" ? ScriptedResponse::json(404, "") : ScriptedResponse::json(200, kCompletion);
  });
  GatewayHarness gateway(configFor(upstream, R"("upstream":{"prewarm_connections":2},)"), 2);
  ASSERT_TRUE(eventually([&] { return upstream.requests().size() == 4; })) << upstream.requests().size();
  // A connection is back in the pool only once its HEAD's answer has been read.
  ASSERT_TRUE(eventually([&] { return gateway.gateway().httpClient(0).activeTransfers() == 0 &&
                                      gateway.gateway().httpClient(1).activeTransfers() == 0; }));
  EXPECT_EQ(upstream.connectionsAccepted(), 4);  // two per worker
  for (const auto& head : upstream.requests()) {
    EXPECT_EQ(head.method, "HEAD");
    EXPECT_EQ(head.target, "/v1");
    EXPECT_EQ(head.header("authorization"), "") << "a credential sent with a prewarming request";
  }
  for (int i = 0; i < 6; ++i) {
    const auto result = gateway.post("/v1/chat/completions", kSimpleBody);
    ASSERT_EQ(result.status, 200);
    // The handle that sent a HEAD reads the next answer's body again.
    EXPECT_EQ(json::parse(result.body)["object"], "chat.completion") << result.body;
  }
  EXPECT_EQ(upstream.connectionsAccepted(), 4) << "a request paid for a new connection";
}

TEST(ChatCompletions, AReloadThatAsksForPrewarmingOpensTheConnections) {
  TestUpstream upstream([](const RecordedRequest& request) {
    return request.method == "HEAD" ? ScriptedResponse::json(404, "") : ScriptedResponse::json(200, kCompletion);
  });
  GatewayHarness gateway(configFor(upstream), 1);
  EXPECT_EQ(upstream.connectionsAccepted(), 0);
  ASSERT_TRUE(gateway.reload(configFor(upstream, R"("upstream":{"prewarm_connections":3},)")).ok);
  ASSERT_TRUE(eventually([&] { return upstream.connectionsAccepted() == 3; })) << upstream.connectionsAccepted();
  // A connection still carrying its HEAD is busy: the request would open a fourth.
  ASSERT_TRUE(eventually([&] { return gateway.gateway().httpClient(0).activeTransfers() == 0; }));
  ASSERT_EQ(gateway.post("/v1/chat/completions", kSimpleBody).status, 200);
  EXPECT_EQ(upstream.connectionsAccepted(), 3);
}

TEST(ChatCompletions, ClientAbortMidStreamClosesTheUpstreamConnectionAtOnce) {
  std::vector<std::string> endless;
  endless.push_back(sseEvents(textStopCapture())[0]);
  for (int i = 0; i < 500; ++i) endless.push_back(sseEvents(textStopCapture())[1]);
  TestUpstream upstream([&](const RecordedRequest&) { return ScriptedResponse::sse(endless, 10ms); });
  GatewayHarness gateway(configFor(upstream));
  std::chrono::steady_clock::time_point hungUp;
  int pieces = 0;
  auto result = gateway.stream("/v1/chat/completions", kStreamBody, [&](const std::string&) {
    if (++pieces < 3) return true;
    hungUp = std::chrono::steady_clock::now();
    return false;  // curl closes the connection
  });
  EXPECT_FALSE(result.curlError.empty());
  ASSERT_TRUE(eventually([&] { return upstream.lastPeerGone().has_value(); }, 2s));
  const auto reaction = *upstream.lastPeerGone() - hungUp;
  // The upstream sees the close while waiting 10 ms for its next chunk: it notices at once.
  EXPECT_LT(reaction, 100ms) << std::chrono::duration_cast<std::chrono::milliseconds>(reaction).count() << " ms";
  EXPECT_TRUE(eventually([&] { return gateway.gateway().httpClient(0).activeTransfers() == 0 &&
                                      gateway.gateway().httpClient(1).activeTransfers() == 0; }));
  EXPECT_TRUE(eventually([&] { return gateway.server().inFlight() == 0; }));
  EXPECT_TRUE(eventually([&] { return gateway.server().openConnections() == 0; }));
}

TEST(ChatCompletions, ClientAbortWhileWaitingForANonStreamAnswerCancelsUpstream) {
  TestUpstream upstream([](const RecordedRequest&) {
    ScriptedResponse silent;
    silent.fault = ScriptedResponse::Fault::NeverRespond;
    return silent;
  });
  GatewayHarness gateway(configFor(upstream));
  std::thread client([&] {
    CURL* easy = curl_easy_init();
    const std::string url = gateway.url("/v1/chat/completions");
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, kSimpleBody.c_str());
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 300L);  // the client gives up after 300 ms
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(easy);
    curl_easy_cleanup(easy);
  });
  client.join();
  const auto gaveUp = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return upstream.lastPeerGone().has_value(); }, 2s));
  EXPECT_LT(*upstream.lastPeerGone() - gaveUp, 100ms);
  EXPECT_TRUE(eventually([&] { return gateway.server().inFlight() == 0; }));
}

TEST(ChatCompletions, TwoHundredConcurrentStreams) {
  const auto events = sseEvents(textStopCapture());
  TestUpstream upstream([&](const RecordedRequest&) { return ScriptedResponse::sse(events, 5ms); });
  GatewayHarness gateway(configFor(upstream));
  constexpr int kStreams = 200;
  CURLM* multi = curl_multi_init();
  std::vector<std::string> bodies(kStreams);
  std::vector<CURL*> handles;
  const std::string url = gateway.url("/v1/chat/completions");
  auto write = +[](char* data, std::size_t size, std::size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  };
  for (int i = 0; i < kStreams; ++i) {
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, kStreamBody.c_str());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &bodies[i]);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_multi_add_handle(multi, easy);
    handles.push_back(easy);
  }
  int running = 0;
  const auto until = std::chrono::steady_clock::now() + 30s;
  do {
    curl_multi_perform(multi, &running);
    if (running > 0) curl_multi_poll(multi, nullptr, 0, 50, nullptr);
  } while (running > 0 && std::chrono::steady_clock::now() < until);
  int complete = 0;
  for (int i = 0; i < kStreams; ++i) {
    long status = 0;
    curl_easy_getinfo(handles[i], CURLINFO_RESPONSE_CODE, &status);
    complete += status == 200 && bodies[i] == textStopCapture();
    curl_multi_remove_handle(multi, handles[i]);
    curl_easy_cleanup(handles[i]);
  }
  curl_multi_cleanup(multi);
  EXPECT_EQ(complete, kStreams);
  EXPECT_TRUE(eventually([&] { return gateway.server().inFlight() == 0; }));
}

TEST(ChatCompletions, DrainLetsAStreamFinishAndRefusesNewConnections) {
  const auto events = sseEvents(textStopCapture());
  TestUpstream upstream([&](const RecordedRequest&) { return ScriptedResponse::sse(events, 60ms); });
  GatewayHarness gateway(configFor(upstream));
  std::promise<void> started;
  auto startedFuture = started.get_future();
  bool signalled = false;
  auto streaming = std::async(std::launch::async, [&] {
    return gateway.stream("/v1/chat/completions", kStreamBody, [&](const std::string&) {
      if (!signalled) {
        signalled = true;
        started.set_value();
      }
      return true;
    });
  });
  ASSERT_EQ(startedFuture.wait_for(5s), std::future_status::ready);
  gateway.server().beginDrain();
  ASSERT_TRUE(eventually([&] { return !gateway.get("/health").curlError.empty(); }, 2s)) << "still accepting";
  auto result = streaming.get();
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, textStopCapture());
  EXPECT_TRUE(eventually([&] { return gateway.server().inFlight() == 0; }));
  EXPECT_TRUE(eventually([&] { return gateway.server().openConnections() == 0; }));  // nothing left behind
}

}  // namespace
}  // namespace llmgate::testing
