// One client connection: reads requests (with timeout and limits), hands each to the
// RequestHandler, and writes the response as soon as each piece exists.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "llmgate/config/config.hpp"
#include "llmgate/server/http_server.hpp"
#include "llmgate/server/request_handler.hpp"

namespace llmgate::server {

class Session;

/// A client connection's socket and stream, bound to the worker's loop by type: the type-erased
/// any_io_executor costs a copy and a dispatch through a table on every operation.
using ClientSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;
using ClientStream = boost::beast::basic_stream<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;
using LoopTimer = boost::asio::basic_waitable_timer<std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
                                                    boost::asio::io_context::executor_type>;

/// Per-thread state of one worker: its loop, acceptor and the sessions it owns.
class Worker {
 public:
  Worker(std::size_t index, const config::ServerConfig& config, std::shared_ptr<ServerState> state,
         std::shared_ptr<RequestHandler> handler);
  void listen(const boost::asio::ip::tcp::endpoint& endpoint);
  void accept();
  /// On the worker thread: stops accepting at once; requests in flight end with Connection:
  /// close; idle keep-alive connections stay open for server.drain_idle_grace_ms (a request on
  /// one is served, then the connection closes) and are closed after it. A load balancer that
  /// reuses such a connection at the moment it closes would fail a request it cannot safely
  /// retry (a POST already sent): the grace gives it time to see the replica refusing new
  /// connections and to stop choosing it.
  void drain();
  /// Keeps a timer of this loop due within kTickInterval, re-armed each time it fires. Asio
  /// reprograms the loop's timerfd (a system call) whenever its earliest timer changes; with
  /// this one always nearer, the timers every request arms and cancels (read and write
  /// timeouts, upstream deadlines: seconds away) do not.
  void tick();

  // Run by one thread: Asio then queues what that thread posts without taking its lock.
  boost::asio::io_context io{1};
  const std::size_t index;
  const config::ServerConfig& config;
  std::shared_ptr<ServerState> state;
  std::shared_ptr<RequestHandler> handler;
  boost::asio::ip::tcp::acceptor acceptor;

 private:
  /// A failed accept: out of descriptors (or another lasting failure), accepting pauses for a
  /// growing while instead of failing again at once, and the failures are logged once per interval.
  void acceptFailed(const boost::system::error_code& ec);
  /// Over server.max_connections: a 503 that both dialects' SDKs read, then close.
  void refuse(ClientSocket socket);

  boost::asio::steady_timer acceptPause_{io};
  boost::asio::steady_timer drainGrace_{io};
  static constexpr std::chrono::milliseconds kTickInterval{1000};
  boost::asio::steady_timer tick_{io};
  std::chrono::milliseconds pause_{0};
  std::uint64_t failuresUnlogged_ = 0;
  std::chrono::steady_clock::time_point lastFailureLog_{};

 public:
  /// Shared so that a session destroyed after its worker (at loop teardown) stays safe.
  std::shared_ptr<std::unordered_set<Session*>> sessions = std::make_shared<std::unordered_set<Session*>>();
};

class Session : public std::enable_shared_from_this<Session>, public ResponseSink, public IncomingRequest {
 public:
  Session(ClientSocket socket, Worker& worker);
  ~Session() override;
  void run();
  /// The server is draining: close now if idle, else after the current response.
  void drain();
  /// The loop has stopped for good: drop the callbacks that tie this session to its exchange.
  void abandon();

  // IncomingRequest
  std::string_view method() const override;
  std::string_view path() const override;
  std::string_view queryParameter(std::string_view name) const override;
  std::string_view header(std::string_view name) const override;
  std::string& body() override;
  const std::string& requestId() const override { return requestId_; }
  std::chrono::steady_clock::time_point receivedAt() const override { return receivedAt_; }

  // ResponseSink
  void sendResponse(int status, std::string_view contentType, std::string body,
                    const HeaderList& extraHeaders) override;
  void startStream(int status, std::string_view contentType, const HeaderList& extraHeaders) override;
  void writeChunk(std::string bytes) override;
  void endStream() override;
  std::size_t queuedBytes() const override { return queuedBytes_; }
  bool congested() const override;
  void onDrained(std::function<void()> callback) override { drainedCallback_ = std::move(callback); }
  void onClientGone(std::function<void()> callback) override { goneCallback_ = std::move(callback); }
  void abort() noexcept override;
  bool started() const override { return responseStarted_; }
  log::RequestLog& log() override { return log_; }

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  void newParser();  // a parser for the next request
  std::chrono::steady_clock::time_point readDeadline() const;  // now + read_timeout_ms
  void readRequest();
  void readHeader();  // reads on until the parser has the request's head
  void onHeaderRead(boost::beast::error_code ec, std::size_t bytes);
  void onRead(boost::beast::error_code ec, std::size_t bytes);
  /// Takes the parsed request and resets the per-request state.
  void beginRequest();
  void rejectUnread(int status, const char* code, const std::string& message);
  std::string headerBlock(int status, std::string_view contentType, const HeaderList& extra,
                          std::optional<std::size_t> contentLength);
  void enqueue(std::string bytes);  // queues without writing; flush() starts the write
  void flush();
  /// Flushes from a handler posted to the loop, so bytes queued before it runs go out in the
  /// same write (a stream's head started where no turn scope is open, and its first events).
  void flushSoon();
  /// A stream's bytes: written at the end of the turn scope open on this thread (with what else
  /// the turn brings), or at once when none is.
  void flushAtTurnEnd();
  /// Whether a flush now waits for the end of the open turn scope (false: none is open).
  bool deferFlushToTurnEnd();
  /// A deferred write that threw: the request ends as if the client had gone, and is logged.
  void failWrite(std::string_view what) noexcept;
  void onWritten(boost::beast::error_code ec, std::size_t bytes);
  void watchClient();
  void onReadAhead(boost::beast::error_code ec, std::size_t bytes);
  void clientGone();
  void completeRequest();
  void close();
  /// Closes a connection whose request was not read whole, as nginx's lingering close: our
  /// side is shut for sending, and what the client still sends is read and dropped for a
  /// bounded time, so that it reads our answer instead of a reset.
  void lingerThenClose();
  void discardUntilClosed();
  void writeAccessLog();
  /// What is being waited for (a request, a write, the lingering read) must be done by `at`.
  void expireAt(std::chrono::steady_clock::time_point at);
  void expireNever() { deadline_ = std::chrono::steady_clock::time_point::max(); }
  void armDeadlineTimer(std::chrono::steady_clock::time_point at);
  void onDeadline();

  ClientSocket socket_;
  // The read, write and linger timeouts. Moving the deadline is a store: the timer is re-armed
  // only when the deadline comes before it is due, or when it fires before the deadline (at
  // most once per read timeout on a keep-alive connection), not on every read and write as
  // Beast's stream timeouts did. At the deadline the pending operation is cancelled and its
  // handler sees timedOut_.
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point timerDue_ = std::chrono::steady_clock::time_point::max();  ///< max: not armed
  LoopTimer deadlineTimer_;
  bool timedOut_ = false;
  Worker& worker_;
  std::shared_ptr<std::unordered_set<Session*>> registry_;
  bool readAhead_ = false;  // a read of the client's next bytes is pending (watchClient)
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Request request_;
  std::string requestId_;
  std::chrono::steady_clock::time_point receivedAt_;
  std::chrono::steady_clock::time_point firstByteAt_;
  log::RequestLog log_;

  std::deque<std::string> queue_;
  std::vector<boost::asio::const_buffer> writing_;
  std::size_t writingCount_ = 0;
  std::size_t queuedBytes_ = 0;
  std::size_t bytesSent_ = 0;
  std::size_t bytesIn_ = 0;
  int status_ = 0;
  bool inRequest_ = false;
  bool writeInFlight_ = false;
  bool flushPosted_ = false;
  bool flushDeferred_ = false;  ///< a flush waits for the end of the turn scope
  bool responseStarted_ = false;
  bool chunked_ = false;
  bool responseComplete_ = false;
  bool keepAlive_ = true;
  bool closing_ = false;
  bool lingerOnClose_ = false;
  std::size_t discarded_ = 0;
  std::chrono::steady_clock::time_point lingerUntil_;
  std::function<void()> drainedCallback_;
  std::function<void()> goneCallback_;
};

}  // namespace llmgate::server
