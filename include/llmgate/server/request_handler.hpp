// The seam between the HTTP front end and everything behind it. The server knows nothing of
// providers or dialects: it hands each request to a RequestHandler with a ResponseSink.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmgate/core/error.hpp"
#include "llmgate/log/log.hpp"

namespace boost::asio {
class io_context;
}

namespace llmgate::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

/// Counters shared by the workers (atomics: written by the server, read from any thread).
struct ServerState {
  std::atomic<bool> draining{false};
  std::atomic<std::int64_t> inFlight{0};  ///< requests received and not yet fully answered
  std::atomic<std::int64_t> openConnections{0};
  std::atomic<std::uint64_t> acceptErrors{0};         ///< failed accepts (out of descriptors among them)
  std::atomic<std::uint64_t> refusedConnections{0};  ///< turned away at server.max_connections
};

/// A received request. Valid until the response is complete.
class IncomingRequest {
 public:
  virtual ~IncomingRequest() = default;
  virtual std::string_view method() const = 0;
  virtual std::string_view path() const = 0;  ///< without the query string
  /// The value of query parameter `name` (not percent-decoded), empty when absent.
  virtual std::string_view queryParameter(std::string_view name) const = 0;
  /// First header value by case-insensitive name, empty when absent.
  virtual std::string_view header(std::string_view name) const = 0;
  /// The body; may be moved from (the fast path forwards it).
  virtual std::string& body() = 0;
  virtual const std::string& requestId() const = 0;
  virtual std::chrono::steady_clock::time_point receivedAt() const = 0;
};

/// Where a response goes. All calls on the worker thread of the request. Either
/// sendResponse() once, or startStream(), writeChunk()*, endStream().
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void sendResponse(int status, std::string_view contentType, std::string body,
                            const HeaderList& extraHeaders = {}) = 0;
  virtual void startStream(int status, std::string_view contentType, const HeaderList& extraHeaders = {}) = 0;
  /// Queues bytes and starts writing them at once (no batching delay).
  virtual void writeChunk(std::string bytes) = 0;
  virtual void endStream() = 0;
  /// Bytes queued or in flight towards the client.
  virtual std::size_t queuedBytes() const = 0;
  /// True once queuedBytes() is high enough that the producer should pause.
  virtual bool congested() const = 0;
  /// One-shot: called when a congested queue has drained.
  virtual void onDrained(std::function<void()> callback) = 0;
  /// One-shot: called if the client disconnects before the response is complete.
  virtual void onClientGone(std::function<void()> callback) = 0;
  /// Ends a response that cannot be completed (the producer failed): the connection is closed
  /// without more bytes and the request is logged as a 500 unless a status was sent. No-op once
  /// the response is complete.
  virtual void abort() noexcept = 0;
  virtual bool started() const = 0;
  virtual log::RequestLog& log() = 0;
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  /// Called once before serving, with each worker's loop (index = worker index) and the
  /// server's counters (valid while the server lives).
  virtual void attachWorkers(const std::vector<boost::asio::io_context*>& loops,
                             std::shared_ptr<const ServerState> state) = 0;
  /// Called when the loops have stopped, before they are destroyed (on the main thread).
  virtual void detachWorkers() = 0;
  /// Handles one request on worker `worker`'s thread.
  virtual void handle(IncomingRequest& request, std::shared_ptr<ResponseSink> sink, std::size_t worker) = 0;
  /// A response is complete (logged): the place to count it. On the worker thread.
  virtual void completed(const log::AccessRecord&) {}
  /// An exception reached a worker's event loop (a bug: handlers contain their own); the loop
  /// runs on. On the worker thread.
  virtual void onEscapedException(std::string_view) noexcept {}
  /// Answers a request the server refused before reading it whole (413, 431, 400), in the
  /// error shape of the client's dialect.
  virtual void reject(IncomingRequest& request, std::shared_ptr<ResponseSink> sink, const core::GatewayError& error) = 0;
};

}  // namespace llmgate::server
