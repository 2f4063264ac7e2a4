#include "llmgate/upstream/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <utility>

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include "llmgate/core/turn_scope.hpp"
#include "llmgate/log/log.hpp"

namespace llmgate::upstream {
namespace {

using Clock = std::chrono::steady_clock;

// An upstream whose response head grows past this is cut (curl's own cap is far higher).
constexpr std::size_t kMaxResponseHeaderBytes = 256 * 1024;

class UpstreamCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "llmgate.upstream"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::first_byte_timeout: return "upstream sent no response in time";
      case Errc::idle_timeout: return "upstream stream went silent for too long";
      case Errc::handler_failed: return "the gateway failed while handling the upstream response";
    }
    return "upstream error";
  }
};

class CurlCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "curl"; }
  std::string message(int value) const override { return curl_easy_strerror(static_cast<CURLcode>(value)); }
};

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

const std::error_category& upstreamCategory() {
  static const UpstreamCategory category;
  return category;
}

const std::error_category& curlCategory() {
  static const CurlCategory category;
  return category;
}

std::error_code makeErrorCode(Errc errc) { return {static_cast<int>(errc), upstreamCategory()}; }

core::GatewayError classify(std::error_code ec, bool responseStarted) {
  using core::ErrorKind;
  using core::GatewayError;
  if (ec == makeErrorCode(Errc::handler_failed)) {
    return GatewayError::make(ErrorKind::Internal, "internal_error", ec.message());
  }
  if (ec.category() == upstreamCategory()) {
    const bool firstByte = ec.value() == static_cast<int>(Errc::first_byte_timeout);
    return GatewayError::make(ErrorKind::Timeout, firstByte ? "upstream_first_byte_timeout" : "upstream_idle_timeout",
                              ec.message());
  }
  if (ec.category() == curlCategory()) {
    const std::string detail = ec.message();
    switch (static_cast<CURLcode>(ec.value())) {
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
        return GatewayError::make(ErrorKind::Connect, "upstream_dns_error", "cannot resolve upstream host: " + detail);
      case CURLE_COULDNT_CONNECT:
        return GatewayError::make(ErrorKind::Connect, "upstream_connect_error", "cannot connect to upstream: " + detail);
      case CURLE_OPERATION_TIMEDOUT:
        return GatewayError::make(ErrorKind::Timeout, responseStarted ? "upstream_total_timeout" : "upstream_timeout",
                                  "upstream timed out: " + detail);
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_CACERT_BADFILE:
        return GatewayError::make(ErrorKind::Connect, "upstream_tls_error", "TLS with upstream failed: " + detail);
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
        if (responseStarted) {
          return GatewayError::make(ErrorKind::Protocol, "upstream_disconnected",
                                    "upstream connection broke mid-response: " + detail);
        }
        return GatewayError::make(ErrorKind::Connect, "upstream_connection_reset", "upstream connection failed: " + detail);
      default:
        break;
    }
    return GatewayError::make(ErrorKind::Protocol, "upstream_transfer_error", "upstream transfer failed: " + detail);
  }
  return core::GatewayError::make(core::ErrorKind::Internal, "upstream_transfer_error", ec.message());
}

std::string_view ResponseHead::header(std::string_view name) const {
  std::string_view rest = headerBlock;
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && equalsIgnoringCase(trim(line.substr(0, colon)), name)) {
      return trim(line.substr(colon + 1));
    }
  }
  return {};
}

// ---- Transfer ----------------------------------------------------------------------------

Transfer::Transfer(HttpClient& client) : client_(client), deadline_(client.io_) {}

void Transfer::pause() { pauseWanted_ = true; }

void Transfer::resume() {
  pauseWanted_ = false;
  if (curlPaused_ && easy_ != nullptr) {
    curlPaused_ = false;
    // May deliver the held bytes right away, through onWrite.
    curl_easy_pause(easy_, CURLPAUSE_CONT);
  }
}

void Transfer::cancel() {
  cancelled_ = true;  // also for a start that failed and is still to be reported
  if (easy_ == nullptr) return;
  // Inside a curl callback the handle cannot be removed: the callback returns an error instead
  // and the transfer is cleaned up when curl reports it done.
  if (!inCallback_) client_.finish(*this, {}, false);
}

void Transfer::deliverHead() {
  if (headDelivered_ || cancelled_) return;
  headDelivered_ = true;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &head_.status);
  long connects = 0;
  curl_easy_getinfo(easy_, CURLINFO_NUM_CONNECTS, &connects);
  if (connects > 0) {
    client_.stats_.connectionsOpened.fetch_add(1, std::memory_order_relaxed);
    curl_off_t connected = 0;
    curl_off_t tls = 0;
    curl_easy_getinfo(easy_, CURLINFO_CONNECT_TIME_T, &connected);
    curl_easy_getinfo(easy_, CURLINFO_APPCONNECT_TIME_T, &tls);
    head_.connectMs = static_cast<double>(std::max(connected, tls)) / 1000.0;
  }
  handler_->onResponseHead(head_);
}

template <class Call>
bool Transfer::callHandler(Call&& call) noexcept {
  inCallback_ = true;
  try {
    call();
  } catch (const std::exception& error) {
    log::message(spdlog::level::err, std::string("upstream transfer handler threw: ") + error.what());
    handlerFailed_ = true;
  } catch (...) {
    log::message(spdlog::level::err, "upstream transfer handler threw a non-exception");
    handlerFailed_ = true;
  }
  inCallback_ = false;
  return !handlerFailed_;
}

std::size_t Transfer::onHeader(char* data, std::size_t size, std::size_t count, void* self) noexcept {
  auto& transfer = *static_cast<Transfer*>(self);
  const std::size_t bytes = size * count;
  if (transfer.cancelled_ || transfer.handlerFailed_) return 0;
  transfer.noteFirstByte();
  const std::string_view line(data, bytes);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line: an earlier 1xx (or a redirect) is superseded.
    transfer.head_.headerBlock.clear();
    return bytes;
  }
  if (trim(line).empty()) {
    long status = 0;
    curl_easy_getinfo(transfer.easy_, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && !transfer.callHandler([&] { transfer.deliverHead(); })) return 0;
    return transfer.cancelled_ ? 0 : bytes;
  }
  // Bounded like Beast's request headers: a response head is never this large.
  if (transfer.head_.headerBlock.size() + line.size() > kMaxResponseHeaderBytes) return 0;
  transfer.head_.headerBlock.append(line);
  return bytes;
}

std::size_t Transfer::onWrite(char* data, std::size_t size, std::size_t count, void* self) noexcept {
  auto& transfer = *static_cast<Transfer*>(self);
  const std::size_t bytes = size * count;
  // Returning less than `bytes` aborts the transfer (CURLE_WRITE_ERROR).
  if (transfer.cancelled_ || transfer.handlerFailed_) return 0;
  if (transfer.pauseWanted_) {
    transfer.curlPaused_ = true;
    return CURL_WRITEFUNC_PAUSE;  // curl keeps the bytes and offers them again on resume
  }
  transfer.noteFirstByte();
  transfer.gotBody_ = true;
  const bool handled = transfer.callHandler([&] {
    transfer.deliverHead();
    if (!transfer.cancelled_) transfer.handler_->onBody(std::string_view(data, bytes));
  });
  return handled && !transfer.cancelled_ ? bytes : 0;
}

void Transfer::noteFirstByte() {
  lastActivity_ = Clock::now();
  if (gotFirstByte_) return;
  gotFirstByte_ = true;
  // From now on the deadline watches the gaps between bytes.
  armDeadline(lastActivity_ + request_.timeouts.idle);
}

void Transfer::armDeadline(Clock::time_point at) {
  // A timer due sooner stays: onDeadline works out from the transfer's state what it waits for
  // now, so firing early only re-arms it. Re-arming an Asio timer cancels its wait, a handler
  // run for nothing (the first byte used to do it on every transfer).
  if (at >= timerDue_) return;
  timerDue_ = at;
  deadline_.expires_at(at);
  // Held weakly: a deadline that expires in the same loop turn as curl finishes the transfer is
  // already queued when finish() cancels the timer, and then runs after the transfer may be gone.
  deadline_.async_wait([weak = weak_from_this(), alive = client_.alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    if (auto transfer = weak.lock()) {
      transfer->timerDue_ = Clock::time_point::max();
      transfer->onDeadline();
    }
  });
}

void Transfer::onDeadline() {
  if (easy_ == nullptr) return;
  const auto now = Clock::now();
  const auto idle = request_.timeouts.idle;
  if (pauseWanted_) {
    // Waiting on our own client, not on the upstream.
    armDeadline(now + idle);
    return;
  }
  if (!gotFirstByte_) {
    // The first-byte wait starts once the request is on its way (connecting has its own limit).
    curl_off_t sentAfterUs = 0;
    curl_easy_getinfo(easy_, CURLINFO_PRETRANSFER_TIME_T, &sentAfterUs);
    if (sentAfterUs == 0) {
      armDeadline(now + request_.timeouts.firstByte);
      return;
    }
    const auto due = startedAt_ + std::chrono::microseconds(sentAfterUs) + request_.timeouts.firstByte;
    if (now >= due) {
      client_.finish(*this, makeErrorCode(Errc::first_byte_timeout), true);
    } else {
      armDeadline(due);
    }
    return;
  }
  const auto due = lastActivity_ + idle;
  if (now >= due) {
    client_.finish(*this, makeErrorCode(Errc::idle_timeout), true);
  } else {
    armDeadline(due);
  }
}

// ---- HttpClient --------------------------------------------------------------------------

struct HttpClient::SocketWatch {
  SocketWatch(boost::asio::io_context& io, curl_socket_t fd) : descriptor(io), fd(fd) {}
  boost::asio::posix::basic_stream_descriptor<boost::asio::io_context::executor_type> descriptor;
  curl_socket_t fd;
  int wanted = 0;
  bool readWaiting = false;
  bool writeWaiting = false;
  bool removed = false;
};

HttpClient::HttpClient(boost::asio::io_context& io, const config::UpstreamPoolConfig& pool)
    : io_(io), timer_(io), maxConnectionAge_(static_cast<long>(pool.idleSeconds)) {
  globalInit();
  multi_ = curl_multi_init();
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &HttpClient::onSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &HttpClient::onTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(pool.maxCachedConnections));
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
}

HttpClient::~HttpClient() {
  *alive_ = false;
  while (!active_.empty()) finish(*active_.begin()->second, {}, false);
  curl_multi_cleanup(multi_);  // closes pooled connections (reporting their sockets removed)
  for (auto& [fd, watch] : sockets_) watch->descriptor.release();
  for (auto& idle : idleEasy_) {
    curl_easy_cleanup(idle.easy);
    curl_slist_free_all(idle.headerList.first);
  }
}

namespace {

// Whether the environment names a proxy (http_proxy, HTTPS_PROXY, all_proxy, ...), read once:
// without one, libcurl is told so and stops looking the variables up on every request.
bool environmentNamesAProxy() {
  static const bool named = [] {
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string_view variable(*entry);
      const std::string_view name = variable.substr(0, variable.find('='));
      if (name.size() < 6 || variable.size() == name.size() + 1) continue;
      std::string lower(name);
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.ends_with("_proxy") && lower != "no_proxy") return true;
    }
    return false;
  }();
  return named;
}

}  // namespace

namespace {

// The list `headers` make, ending with "Expect:" (no "Expect: 100-continue" round trip for
// large bodies); an empty one when out of memory.
CurlHeaderList makeHeaderList(const std::vector<std::string>& headers) {
  curl_slist* list = nullptr;
  const auto append = [&](const char* line) {
    curl_slist* longer = curl_slist_append(list, line);
    if (longer == nullptr) curl_slist_free_all(list);
    list = longer;
    return longer != nullptr;
  };
  for (const auto& header : headers) {
    if (!append(header.c_str())) return {};
  }
  if (!append("Expect:")) return {};
  CurlHeaderList made{list, list};
  while (made.last->next != nullptr) made.last = made.last->next;
  return made;
}

}  // namespace

CURL* HttpClient::acquireEasy(const std::vector<std::string>& headers, CurlHeaderList& headerList) {
  CURL* easy = nullptr;
  if (!idleEasy_.empty()) {
    IdleEasy idle = std::move(idleEasy_.back());
    idleEasy_.pop_back();
    if (idle.headers == headers) {
      headerList = idle.headerList;
      return idle.easy;
    }
    curl_slist_free_all(idle.headerList.first);
    easy = idle.easy;
  } else {
    easy = newEasy();
    if (easy == nullptr) return nullptr;
  }
  headerList = makeHeaderList(headers);
  if (headerList.first == nullptr) {
    curl_easy_cleanup(easy);
    return nullptr;
  }
  return easy;
}

CURL* HttpClient::newEasy() {
  // What every transfer shares is set once per handle; start() sets the rest on every use.
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return nullptr;
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);  // else curl swaps the SIGPIPE handler per call
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &HttpClient::onOpenSocket);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &HttpClient::onCloseSocket);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!environmentNamesAProxy()) {
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "");  // else no_proxy and NO_PROXY are still read per request
  }
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(easy, CURLOPT_MAXAGE_CONN, maxConnectionAge_);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Transfer::onWrite);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Transfer::onHeader);
  return easy;
}

std::shared_ptr<CURLU> HttpClient::parsedUrl(const std::string& url) {
  if (auto found = parsedUrls_.find(url); found != parsedUrls_.end()) return found->second;
  std::shared_ptr<CURLU> parsed(curl_url(), &curl_url_cleanup);
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return nullptr;
  if (parsedUrls_.size() >= kMaxParsedUrls) parsedUrls_.clear();
  parsedUrls_.emplace(url, parsed);
  return parsed;
}

void HttpClient::releaseEasy(CURL* easy, CurlHeaderList headerList, std::vector<std::string> headers) {
  // Reused handles avoid per-request malloc churn and re-setting the shared options; the next
  // start() overwrites every per-transfer option, so no curl_easy_reset is needed.
  if (idleEasy_.size() < 256) {
    idleEasy_.push_back(IdleEasy{easy, headerList, std::move(headers)});
  } else {
    curl_easy_cleanup(easy);
    curl_slist_free_all(headerList.first);
  }
}

std::shared_ptr<Transfer> HttpClient::start(Request request, std::shared_ptr<TransferHandler> handler) {
  auto transfer = std::shared_ptr<Transfer>(new Transfer(*this));
  transfer->request_ = std::move(request);
  transfer->handler_ = std::move(handler);
  const Request& req = transfer->request_;
  CURL* easy = acquireEasy(req.headers, transfer->headerList_);
  if (easy == nullptr) {
    // Out of memory: reported asynchronously, as a failed start below is.
    boost::asio::post(io_, [alive = alive_, transfer] {
      auto handler = std::move(transfer->handler_);
      if (*alive && handler && !transfer->cancelled_) notifyFinished(*handler, *transfer, {CURLE_OUT_OF_MEMORY, curlCategory()});
    });
    return transfer;
  }
  transfer->easy_ = easy;
  // This request's own lines are linked after the handle's list for this transfer only.
  transfer->ownHeaderNodes_.resize(req.ownHeaders.size());
  curl_slist* last = transfer->headerList_.last;
  for (std::size_t k = 0; k < req.ownHeaders.size(); ++k) {
    curl_slist& node = transfer->ownHeaderNodes_[k];
    node.data = const_cast<char*>(req.ownHeaders[k].c_str());  // curl only reads it
    node.next = nullptr;
    last = last->next = &node;
  }

  // A parsed URL wins over CURLOPT_URL, which is set only when there is none (setting it, even to
  // null, costs libcurl about 8k instructions a request).
  transfer->url_ = parsedUrl(req.url);
  if (transfer->url_) {
    curl_easy_setopt(easy, CURLOPT_CURLU, transfer->url_.get());
  } else {
    curl_easy_setopt(easy, CURLOPT_URL, req.url.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer.get());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.timeouts.connect.count()));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<std::int64_t>(0, req.timeouts.total.count())));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->headerList_.first);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get());
  if (!req.body.empty()) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req.body.data());
  } else {
    // A reused handle still points at its last body; drop it before switching to GET.
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, nullptr);
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    if (req.headOnly) curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  }

  stats_.transfers.fetch_add(1, std::memory_order_relaxed);
  transfer->startedAt_ = transfer->lastActivity_ = Clock::now();
  active_.emplace(easy, transfer);
  transfer->armDeadline(transfer->startedAt_ + req.timeouts.firstByte);
  if (curl_multi_add_handle(multi_, easy) != CURLM_OK) {
    // Reported asynchronously so the caller's state is settled before the handler runs.
    boost::asio::post(io_, [this, alive = alive_, transfer] {
      if (*alive && transfer->easy_ != nullptr) finish(*transfer, {CURLE_FAILED_INIT, curlCategory()}, true);
    });
  }
  return transfer;
}

void HttpClient::finish(Transfer& transfer, std::error_code ec, bool notify) {
  if (transfer.easy_ == nullptr) return;
  CURL* easy = transfer.easy_;
  auto entry = active_.find(easy);
  auto keep = entry == active_.end() ? nullptr : entry->second;  // the handler may drop the last other reference
  curl_multi_remove_handle(multi_, easy);
  curl_easy_setopt(easy, CURLOPT_CURLU, nullptr);  // no pointer to a parsed URL that may go
  transfer.easy_ = nullptr;
  transfer.deadline_.cancel();
  const CurlHeaderList headerList = std::exchange(transfer.headerList_, {});
  headerList.last->next = nullptr;  // the transfer's own lines are not the handle's
  active_.erase(easy);
  // Only HEAD transfers change the method on their own; the next one on this handle sets its own.
  if (transfer.request_.headOnly) curl_easy_setopt(easy, CURLOPT_NOBODY, 0L);
  if (transfer.url_) {
    releaseEasy(easy, headerList, std::move(transfer.request_.headers));
  } else {
    // libcurl 7.88 keeps a URL string it was given for every later transfer of the handle
    // (its retry on a dead pooled connection re-reads it): a handle given one is not reused.
    curl_easy_cleanup(easy);
    curl_slist_free_all(headerList.first);
  }
  auto handler = std::move(transfer.handler_);
  if (transfer.handlerFailed_) {
    // curl saw our write callback refuse the bytes; the handler hears why.
    ec = makeErrorCode(Errc::handler_failed);
  }
  if (notify && handler && !transfer.cancelled_) notifyFinished(*handler, transfer, ec);
}

void HttpClient::notifyFinished(TransferHandler& handler, Transfer& transfer, std::error_code ec) noexcept {
  try {
    if (!ec && !transfer.headDelivered_) {
      transfer.headDelivered_ = true;
      handler.onResponseHead(transfer.head_);
    }
    handler.onComplete(ec);
  } catch (const std::exception& error) {
    log::message(spdlog::level::err, std::string("upstream transfer handler threw on completion: ") + error.what());
  } catch (...) {
    log::message(spdlog::level::err, "upstream transfer handler threw a non-exception on completion");
  }
}

int HttpClient::onSocket(CURL*, curl_socket_t fd, int what, void* self, void*) noexcept {
  auto& client = *static_cast<HttpClient*>(self);
  try {
    client.watchSocket(fd, what == CURL_POLL_REMOVE ? 0 : what);
  } catch (...) {
    return -1;
  }
  return 0;
}

curl_socket_t HttpClient::onOpenSocket(void* self, curlsocktype, curl_sockaddr* address) noexcept {
  auto& client = *static_cast<HttpClient*>(self);
  const curl_socket_t fd = ::socket(address->family, address->socktype, address->protocol);
  // A watch left on this number belongs to a socket closed behind our back: it must not be reused.
  if (fd != CURL_SOCKET_BAD) client.forgetSocket(fd);
  return fd;
}

int HttpClient::onCloseSocket(void* self, curl_socket_t fd) noexcept {
  static_cast<HttpClient*>(self)->forgetSocket(fd);
  return ::close(fd);
}

void HttpClient::watchSocket(curl_socket_t fd, int what) {
  // The watch (and its epoll registration) lives as long as the socket, not the transfer, so a
  // pooled connection costs no epoll_ctl per request; CURL_POLL_REMOVE only clears the interest.
  auto& watch = sockets_[fd];
  if (!watch) {
    if (what == 0) {
      sockets_.erase(fd);
      return;
    }
    watch = std::make_shared<SocketWatch>(io_, fd);
    boost::system::error_code ec;
    watch->descriptor.assign(fd, ec);
    if (ec) {
      sockets_.erase(fd);
      throw boost::system::system_error(ec);
    }
  }
  watch->wanted = what;
  if (what & CURL_POLL_IN) armWait(watch, true);
  if (what & CURL_POLL_OUT) armWait(watch, false);
}

void HttpClient::forgetSocket(curl_socket_t fd) {
  auto it = sockets_.find(fd);
  if (it == sockets_.end()) return;
  it->second->removed = true;
  // curl owns and closes the fd: stop watching without closing it.
  it->second->descriptor.release();
  sockets_.erase(it);
}

void HttpClient::armWait(const std::shared_ptr<SocketWatch>& watch, bool forRead) {
  bool& waiting = forRead ? watch->readWaiting : watch->writeWaiting;
  if (waiting) return;
  waiting = true;
  const auto kind = forRead ? boost::asio::posix::stream_descriptor::wait_read
                            : boost::asio::posix::stream_descriptor::wait_write;
  watch->descriptor.async_wait(kind, [this, alive = alive_, watch, forRead](boost::system::error_code ec) {
    (forRead ? watch->readWaiting : watch->writeWaiting) = false;
    if (!*alive || watch->removed || ec == boost::asio::error::operation_aborted) return;
    const int interest = forRead ? CURL_POLL_IN : CURL_POLL_OUT;
    // An idle pooled connection that turns readable (closed by the peer) is curl's to notice
    // when it next checks the connection; nobody is waiting on it now.
    if (!(watch->wanted & interest)) return;
    const int events = ec ? CURL_CSELECT_ERR : (forRead ? CURL_CSELECT_IN : CURL_CSELECT_OUT);
    socketAction(watch->fd, events);
    if (!watch->removed && (watch->wanted & interest)) armWait(watch, forRead);
  });
}

int HttpClient::onTimer(CURLM*, long timeoutMs, void* self) noexcept {
  auto& client = *static_cast<HttpClient*>(self);
  if (timeoutMs < 0) {
    client.timer_.cancel();
    client.timerArmed_ = false;
    return 0;
  }
  if (timeoutMs == 0) {
    try {
      client.runSoon();
    } catch (...) {
      return -1;  // out of memory: curl fails this client's transfers, as it must without a run
    }
    return 0;
  }
  // Re-arming the Asio timer on every call is costly; only an earlier deadline needs it. A
  // timer that fires early is harmless: curl just reports its next deadline.
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  if (client.timerArmed_ && deadline >= client.timerDeadline_) return 0;
  client.timerArmed_ = true;
  client.timerDeadline_ = deadline;
  client.timer_.expires_at(deadline);
  client.timer_.async_wait([&client, alive = client.alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    client.timerArmed_ = false;
    client.socketAction(CURL_SOCKET_TIMEOUT, 0);
  });
  return 0;
}

void HttpClient::retryRunFromLoop() noexcept {
  // Should even this fail, the next transfer's run takes these along, and their deadlines bound
  // the wait.
  try {
    postZeroTimeout();
  } catch (...) {
  }
}

void HttpClient::postZeroTimeout() {
  if (zeroTimeoutPosted_) return;  // once however often curl asks
  boost::asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    zeroTimeoutPosted_ = false;
    socketAction(CURL_SOCKET_TIMEOUT, 0);
  });
  zeroTimeoutPosted_ = true;
}

void HttpClient::runSoon() {
  if (zeroTimeoutDeferred_ || zeroTimeoutPosted_) return;
  if (inRun_) {
    // Asked during a run (by curl, or by a handler that starts a transfer): from the loop, so
    // that a run never defers another and nothing holds the thread in one handler.
    postZeroTimeout();
    return;
  }
  // A transfer started while a request is handled goes out when the handling is done, in the
  // same handler: no loop turn (and epoll_wait) of its own.
  const bool deferred = core::TurnScope::defer([this, alive = alive_] {
    if (!*alive) return;
    zeroTimeoutDeferred_ = false;
    try {
      socketAction(CURL_SOCKET_TIMEOUT, 0);
    } catch (const std::exception& error) {
      log::message(spdlog::level::err, std::string("running upstream transfers failed: ") + error.what());
      retryRunFromLoop();
    } catch (...) {
      log::message(spdlog::level::err, "running upstream transfers failed: a non-exception was thrown");
      retryRunFromLoop();
    }
  });
  if (deferred) {
    zeroTimeoutDeferred_ = true;
  } else {
    postZeroTimeout();
  }
}

void HttpClient::socketAction(curl_socket_t fd, int events) {
  // What handlers write during this run leaves when it is done: the chunks one upstream read
  // brings go to the client in one write.
  const core::TurnScope turn;
  struct RunFlag {
    bool& flag;
    bool before;
    explicit RunFlag(bool& set) : flag(set), before(std::exchange(set, true)) {}
    ~RunFlag() { flag = before; }
  } const running(inRun_);  // restored before the turn's deferred writes go out
  int stillRunning = 0;
  curl_multi_socket_action(multi_, fd, events, &stillRunning);
  drainCompleted();
}

void HttpClient::drainCompleted() {
  int pending = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &pending)) {
    if (message->msg != CURLMSG_DONE) continue;
    auto it = active_.find(message->easy_handle);
    if (it == active_.end()) continue;
    const CURLcode code = message->data.result;
    auto transfer = it->second;
    finish(*transfer, code == CURLE_OK ? std::error_code{} : std::error_code{code, curlCategory()}, true);
  }
}

namespace {

// scheme://host[:port] of `url`, for logs: no path or query, no user info (either may hold a
// secret in a configured base URL).
std::string originOf(const std::string& url) {
  const auto scheme = url.find("://");
  const auto hostStart = scheme == std::string::npos ? 0 : scheme + 3;
  const auto hostEnd = url.find_first_of("/?#", hostStart);
  std::string host = url.substr(hostStart, hostEnd == std::string::npos ? std::string::npos : hostEnd - hostStart);
  if (const auto at = host.rfind('@'); at != std::string::npos) host.erase(0, at + 1);
  return url.substr(0, hostStart) + host;
}

// A prewarming HEAD: what it answers does not matter, only the connection it leaves in the pool.
class PrewarmHandler : public TransferHandler {
 public:
  explicit PrewarmHandler(const std::string& url) : url_(originOf(url)) {}
  void onResponseHead(const ResponseHead&) override {}
  void onBody(std::string_view) override {}
  void onComplete(std::error_code ec) override {
    if (ec) log::message(spdlog::level::warn, "prewarming a connection to " + url_ + " failed: " + ec.message());
  }

 private:
  std::string url_;
};

}  // namespace

void HttpClient::prewarm(const std::string& url, std::size_t connections, std::chrono::milliseconds connectTimeout) {
  for (std::size_t i = 0; i < connections; ++i) {
    Request head(url, {});
    head.headOnly = true;
    head.timeouts.connect = connectTimeout;
    head.timeouts.firstByte = head.timeouts.idle = head.timeouts.total = connectTimeout + std::chrono::seconds(5);
    start(std::move(head), std::make_shared<PrewarmHandler>(url));
  }
}

}  // namespace llmgate::upstream
