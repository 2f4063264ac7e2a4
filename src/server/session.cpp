#include "session.hpp"

#include <array>
#include <random>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/status.hpp>

#include "llmgate/core/turn_scope.hpp"
#include "llmgate/log/log.hpp"

namespace llmgate::server {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

// Flow control: above this many unsent bytes the producer is asked to pause.
constexpr std::size_t kCongestedBytes = 256 * 1024;
// Lingering close after an answer to a request not read whole (nginx: lingering_time 30 s,
// lingering_timeout 5 s): long enough for a client to finish sending a refused body.
constexpr std::chrono::seconds kLingerTime{10};
constexpr std::chrono::seconds kLingerIdle{2};
constexpr std::size_t kLingerBytes = 256 * 1024 * 1024;
constexpr std::size_t kMaxBuffersPerWrite = 64;
constexpr std::size_t kReadAheadBytes = 65536;  // as much as Beast's own reads ask for

std::string newRequestId() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t value = random();
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) id[i] = kHex[value & 0xF];
  return id;
}

// Accepts a client-supplied id only if it is short and printable (it is echoed and logged).
bool acceptableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c <= 0x20 || c >= 0x7F) return false;
  }
  return true;
}

double millisSince(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

Worker::Worker(std::size_t index, const config::ServerConfig& config, std::shared_ptr<ServerState> state,
               std::shared_ptr<RequestHandler> handler)
    : index(index), config(config), state(std::move(state)), handler(std::move(handler)), acceptor(io) {}

void Worker::listen(const boost::asio::ip::tcp::endpoint& endpoint) {
  acceptor.open(endpoint.protocol());
  acceptor.set_option(boost::asio::socket_base::reuse_address(true));
  // One acceptor per worker on the same port: the kernel spreads connections across them.
  using ReusePort = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  acceptor.set_option(ReusePort(true));
  acceptor.bind(endpoint);
  acceptor.listen(boost::asio::socket_base::max_listen_connections);
}

void Worker::accept() {
  acceptor.async_accept(io, [this](beast::error_code ec, ClientSocket socket) {
    if (ec == boost::asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec && ec != boost::asio::error::connection_aborted) {
      acceptFailed(ec);
      return;
    }
    if (!ec) {
      pause_ = std::chrono::milliseconds(0);
      if (config.maxConnections > 0 && state->openConnections.load() >= config.maxConnections) {
        refuse(std::move(socket));
      } else {
        beast::error_code ignored;
        socket.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
        std::make_shared<Session>(std::move(socket), *this)->run();
      }
    }
    accept();
  });
}

void Worker::tick() {
  tick_.expires_after(kTickInterval);
  tick_.async_wait([this](beast::error_code ec) {
    if (!ec) tick();
  });
}

void Worker::acceptFailed(const boost::system::error_code& ec) {
  // Out of descriptors, the listening socket stays readable and every accept fails at once:
  // without a pause the worker would spin. Pending connections wait in the backlog meanwhile.
  ++state->acceptErrors;
  ++failuresUnlogged_;
  pause_ = std::min(std::chrono::milliseconds(1000), std::max(std::chrono::milliseconds(10), pause_ * 2));
  const auto now = std::chrono::steady_clock::now();
  if (now - lastFailureLog_ >= std::chrono::seconds(5)) {
    log::message(spdlog::level::warn, "accept failed " + std::to_string(failuresUnlogged_) + " time(s) since last said: " +
                                          ec.message() + "; accepting again in " + std::to_string(pause_.count()) + " ms (" +
                                          std::to_string(state->openConnections.load()) + " connections open)");
    failuresUnlogged_ = 0;
    lastFailureLog_ = now;
  }
  acceptPause_.expires_after(pause_);
  acceptPause_.async_wait([this](beast::error_code waited) {
    if (!waited && acceptor.is_open()) accept();
  });
}

void Worker::refuse(ClientSocket socket) {
  ++state->refusedConnections;
  // One body both SDK families parse: OpenAI's error object inside Anthropic's envelope.
  static const std::string kRefusal = [] {
    const std::string body =
        R"({"type":"error","error":{"type":"overloaded_error","code":"too_many_connections",)"
        R"("message":"the gateway is at its connection limit; retry shortly"}})";
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n"
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  auto stream = std::make_shared<ClientStream>(std::move(socket));
  stream->expires_after(std::chrono::seconds(1));
  boost::asio::async_write(*stream, boost::asio::buffer(kRefusal), [stream](beast::error_code, std::size_t) {
    beast::error_code ignored;
    stream->socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    stream->close();
  });
}

void Worker::drain() {
  beast::error_code ignored;
  acceptor.close(ignored);
  drainGrace_.expires_after(std::chrono::milliseconds(config.drainIdleGraceMs));
  drainGrace_.async_wait([this](beast::error_code ec) {
    if (ec) return;
    std::vector<Session*> current(sessions->begin(), sessions->end());
    for (Session* session : current) session->drain();
  });
}

Session::Session(ClientSocket socket, Worker& worker)
    : socket_(std::move(socket)), deadlineTimer_(socket_.get_executor()), worker_(worker), registry_(worker.sessions) {
  registry_->insert(this);
  ++worker_.state->openConnections;
}

Session::~Session() {
  registry_->erase(this);
  --worker_.state->openConnections;
  // A request still open here was dropped at shutdown.
  if (inRequest_) --worker_.state->inFlight;
}

void Session::run() { readRequest(); }

void Session::drain() {
  // A request being received is read to its end and answered (with Connection: close); the
  // read timeout and the drain deadline bound it.
  if (!inRequest_ && (!parser_ || !parser_->got_some())) {
    close();
  } else {
    keepAlive_ = false;
  }
}

void Session::abandon() {
  goneCallback_ = nullptr;
  drainedCallback_ = nullptr;
}

std::string_view Session::method() const { return request_.method_string(); }

std::string_view Session::path() const {
  std::string_view target = request_.target();
  return target.substr(0, target.find('?'));
}

std::string_view Session::queryParameter(std::string_view name) const {
  std::string_view target = request_.target();
  const auto mark = target.find('?');
  if (mark == std::string_view::npos) return {};
  std::string_view query = target.substr(mark + 1);
  while (!query.empty()) {
    const auto end = query.find('&');
    const std::string_view pair = query.substr(0, end);
    const auto equals = pair.find('=');
    if (pair.substr(0, equals) == name) return equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1);
    if (end == std::string_view::npos) break;
    query.remove_prefix(end + 1);
  }
  return {};
}

std::string_view Session::header(std::string_view name) const {
  auto it = request_.find(name);
  return it == request_.end() ? std::string_view{} : std::string_view(it->value());
}

std::string& Session::body() { return request_.body(); }

void Session::newParser() {
  parser_.emplace();
  parser_->body_limit(static_cast<std::uint64_t>(worker_.config.maxBodyBytes));
  parser_->header_limit(static_cast<std::uint32_t>(worker_.config.maxHeaderBytes));
}

Clock::time_point Session::readDeadline() const {
  return Clock::now() + std::chrono::milliseconds(worker_.config.readTimeoutMs);
}

void Session::readRequest() {
  newParser();
  expireAt(readDeadline());
  readHeader();
}

void Session::readHeader() {
  http::async_read_header(socket_, buffer_, *parser_,
                          beast::bind_front_handler(&Session::onHeaderRead, shared_from_this()));
}

void Session::onHeaderRead(beast::error_code ec, std::size_t bytes) {
  if (ec || parser_->is_done()) {
    onRead(ec, bytes);
    return;
  }
  auto readBody = [self = shared_from_this()] {
    http::async_read(self->socket_, self->buffer_, *self->parser_,
                     beast::bind_front_handler(&Session::onRead, self));
  };
  // Clients such as curl wait (up to a second) for this before sending a large body.
  if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    boost::asio::async_write(socket_, boost::asio::buffer(kContinue),
                             [self = shared_from_this(), readBody](beast::error_code writeError, std::size_t) {
                               if (writeError) {
                                 self->close();
                                 return;
                               }
                               readBody();
                             });
    return;
  }
  readBody();
}

void Session::onRead(beast::error_code ec, std::size_t) {
  if (closing_) return;
  // Also a read that completed while the deadline fired: the connection is shut either way.
  if (timedOut_) ec = beast::error::timeout;
  if (ec == http::error::body_limit) {
    rejectUnread(413, "request_body_too_large",
                 "request body exceeds the limit of " + std::to_string(worker_.config.maxBodyBytes) + " bytes");
    return;
  }
  if (ec == http::error::header_limit) {
    rejectUnread(431, "request_header_too_large", "request headers exceed the size limit");
    return;
  }
  if (ec == beast::error::timeout && parser_->got_some()) {
    // A slow or stalled client is cut at the deadline, not answered.
    log::message(spdlog::level::info, "closed a connection whose request was not received within read_timeout_ms");
    close();
    return;
  }
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == boost::asio::error::eof ||
      ec == boost::asio::error::connection_reset || ec == boost::asio::error::operation_aborted) {
    close();
    return;
  }
  if (ec) {
    rejectUnread(400, "malformed_http_request", "malformed HTTP request: " + ec.message());
    return;
  }
  beginRequest();
  keepAlive_ = request_.keep_alive() && !worker_.state->draining;
  watchClient();
  worker_.handler->handle(*this, shared_from_this(), worker_.index);
}

void Session::beginRequest() {
  request_ = parser_->release();
  receivedAt_ = Clock::now();
  inRequest_ = true;
  ++worker_.state->inFlight;
  responseStarted_ = responseComplete_ = chunked_ = false;
  status_ = 0;
  bytesSent_ = 0;
  log_ = log::RequestLog{};
  std::string_view given = header("x-request-id");
  requestId_ = acceptableRequestId(given) ? std::string(given) : newRequestId();
  bytesIn_ = request_.body().size();
  expireNever();
}

void Session::rejectUnread(int status, const char* code, const std::string& message) {
  beginRequest();
  // The rest of the request was not read, so the connection cannot be reused.
  keepAlive_ = false;
  lingerOnClose_ = true;
  log_.errorCode = code;
  core::GatewayError error;
  error.kind = status == 413 ? core::ErrorKind::RequestTooLarge : core::ErrorKind::InvalidRequest;
  error.status = status;
  error.code = code;
  error.message = message;
  worker_.handler->reject(*this, shared_from_this(), error);
}

std::string Session::headerBlock(int status, std::string_view contentType, const HeaderList& extra,
                                 std::optional<std::size_t> contentLength) {
  std::string out;
  out.reserve(256);
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += http::obsolete_reason(static_cast<http::status>(status));
  out += "\r\nContent-Type: ";
  out += contentType;
  if (contentLength) {
    out += "\r\nContent-Length: ";
    out += std::to_string(*contentLength);
  } else if (chunked_) {
    out += "\r\nTransfer-Encoding: chunked";
  }
  out += "\r\nx-request-id: ";
  out += requestId_;
  // Draining: even a request read before the drain began is the connection's last.
  if (!keepAlive_ || worker_.state->draining) {
    out += "\r\nConnection: close";
  } else if (request_.version() < 11) {
    out += "\r\nConnection: keep-alive";
  }
  for (const auto& [name, value] : extra) {
    out += "\r\n";
    out += name;
    out += ": ";
    out += value;
  }
  out += "\r\n\r\n";
  return out;
}

void Session::sendResponse(int status, std::string_view contentType, std::string body, const HeaderList& extra) {
  if (responseStarted_ || !inRequest_) return;
  responseStarted_ = true;
  responseComplete_ = true;
  status_ = status;
  enqueue(headerBlock(status, contentType, extra, body.size()));
  if (!body.empty()) enqueue(std::move(body));
  flush();
}

void Session::startStream(int status, std::string_view contentType, const HeaderList& extra) {
  if (responseStarted_ || !inRequest_) return;
  responseStarted_ = true;
  status_ = status;
  // HTTP/1.0 clients get the raw stream and a close at its end.
  chunked_ = request_.version() >= 11;
  if (!chunked_) keepAlive_ = false;
  HeaderList headers = extra;
  headers.emplace_back("Cache-Control", "no-cache");
  headers.emplace_back("X-Accel-Buffering", "no");  // tell nginx-style proxies not to buffer
  enqueue(headerBlock(status, contentType, headers, std::nullopt));
  // With the first chunk when it comes in the same turn.
  if (!deferFlushToTurnEnd()) flushSoon();
}

void Session::writeChunk(std::string bytes) {
  if (!responseStarted_ || responseComplete_ || bytes.empty() || closing_) return;
  if (chunked_) {
    char size[24];
    const int length = std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
    enqueue(std::string(size, static_cast<std::size_t>(length)));
    enqueue(std::move(bytes));
    enqueue("\r\n");
  } else {
    enqueue(std::move(bytes));
  }
  flushAtTurnEnd();
}

void Session::endStream() {
  if (!responseStarted_ || responseComplete_) return;
  responseComplete_ = true;
  if (chunked_) {
    enqueue("0\r\n\r\n");
    flushAtTurnEnd();
  } else if (!writeInFlight_ && queue_.empty()) {
    completeRequest();
  }
}

bool Session::congested() const { return queuedBytes_ >= kCongestedBytes; }

void Session::enqueue(std::string bytes) {
  if (closing_) return;
  if (bytesSent_ == 0 && queuedBytes_ == 0) firstByteAt_ = Clock::now();
  queuedBytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
}

void Session::flush() {
  if (writeInFlight_ || queue_.empty() || closing_) return;
  writing_.clear();
  writingCount_ = std::min(queue_.size(), kMaxBuffersPerWrite);
  for (std::size_t i = 0; i < writingCount_; ++i) writing_.emplace_back(queue_[i].data(), queue_[i].size());
  writeInFlight_ = true;
  expireAt(Clock::now() + std::chrono::milliseconds(worker_.config.writeTimeoutMs));
  boost::asio::async_write(socket_, writing_, beast::bind_front_handler(&Session::onWritten, shared_from_this()));
}

void Session::flushSoon() {
  if (flushPosted_) return;
  flushPosted_ = true;
  boost::asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->flushPosted_ = false;
    self->flush();
  });
}

bool Session::deferFlushToTurnEnd() {
  if (flushDeferred_) return true;
  flushDeferred_ = core::TurnScope::defer([self = shared_from_this()] {
    self->flushDeferred_ = false;
    try {
      self->flush();
    } catch (const std::exception& error) {
      self->failWrite(error.what());
    } catch (...) {
      self->failWrite("a non-exception was thrown");
    }
  });
  return flushDeferred_;
}

void Session::flushAtTurnEnd() {
  if (!deferFlushToTurnEnd()) flush();
}

void Session::failWrite(std::string_view what) noexcept {
  // As if the client had gone: the exchange drops its upstream transfer, the request is logged.
  try {
    log::message(spdlog::level::err, "request " + requestId_ + ": writing the answer failed: " + std::string(what));
    if (inRequest_ && log_.errorCode.empty()) log_.errorCode = "internal_error";
    clientGone();
  } catch (...) {
  }
  try {
    close();
  } catch (...) {
  }
}

void Session::onWritten(beast::error_code ec, std::size_t bytes) {
  writeInFlight_ = false;
  expireNever();  // flush() sets the next write's
  if (ec || timedOut_) {  // a write that completed while the deadline fired: the socket is shut
    clientGone();
    return;
  }
  for (std::size_t i = 0; i < writingCount_; ++i) queue_.pop_front();
  queuedBytes_ -= bytes;
  bytesSent_ += bytes;
  if (drainedCallback_ && !congested()) {
    auto callback = std::move(drainedCallback_);
    drainedCallback_ = nullptr;
    callback();
  }
  if (writeInFlight_ || closing_) return;
  if (!queue_.empty()) {
    flush();
  } else if (responseComplete_ && inRequest_) {
    completeRequest();
  }
}

void Session::watchClient() {
  // While a response is produced, the connection's next read is already pending: it fails when
  // the client closes, and the exchange is told at once so it can drop the upstream transfer. A
  // read needs no epoll_ctl (Asio tries it once, then queues it on the socket's registration),
  // where a wait for readability made Asio re-register the socket on every request. Bytes it
  // brings are the next request's, parsed after this response.
  // A pipelining client's next request is already in the buffer: it is parsed after this
  // response, and the client's leaving shows when that response is written.
  if (buffer_.size() != 0) return;
  const std::size_t room = beast::read_size(buffer_, kReadAheadBytes);
  readAhead_ = true;
  socket_.async_read_some(buffer_.prepare(room), [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
    self->onReadAhead(ec, bytes);
  });
}

void Session::onReadAhead(beast::error_code ec, std::size_t bytes) {
  readAhead_ = false;
  if (closing_) return;
  if (!ec) buffer_.commit(bytes);
  if (inRequest_) {
    // A timeout here is a write's: its handler closes. Bytes read are a pipelined request.
    if (ec && !timedOut_ && ec != boost::asio::error::operation_aborted) clientGone();
    return;
  }
  // The connection was idle, waiting for its next request: this read brought its first bytes.
  if (ec || timedOut_) {
    close();
    return;
  }
  // Parsed here: Beast's read would find them in the buffer and post its completion, a trip
  // through the loop (an epoll_wait) before the request is handled. The read deadline set when
  // the connection went idle still runs: it bounds the idle time and the request together.
  newParser();
  parser_->eager(true);  // a body that came with its head is parsed by the same put()
  beast::error_code parsed;
  buffer_.consume(parser_->put(buffer_.data(), parsed));
  if (parsed == http::error::need_more && !parser_->is_header_done()) {
    readHeader();
    return;
  }
  onHeaderRead(parsed == http::error::need_more ? beast::error_code{} : parsed, 0);
}

void Session::clientGone() {
  if (closing_) return;
  if (inRequest_ && !responseComplete_) {
    if (status_ == 0) status_ = 499;  // nginx's "client closed request"
    if (log_.errorCode.empty()) log_.errorCode = "client_disconnected";
  }
  auto callback = std::move(goneCallback_);
  goneCallback_ = nullptr;
  drainedCallback_ = nullptr;
  if (callback) callback();
  keepAlive_ = false;
  completeRequest();
}

void Session::abort() noexcept {
  if (!inRequest_ || closing_ || responseComplete_) return;
  if (status_ == 0) status_ = 500;
  if (log_.errorCode.empty()) log_.errorCode = "internal_error";
  goneCallback_ = nullptr;
  drainedCallback_ = nullptr;
  keepAlive_ = false;
  try {
    completeRequest();
  } catch (...) {
    close();
  }
}

void Session::completeRequest() {
  if (!inRequest_) {
    close();
    return;
  }
  inRequest_ = false;
  --worker_.state->inFlight;
  writeAccessLog();
  drainedCallback_ = nullptr;
  goneCallback_ = nullptr;
  if (keepAlive_ && !closing_ && !worker_.state->draining) {
    if (readAhead_) {
      // The pending read takes the next request; until its first bytes the connection is idle.
      parser_.reset();
      expireAt(readDeadline());
    } else {
      readRequest();
    }
  } else if (lingerOnClose_ && !closing_) {
    lingerThenClose();
  } else {
    close();
  }
}

void Session::lingerThenClose() {
  lingerOnClose_ = false;
  beast::error_code ignored;
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  lingerUntil_ = Clock::now() + kLingerTime;
  discardUntilClosed();
}

void Session::discardUntilClosed() {
  const auto left = lingerUntil_ - Clock::now();
  if (closing_ || left <= Clock::duration::zero() || discarded_ >= kLingerBytes) {
    close();
    return;
  }
  // One scratch buffer per worker thread: what is read into it is dropped.
  thread_local std::array<char, 16384> scratch;
  expireAt(Clock::now() + std::min<Clock::duration>(left, kLingerIdle));
  socket_.async_read_some(boost::asio::buffer(scratch), [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
    self->discarded_ += bytes;
    if (ec) {
      self->close();  // the client closed (or went silent): the answer was read
      return;
    }
    self->discardUntilClosed();
  });
}

void Session::close() {
  if (closing_) return;
  closing_ = true;
  beast::error_code ignored;
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  deadlineTimer_.cancel();
}

void Session::expireAt(Clock::time_point at) {
  deadline_ = at;
  if (at < timerDue_) armDeadlineTimer(at);
}

void Session::armDeadlineTimer(Clock::time_point at) {
  timerDue_ = at;
  deadlineTimer_.expires_at(at);  // a wait already armed ends with operation_aborted
  deadlineTimer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->closing_) return;
    self->timerDue_ = Clock::time_point::max();
    self->onDeadline();
  });
}

void Session::onDeadline() {
  if (deadline_ == Clock::time_point::max()) return;  // nothing is waited for: armed again when something is
  if (Clock::now() < deadline_) {
    armDeadlineTimer(deadline_);  // the deadline moved since the timer was armed
    return;
  }
  // As Beast's stream did: the socket is shut, not only the pending operation cancelled, so
  // that a step of the same read or write already queued behind this fails too.
  timedOut_ = true;
  beast::error_code ignored;
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.cancel(ignored);  // the pending read or write ends; its handler closes
}

void Session::writeAccessLog() {
  const auto now = Clock::now();
  const log::AccessRecord record{
      .handler = log_,
      .method = request_.method_string(),
      .path = path(),
      .status = status_,
      .requestId = requestId_,
      .bytesIn = bytesIn_,
      .bytesOut = bytesSent_,
      .durationMs = millisSince(receivedAt_, now),
      .firstByteMs = bytesSent_ > 0 || queuedBytes_ > 0 ? millisSince(receivedAt_, firstByteAt_) : -1};
  log::access(record);
  worker_.handler->completed(record);
}

}  // namespace llmgate::server
