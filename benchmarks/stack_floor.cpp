// The floor under llmgate: the chosen stack (Asio's loop, Beast's request parser, libcurl's multi
// interface driven by that loop, mimalloc) proxying requests with nothing of a gateway on top: no
// routing, validation, translation, usage reading, metrics, logs, client deadlines or disconnect
// watch. Each client request's body goes upstream as it came, with the header lines given on the
// command line (the ones llmgate sends), over a pooled keep-alive connection, under the connect
// and total timeouts llmgate sets; the answer comes back with Content-Length, or chunk by chunk as
// it arrives when the upstream streams (a 200 with text/event-stream). What this costs per
// request is the least this way of driving the stack costs; llmgate's cost above it is what its
// own work costs. A client that leaves mid-answer is noticed only at the next write (the
// transfer runs to its end), and HTTP/1.0, Expect and Connection: close are not handled: the
// benchmarks' clients do not need them.
//
//   llmgate_stack_floor PORT UPSTREAM_URL [HEADER_LINE...]
//
// Benchmark code, for loopback measurements only (benchmarks/cost.sh, benchmarks/floor.sh).
#include <curl/curl.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<asio::ip::tcp, Executor>;

class Upstream;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket socket, Upstream& upstream) : socket_(std::move(socket)), upstream_(upstream) {}
  void read();
  /// The upstream's head is complete: a 200 event stream is relayed as it comes.
  void onHead(long status, bool eventStream);
  void onBody(const char* data, std::size_t size);
  void onDone(bool ok, long status);
  /// Writes what is queued unless a write is in flight (its end writes it).
  void flushIfIdle();

 private:
  /// Queued until the current run of curl ends: what one run brings goes out in one write.
  void send(std::string_view bytes);
  void flush();

  Socket socket_;
  Upstream& upstream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string requestBody_;
  bool streamed_ = false;
  std::string answer_;
  std::string queued_;   // bytes to write once the write in flight is done
  std::string writing_;  // the write in flight
  bool keepAlive_ = true;
};

// libcurl's multi interface on the Asio loop, as llmgate's upstream client drives it: one watch
// per socket for the socket's life, a new transfer run at once, a later zero timeout from the
// loop, the loop's timer re-armed only for an earlier deadline, idle easy handles reused,
// llmgate's connection cache size.
class Upstream {
 public:
  Upstream(asio::io_context& io, const std::string& url, const std::vector<std::string>& headers)
      : io_(io), timer_(io) {
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Upstream::onSocket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Upstream::onTimer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 64L);
    url_ = curl_url();
    curl_url_set(url_, CURLUPART_URL, url.c_str(), 0);
    for (const auto& line : headers) headerList_ = curl_slist_append(headerList_, line.c_str());
    headerList_ = curl_slist_append(headerList_, "Expect:");
  }

  void start(const std::shared_ptr<Session>& session, const std::string& body) {
    CURL* easy = idle_.empty() ? newEasy() : idle_.back();
    if (!idle_.empty()) idle_.pop_back();
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, session.get());
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
    // Map nodes stay put: the header callback gets the entry itself.
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &active_.emplace(easy, Active{easy, session}).first->second);
    // What curl asks to do at once is done here, after adding the handle, not in a posted
    // handler (as llmgate's SendBatch does): start() is the last thing its caller does.
    starting_ = true;
    const bool added = curl_multi_add_handle(multi_, easy) == CURLM_OK;
    starting_ = false;
    if (!added) {
      active_.erase(easy);
      idle_.push_back(easy);
      session->onDone(false, 0);
      flushPending();
      return;
    }
    if (std::exchange(runNow_, false)) act(CURL_SOCKET_TIMEOUT, 0);
  }

 private:
  struct Active {
    CURL* easy;
    std::shared_ptr<Session> session;
    bool eventStream = false;  // the head so far says text/event-stream
  };

  struct Watch {
    Watch(asio::io_context& io, curl_socket_t fd) : descriptor(io), fd(fd) {}
    asio::posix::basic_stream_descriptor<Executor> descriptor;
    curl_socket_t fd;
    int wanted = 0;
    bool waiting[2] = {false, false};
    bool closed = false;
  };

  CURL* newEasy() {
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_CURLU, url_);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headerList_);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "");
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &Upstream::onOpenSocket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &Upstream::onCloseSocket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Upstream::onWrite);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Upstream::onHeader);
    return easy;
  }

  static std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* entry) {
    const std::size_t bytes = size * count;
    const std::string_view line(data, bytes);
    Active& active = *static_cast<Active*>(entry);
    constexpr std::string_view kStreamType = "content-type: text/event-stream";
    if (line.starts_with("HTTP/")) {
      active.eventStream = false;  // a new status line: an earlier 1xx head is over
    } else if (line.size() >= kStreamType.size() && strncasecmp(line.data(), kStreamType.data(), kStreamType.size()) == 0) {
      active.eventStream = true;
    } else if (line == "\r\n") {
      long status = 0;
      curl_easy_getinfo(active.easy, CURLINFO_RESPONSE_CODE, &status);
      if (status >= 200) active.session->onHead(status, active.eventStream);
    }
    return bytes;
  }

  static std::size_t onWrite(char* data, std::size_t size, std::size_t count, void* session) {
    static_cast<Session*>(session)->onBody(data, size * count);
    return size * count;
  }

  static int onSocket(CURL*, curl_socket_t fd, int what, void* self, void*) {
    auto& upstream = *static_cast<Upstream*>(self);
    auto& watch = upstream.watches_[fd];
    if (!watch) {
      if (what == CURL_POLL_REMOVE) {
        upstream.watches_.erase(fd);
        return 0;
      }
      watch = std::make_shared<Watch>(upstream.io_, fd);
      boost::system::error_code ec;
      watch->descriptor.assign(fd, ec);
      if (ec) {
        upstream.watches_.erase(fd);
        return -1;
      }
    }
    watch->wanted = what == CURL_POLL_REMOVE ? 0 : what;
    if (what & CURL_POLL_IN) upstream.arm(watch, 0);
    if (what & CURL_POLL_OUT) upstream.arm(watch, 1);
    return 0;
  }

  static curl_socket_t onOpenSocket(void* self, curlsocktype, curl_sockaddr* address) {
    const curl_socket_t fd = ::socket(address->family, address->socktype, address->protocol);
    if (fd != CURL_SOCKET_BAD) static_cast<Upstream*>(self)->forget(fd);  // a watch left on a reused number
    return fd;
  }

  static int onCloseSocket(void* self, curl_socket_t fd) {
    static_cast<Upstream*>(self)->forget(fd);
    return ::close(fd);
  }

  void forget(curl_socket_t fd) {
    if (auto it = watches_.find(fd); it != watches_.end()) {
      it->second->closed = true;
      it->second->descriptor.release();
      watches_.erase(it);
    }
  }

  void arm(const std::shared_ptr<Watch>& watch, int direction) {
    if (watch->waiting[direction]) return;
    watch->waiting[direction] = true;
    const auto kind = direction == 0 ? asio::posix::stream_descriptor::wait_read : asio::posix::stream_descriptor::wait_write;
    watch->descriptor.async_wait(kind, [this, watch, direction](boost::system::error_code ec) {
      watch->waiting[direction] = false;
      const int interest = direction == 0 ? CURL_POLL_IN : CURL_POLL_OUT;
      if (watch->closed || ec == asio::error::operation_aborted || !(watch->wanted & interest)) return;
      act(watch->fd, ec ? CURL_CSELECT_ERR : (direction == 0 ? CURL_CSELECT_IN : CURL_CSELECT_OUT));
      if (!watch->closed && (watch->wanted & interest)) arm(watch, direction);
    });
  }

  static int onTimer(CURLM*, long timeoutMs, void* self) {
    auto& upstream = *static_cast<Upstream*>(self);
    if (timeoutMs < 0) {
      upstream.timer_.cancel();
      upstream.timerArmed_ = false;
    } else if (timeoutMs == 0 && upstream.starting_) {
      upstream.runNow_ = true;
    } else if (timeoutMs == 0) {
      if (!upstream.zeroPosted_) {
        upstream.zeroPosted_ = true;
        asio::post(upstream.io_, [&upstream] {
          upstream.zeroPosted_ = false;
          upstream.act(CURL_SOCKET_TIMEOUT, 0);
        });
      }
    } else {
      // A timer that fires early only makes curl report its next deadline.
      const auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
      if (upstream.timerArmed_ && due >= upstream.timerDue_) return 0;
      upstream.timerArmed_ = true;
      upstream.timerDue_ = due;
      upstream.timer_.expires_at(due);
      upstream.timer_.async_wait([&upstream](boost::system::error_code ec) {
        if (ec) return;
        upstream.timerArmed_ = false;
        upstream.act(CURL_SOCKET_TIMEOUT, 0);
      });
    }
    return 0;
  }

  void act(curl_socket_t fd, int events) {
    int running = 0;
    curl_multi_socket_action(multi_, fd, events, &running);
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      const bool ok = message->data.result == CURLE_OK;
      auto found = active_.find(easy);
      if (found == active_.end()) continue;
      auto session = std::move(found->second.session);
      active_.erase(found);
      curl_multi_remove_handle(multi_, easy);
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      idle_.push_back(easy);
      session->onDone(ok, status);
    }
    flushPending();
  }

 public:
  void flushLater(std::shared_ptr<Session> session) { toFlush_.push_back(std::move(session)); }

 private:
  void flushPending() {
    std::vector<std::shared_ptr<Session>> sessions;
    sessions.swap(toFlush_);
    for (const auto& session : sessions) session->flushIfIdle();
  }

  asio::io_context& io_;
  asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Executor> timer_;
  CURLM* multi_ = nullptr;
  CURLU* url_ = nullptr;
  curl_slist* headerList_ = nullptr;
  bool zeroPosted_ = false;
  bool starting_ = false;  // inside curl_multi_add_handle
  bool runNow_ = false;    // curl asked for a run while starting_
  bool timerArmed_ = false;
  std::chrono::steady_clock::time_point timerDue_;
  std::vector<CURL*> idle_;
  std::unordered_map<CURL*, Active> active_;
  std::unordered_map<curl_socket_t, std::shared_ptr<Watch>> watches_;
  std::vector<std::shared_ptr<Session>> toFlush_;
};

void Session::read() {
  parser_.emplace();
  parser_->body_limit(8 * 1024 * 1024);
  http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (ec) return;
    auto request = self->parser_->release();
    self->keepAlive_ = request.keep_alive();
    self->requestBody_ = std::move(request.body());
    self->streamed_ = false;
    self->answer_.clear();
    self->upstream_.start(self, self->requestBody_);
  });
}

void Session::onHead(long status, bool eventStream) {
  if (status != 200 || !eventStream) return;
  streamed_ = true;
  // Written with the first chunk, as one write.
  send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
}

void Session::onBody(const char* data, std::size_t size) {
  if (size == 0) return;  // a zero-length chunk would end the answer
  if (!streamed_) {
    answer_.append(data, size);
    return;
  }
  char length[24];
  send(std::string_view(length, static_cast<std::size_t>(std::snprintf(length, sizeof length, "%zx\r\n", size))));
  send(std::string_view(data, size));
  send("\r\n");
}

void Session::onDone(bool ok, long status) {
  if (streamed_ && !ok) {
    // Cut mid-stream: the client must not take what it got for the whole answer.
    beast::error_code ignored;
    socket_.close(ignored);
    return;
  }
  if (streamed_) {
    send("0\r\n\r\n");
  } else {
    const bool good = ok && status == 200;
    std::string head = good ? "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                            : "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: ";
    if (!good) answer_ = R"({"error":"upstream failed"})";
    head.append(std::to_string(answer_.size())).append("\r\n\r\n").append(answer_);
    send(head);
  }
  if (keepAlive_) read();
}

void Session::send(std::string_view bytes) {
  if (queued_.empty()) upstream_.flushLater(shared_from_this());
  queued_.append(bytes);
}

void Session::flushIfIdle() {
  if (writing_.empty() && !queued_.empty()) flush();
}

void Session::flush() {
  writing_.swap(queued_);
  asio::async_write(socket_, asio::buffer(writing_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->writing_.clear();
    if (ec) {
      self->queued_.clear();
      return;
    }
    self->flushIfIdle();
  });
}

void accept(asio::basic_socket_acceptor<asio::ip::tcp, Executor>& acceptor, Upstream& upstream) {
  acceptor.async_accept([&acceptor, &upstream](boost::system::error_code ec, Socket socket) {
    if (!ec) {
      socket.set_option(asio::ip::tcp::no_delay(true));
      std::make_shared<Session>(std::move(socket), upstream)->read();
    }
    accept(acceptor, upstream);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s PORT UPSTREAM_URL [HEADER_LINE...]\n", argv[0]);
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  asio::io_context io(1);
  Upstream upstream(io, argv[2], std::vector<std::string>(argv + 3, argv + argc));
  asio::basic_socket_acceptor<asio::ip::tcp, Executor> acceptor(
      io, {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::atoi(argv[1]))});
  accept(acceptor, upstream);
  io.run();
}
