// The HTTP/1.1 front end: one io_context and one acceptor (SO_REUSEPORT) per worker thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "llmgate/config/config.hpp"
#include "llmgate/server/request_handler.hpp"

namespace llmgate::server {

class Worker;

class HttpServer {
 public:
  HttpServer(config::ServerConfig config, std::shared_ptr<RequestHandler> handler);
  ~HttpServer();

  /// Binds every worker's acceptor (throws std::system_error when the address is unusable)
  /// and starts the worker threads.
  void start();
  /// The bound port (useful with port 0).
  unsigned short port() const { return port_; }
  /// Stops accepting and closes idle keep-alive connections; requests in flight go on.
  void beginDrain();
  std::int64_t inFlight() const { return state_->inFlight.load(); }
  std::int64_t openConnections() const { return state_->openConnections.load(); }
  /// Stops the loops and joins the threads (whatever is still in flight is dropped).
  void stop();

 private:
  config::ServerConfig config_;
  std::shared_ptr<RequestHandler> handler_;
  std::shared_ptr<ServerState> state_ = std::make_shared<ServerState>();
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  unsigned short port_ = 0;
  bool stopped_ = false;
};

}  // namespace llmgate::server
