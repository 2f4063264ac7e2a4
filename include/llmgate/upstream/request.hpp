// An HTTP request to an upstream as a value: what providers build, auth completes and the
// upstream client sends. No libcurl or Asio here, so providers, auth and routing do not compile
// against the transport.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace llmgate::upstream {

/// Deadlines of one transfer. Zero disables total.
struct Timeouts {
  std::chrono::milliseconds connect{10000};
  std::chrono::milliseconds firstByte{60000};  ///< request sent -> first response byte
  std::chrono::milliseconds idle{60000};       ///< longest gap between body bytes
  std::chrono::milliseconds total{60000};      ///< whole transfer (0 = none)
};

struct Request {
  Request() = default;
  Request(std::string url, std::vector<std::string> headers, std::string body = {})
      : url(std::move(url)), headers(std::move(headers)), body(std::move(body)) {}

  std::string url;
  std::vector<std::string> headers;  ///< "Name: value" lines, the same from request to request (a pooled handle keeps them)
  /// Lines of this request alone (its request id): sent after `headers`, never kept with a handle.
  std::vector<std::string> ownHeaders;
  std::string body;                  ///< POSTed when non-empty, else GET
  bool headOnly = false;             ///< HEAD instead of GET (opens a connection, reads no body)
  Timeouts timeouts;
};

}  // namespace llmgate::upstream
