#include "llmgate/server/http_server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include "session.hpp"

namespace llmgate::server {

HttpServer::HttpServer(config::ServerConfig config, std::shared_ptr<RequestHandler> handler)
    : config_(std::move(config)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  const int threads = config_.threads > 0 ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
  const auto address = boost::asio::ip::make_address(config_.host);
  unsigned short port = static_cast<unsigned short>(config_.port);
  for (int i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>(static_cast<std::size_t>(i), config_, state_, handler_);
    // With port 0 the first bind picks the port and the other workers join it.
    worker->listen({address, port});
    port = worker->acceptor.local_endpoint().port();
    workers_.push_back(std::move(worker));
  }
  port_ = port;
  std::vector<boost::asio::io_context*> loops;
  for (auto& worker : workers_) loops.push_back(&worker->io);
  handler_->attachWorkers(loops, state_);
  for (auto& worker : workers_) {
    worker->accept();
    worker->tick();
    threads_.emplace_back([io = &worker->io, handler = handler_] {
      auto guard = boost::asio::make_work_guard(*io);
      // Handlers contain their own failures; this is the last line: an exception that still
      // gets here is reported and the loop resumes (the handler that threw is dropped).
      for (;;) {
        try {
          io->run();
          return;
        } catch (const std::exception& error) {
          handler->onEscapedException(error.what());
        } catch (...) {
          handler->onEscapedException("an exception of unknown type");
        }
      }
    });
  }
}

void HttpServer::beginDrain() {
  state_->draining = true;
  for (auto& worker : workers_) {
    boost::asio::post(worker->io, [w = worker.get()] { w->drain(); });
  }
}

void HttpServer::stop() {
  if (stopped_ || workers_.empty()) return;
  stopped_ = true;
  for (auto& worker : workers_) worker->io.stop();
  for (auto& thread : threads_) thread.join();
  // Requests cut off by the stop still link session and exchange; unlink them so that
  // destroying the loops frees both.
  for (auto& worker : workers_) {
    for (Session* session : *worker->sessions) session->abandon();
  }
  handler_->detachWorkers();
  workers_.clear();
}

}  // namespace llmgate::server
