// Starts the real gateway (Gateway + HttpServer) on 127.0.0.1:0 and talks to it over loopback
// with libcurl, as a client would.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "llmgate/proxy/gateway.hpp"
#include "llmgate/server/http_server.hpp"

namespace llmgate::testing {

struct HttpResult {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string curlError;
};

class GatewayHarness {
 public:
  /// `configJson` is a full config; the server section's host/port/threads are overridden.
  /// `extraProviders` adds provider types only tests know.
  explicit GatewayHarness(const std::string& configJson, int threads = 2,
                          const std::vector<providers::ProviderFactory>& extraProviders = {});
  ~GatewayHarness();

  /// Reloads the gateway with `configJson` (as SIGHUP does), with the same server overrides as
  /// at start.
  proxy::Gateway::ReloadResult reload(const std::string& configJson);

  std::string url(const std::string& path) const;
  server::HttpServer& server() { return *server_; }
  proxy::Gateway& gateway() { return *gateway_; }

  HttpResult post(const std::string& path, const std::string& body, const std::vector<std::string>& headers = {}) const;
  HttpResult get(const std::string& path, const std::vector<std::string>& headers = {}) const;
  HttpResult remove(const std::string& path, const std::vector<std::string>& headers = {}) const;  ///< DELETE
  /// Streams a POST; `onData` sees each piece as it arrives and returns false to hang up.
  HttpResult stream(const std::string& path, const std::string& body,
                    const std::function<bool(const std::string&)>& onData) const;

 private:
  int threads_;
  std::shared_ptr<proxy::Gateway> gateway_;
  std::unique_ptr<server::HttpServer> server_;
};

/// The answer a client of `dialect` reads from a response body (an SSE stream assembled, or a
/// whole response); decoding problems fail the current test.
core::ChatResponse clientAnswer(core::Dialect dialect, const std::string& body, bool stream);

/// Polls `condition` every millisecond for at most `limit`; true when it held.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = std::chrono::seconds(5));

/// Waits until every worker of `gateway` has its Redis connection ready.
bool redisConnected(GatewayHarness& gateway);

}  // namespace llmgate::testing
