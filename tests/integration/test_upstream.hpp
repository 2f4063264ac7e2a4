// A real HTTP/1.1 server on 127.0.0.1 that plays scripted upstream responses (OpenAI-style JSON
// or SSE) for integration tests. One thread per connection; keep-alive supported. Records what
// it received and when connections open and close.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace llmgate::testing {

struct RecordedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& lowerName) const;
};

struct ScriptedResponse {
  enum class Fault {
    None,
    CloseWithoutResponse,  // read the request, then close the socket
    CloseMidBody,          // send the head and the chunks, then close without finishing
    NeverRespond,          // read the request and stay silent (until the peer or the test goes)
    CloseAfterResponse,    // send the whole response as if keeping the connection, then close it
  };
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> chunks;  // body pieces, each written (and flushed) on its own
  bool chunked = false;             // Transfer-Encoding: chunked instead of Content-Length
  std::chrono::milliseconds chunkDelay{0};
  Fault fault = Fault::None;
  /// When set, chunk `gateIndex` is only sent once this returns true (checked every 2 ms, 10 s max).
  std::function<bool()> gate;
  std::size_t gateIndex = 0;

  static ScriptedResponse json(int status, std::string body);
  static ScriptedResponse sse(std::vector<std::string> events, std::chrono::milliseconds delay = {});
};

/// One OpenAI Chat Completions stream event ("data: {...}\n\n") carrying `delta` (a JSON
/// object) and `finishReason` (a JSON string or null).
std::string openAiChunk(const std::string& delta, const std::string& finishReason = "null");

class TestUpstream {
 public:
  using Handler = std::function<ScriptedResponse(const RecordedRequest&)>;

  explicit TestUpstream(Handler handler);
  ~TestUpstream();

  unsigned short port() const { return port_; }
  std::string baseUrl() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::vector<RecordedRequest> requests() const;
  int connectionsAccepted() const { return accepted_.load(); }
  int connectionsOpen() const { return open_.load(); }
  /// When the peer of a streaming response was last seen gone.
  std::optional<std::chrono::steady_clock::time_point> lastPeerGone() const;

 private:
  void acceptLoop();
  void serve(int fd);

  Handler handler_;
  int listenFd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  mutable std::mutex mutex_;
  std::vector<RecordedRequest> requests_;
  std::optional<std::chrono::steady_clock::time_point> peerGone_;
  std::vector<int> connectionFds_;
  std::vector<std::thread> threads_;
  std::thread acceptThread_;
};

/// A loopback port that refuses connections: a socket bound to it that never listens, so no
/// other test can take the port while this object lives.
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  unsigned short port() const { return port_; }

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

}  // namespace llmgate::testing
