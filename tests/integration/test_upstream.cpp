#include "test_upstream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

namespace llmgate::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

bool sendAll(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// True when the peer closed (EOF or error); waits at most `wait`.
bool peerClosedWithin(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(wait.count()));
  if (ready <= 0) return false;
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// Reads one request (head + Content-Length body) from `buffer`/`fd`. False on EOF.
bool readRequest(int fd, std::string& buffer, RecordedRequest& request) {
  std::size_t headEnd;
  while ((headEnd = buffer.find("\r\n\r\n")) == std::string::npos) {
    char chunk[16384];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  const std::string head = buffer.substr(0, headEnd);
  buffer.erase(0, headEnd + 4);
  std::size_t lineEnd = head.find("\r\n");
  const std::string requestLine = head.substr(0, lineEnd);
  const auto firstSpace = requestLine.find(' ');
  const auto secondSpace = requestLine.find(' ', firstSpace + 1);
  request.method = requestLine.substr(0, firstSpace);
  request.target = requestLine.substr(firstSpace + 1, secondSpace - firstSpace - 1);
  std::size_t contentLength = 0;
  while (lineEnd != std::string::npos) {
    const std::size_t next = head.find("\r\n", lineEnd + 2);
    const std::string line = head.substr(lineEnd + 2, next == std::string::npos ? std::string::npos : next - lineEnd - 2);
    lineEnd = next;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = lower(line.substr(0, colon));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    if (name == "content-length") contentLength = std::stoul(value);
    request.headers.emplace_back(std::move(name), std::move(value));
  }
  while (buffer.size() < contentLength) {
    char chunk[16384];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  request.body = buffer.substr(0, contentLength);
  buffer.erase(0, contentLength);
  return true;
}

}  // namespace

std::string RecordedRequest::header(const std::string& lowerName) const {
  for (const auto& [name, value] : headers) {
    if (name == lowerName) return value;
  }
  return {};
}

ScriptedResponse ScriptedResponse::json(int status, std::string body) {
  ScriptedResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "application/json");
  response.chunks.push_back(std::move(body));
  return response;
}

std::string openAiChunk(const std::string& delta, const std::string& finishReason) {
  return R"(data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":)" +
         delta + R"(,"finish_reason":)" + finishReason + "}]}\n\n";
}

ScriptedResponse ScriptedResponse::sse(std::vector<std::string> events, std::chrono::milliseconds delay) {
  ScriptedResponse response;
  response.headers.emplace_back("Content-Type", "text/event-stream");
  response.chunked = true;
  response.chunkDelay = delay;
  response.chunks = std::move(events);
  return response;
}

TestUpstream::TestUpstream(Handler handler) : handler_(std::move(handler)) {
  listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listenFd_, 1024) != 0) {
    throw std::runtime_error("test upstream cannot listen");
  }
  socklen_t length = sizeof address;
  ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  acceptThread_ = std::thread([this] { acceptLoop(); });
}

TestUpstream::~TestUpstream() {
  stopping_ = true;
  ::shutdown(listenFd_, SHUT_RDWR);
  ::close(listenFd_);
  acceptThread_.join();
  {
    std::lock_guard lock(mutex_);
    for (int fd : connectionFds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& thread : threads_) thread.join();
}

std::vector<RecordedRequest> TestUpstream::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::optional<Clock::time_point> TestUpstream::lastPeerGone() const {
  std::lock_guard lock(mutex_);
  return peerGone_;
}

void TestUpstream::acceptLoop() {
  while (!stopping_) {
    const int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++accepted_;
    ++open_;
    std::lock_guard lock(mutex_);
    connectionFds_.push_back(fd);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void TestUpstream::serve(int fd) {
  std::string buffer;
  RecordedRequest request;
  while (!stopping_ && readRequest(fd, buffer, request)) {
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    ScriptedResponse response = handler_(request);
    request = RecordedRequest{};
    if (response.fault == ScriptedResponse::Fault::CloseWithoutResponse) break;
    if (response.fault == ScriptedResponse::Fault::NeverRespond) {
      const auto until = Clock::now() + std::chrono::seconds(10);
      while (!stopping_ && Clock::now() < until) {
        if (peerClosedWithin(fd, std::chrono::milliseconds(20))) {
          std::lock_guard lock(mutex_);
          peerGone_ = Clock::now();
          break;
        }
      }
      break;
    }
    std::string head = "HTTP/1.1 " + std::to_string(response.status) + " Scripted\r\n";
    for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
    if (response.chunked) {
      head += "Transfer-Encoding: chunked\r\n\r\n";
    } else {
      std::size_t length = 0;
      for (const auto& chunk : response.chunks) length += chunk.size();
      head += "Content-Length: " + std::to_string(length) + "\r\n\r\n";
    }
    if (!sendAll(fd, head)) break;
    bool peerGone = false;
    for (std::size_t i = 0; i < response.chunks.size() && !peerGone; ++i) {
      if (response.gate && i == response.gateIndex) {
        const auto until = Clock::now() + std::chrono::seconds(10);
        while (!response.gate() && Clock::now() < until) {
          if (peerClosedWithin(fd, std::chrono::milliseconds(2))) {
            peerGone = true;
            break;
          }
        }
      }
      // Waiting between chunks doubles as the watch for a peer that went away.
      if (!peerGone && i > 0 && response.chunkDelay.count() > 0) peerGone = peerClosedWithin(fd, response.chunkDelay);
      if (peerGone) break;
      const std::string& chunk = response.chunks[i];
      std::string frame;
      if (response.chunked) {
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
        frame = size + chunk + "\r\n";
      } else {
        frame = chunk;
      }
      if (!sendAll(fd, frame)) peerGone = true;
    }
    if (peerGone) {
      std::lock_guard lock(mutex_);
      peerGone_ = Clock::now();
      break;
    }
    if (response.fault == ScriptedResponse::Fault::CloseMidBody) break;
    if (response.chunked && !sendAll(fd, "0\r\n\r\n")) break;
    if (response.fault == ScriptedResponse::Fault::CloseAfterResponse) break;
  }
  ::shutdown(fd, SHUT_RDWR);
  {
    std::lock_guard lock(mutex_);
    connectionFds_.erase(std::remove(connectionFds_.begin(), connectionFds_.end(), fd), connectionFds_.end());
  }
  ::close(fd);
  --open_;
}

RefusingPort::RefusingPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("cannot bind a refusing port");
  }
  socklen_t length = sizeof address;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
}

RefusingPort::~RefusingPort() { ::close(fd_); }

}  // namespace llmgate::testing
