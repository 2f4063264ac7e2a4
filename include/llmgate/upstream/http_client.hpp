// Upstream HTTP client: libcurl's multi interface driven by the worker's Asio loop.
// One HttpClient per worker io_context (a CURLM must stay on one thread); every transfer of that
// worker shares its connection cache, so keep-alive connections are reused across requests.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <curl/curl.h>

#include "llmgate/config/config.hpp"
#include "llmgate/core/error.hpp"
#include "llmgate/upstream/request.hpp"

namespace llmgate::upstream {

/// Errors the client raises itself (curl's own codes use curlCategory()).
enum class Errc {
  first_byte_timeout = 1,
  idle_timeout,
  handler_failed,  ///< the TransferHandler threw while taking the head or body bytes
};
const std::error_category& upstreamCategory();
const std::error_category& curlCategory();
std::error_code makeErrorCode(Errc errc);

/// Maps a transfer error to the gateway's classification and a stable snake_case code.
core::GatewayError classify(std::error_code ec, bool responseStarted);

struct ResponseHead {
  long status = 0;
  double connectMs = 0;  ///< time to open a new connection (TCP + TLS); 0 when a pooled one was reused
  /// The header lines as received ("Name: value\r\n"...): one buffer, no per-header strings.
  std::string headerBlock;
  /// Value of the first header named `name` (any case), trimmed; empty when absent.
  std::string_view header(std::string_view name) const;
};

/// Receives a transfer's progress, on the worker thread that started it.
class TransferHandler {
 public:
  virtual ~TransferHandler() = default;
  /// Status and headers, once, before any body bytes.
  virtual void onResponseHead(const ResponseHead& head) = 0;
  /// Body bytes as they arrive. The view is valid during the call only.
  virtual void onBody(std::string_view bytes) = 0;
  /// The transfer ended (ec empty on success). Not called after cancel(). Also called, with
  /// Errc::handler_failed, when onResponseHead or onBody threw: the transfer is then aborted.
  virtual void onComplete(std::error_code ec) = 0;
};

class HttpClient;

/// The curl_slist of a request's usual header lines, and its last node (where a transfer links
/// its own lines while it runs).
struct CurlHeaderList {
  curl_slist* first = nullptr;
  curl_slist* last = nullptr;
};

/// A timer bound to a worker's loop by type (the type-erased any_io_executor of
/// boost::asio::steady_timer costs a copy and a table dispatch on every wait).
using LoopTimer = boost::asio::basic_waitable_timer<std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
                                                    boost::asio::io_context::executor_type>;

/// Handle of one in-flight transfer. Calls must come from the worker thread. Owned by shared
/// pointers (the client's while active, the caller's): timer handlers hold it weakly.
class Transfer : public std::enable_shared_from_this<Transfer> {
 public:
  /// Stops delivering body bytes until resume() (backpressure: the client is not draining).
  void pause();
  void resume();
  /// Abandons the transfer at once: its connection is closed, the handler is not called again.
  void cancel();
  bool active() const { return easy_ != nullptr; }

 private:
  friend class HttpClient;
  explicit Transfer(HttpClient& client);
  static std::size_t onWrite(char* data, std::size_t size, std::size_t count, void* self) noexcept;
  static std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* self) noexcept;
  void deliverHead();
  /// Runs a handler call from inside a curl callback; false when it threw (the transfer then
  /// ends with Errc::handler_failed).
  template <class Call>
  bool callHandler(Call&& call) noexcept;
  void noteFirstByte();
  void armDeadline(std::chrono::steady_clock::time_point at);
  void onDeadline();

  HttpClient& client_;
  CURL* easy_ = nullptr;
  CurlHeaderList headerList_;               ///< the handle's list of request_.headers
  std::vector<curl_slist> ownHeaderNodes_;  ///< request_.ownHeaders, linked after it; owned here, not by curl
  std::shared_ptr<CURLU> url_;  ///< the parsed URL the easy handle reads while this runs
  Request request_;
  std::shared_ptr<TransferHandler> handler_;
  LoopTimer deadline_;
  std::chrono::steady_clock::time_point timerDue_ = std::chrono::steady_clock::time_point::max();  ///< max: not armed
  std::chrono::steady_clock::time_point startedAt_;
  std::chrono::steady_clock::time_point lastActivity_;
  ResponseHead head_;
  bool headDelivered_ = false;
  bool gotFirstByte_ = false;
  bool gotBody_ = false;
  bool pauseWanted_ = false;
  bool curlPaused_ = false;
  bool inCallback_ = false;
  bool cancelled_ = false;
  bool handlerFailed_ = false;
};

/// Written by the worker, read by scrapes from any thread.
struct ClientStats {
  std::atomic<std::uint64_t> transfers{0};
  std::atomic<std::uint64_t> connectionsOpened{0};  ///< new connections (the rest reused the pool)
};

class HttpClient {
 public:
  HttpClient(boost::asio::io_context& io, const config::UpstreamPoolConfig& pool);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Starts a transfer; the handler hears about it on this thread until it completes or is
  /// cancelled through the returned handle.
  std::shared_ptr<Transfer> start(Request request, std::shared_ptr<TransferHandler> handler);
  /// Opens `connections` keep-alive connections to the origin of `url` (concurrent HEAD
  /// requests without credentials, their answers dropped), so that the first requests there do
  /// not pay the TCP and TLS handshakes. A failure is logged, nothing else.
  void prewarm(const std::string& url, std::size_t connections, std::chrono::milliseconds connectTimeout);

  std::size_t activeTransfers() const { return active_.size(); }
  const ClientStats& stats() const { return stats_; }

 private:
  friend class Transfer;
  struct SocketWatch;

  static int onSocket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp) noexcept;
  static int onTimer(CURLM* multi, long timeoutMs, void* self) noexcept;
  static curl_socket_t onOpenSocket(void* self, curlsocktype purpose, curl_sockaddr* address) noexcept;
  static int onCloseSocket(void* self, curl_socket_t fd) noexcept;
  void watchSocket(curl_socket_t fd, int what);
  void forgetSocket(curl_socket_t fd);
  void armWait(const std::shared_ptr<SocketWatch>& watch, bool forRead);
  void socketAction(curl_socket_t fd, int events);
  /// curl's "run now", never from inside curl: at the end of the turn scope open on this
  /// thread (core::TurnScope), or else from a handler posted to the loop; once however often
  /// curl asks.
  void runSoon();
  void postZeroTimeout();
  /// After a deferred run threw: the loop tries again.
  void retryRunFromLoop() noexcept;
  void drainCompleted();
  void finish(Transfer& transfer, std::error_code ec, bool notify);
  /// Tells the handler of a finished transfer; a handler that throws is logged, never rethrown.
  static void notifyFinished(TransferHandler& handler, Transfer& transfer, std::error_code ec) noexcept;
  /// An easy handle out of the pool (or a new one) with the header list `headers` make: the
  /// one it last sent when they are the same, so a provider's usual headers are not rebuilt
  /// into a list (five allocations and copies) on every request. Null when out of memory.
  CURL* acquireEasy(const std::vector<std::string>& headers, CurlHeaderList& headerList);
  /// A handle with the options every transfer shares; null when out of memory.
  CURL* newEasy();
  /// Back to the pool with the list it sent and the headers that list was made of.
  void releaseEasy(CURL* easy, CurlHeaderList headerList, std::vector<std::string> headers);
  /// `url` parsed once per worker (libcurl would parse and re-assemble the string on every
  /// request); null when libcurl cannot parse it (the transfer then fails with its error).
  std::shared_ptr<CURLU> parsedUrl(const std::string& url);

  boost::asio::io_context& io_;
  CURLM* multi_ = nullptr;
  LoopTimer timer_;
  std::chrono::steady_clock::time_point timerDeadline_;
  bool timerArmed_ = false;
  bool zeroTimeoutPosted_ = false;
  bool zeroTimeoutDeferred_ = false;  ///< a run waits for the end of the turn scope
  bool inRun_ = false;                ///< inside socketAction: curl's run and its completions
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unordered_map<curl_socket_t, std::shared_ptr<SocketWatch>> sockets_;
  std::unordered_map<CURL*, std::shared_ptr<Transfer>> active_;
  struct IdleEasy {
    CURL* easy;
    CurlHeaderList headerList;
    std::vector<std::string> headers;  ///< what headerList was made of
  };
  std::vector<IdleEasy> idleEasy_;
  /// Few distinct URLs (a provider's endpoints); cleared beyond kMaxParsedUrls (Gemini's carry
  /// the model), transfers in flight keep theirs.
  static constexpr std::size_t kMaxParsedUrls = 256;
  std::unordered_map<std::string, std::shared_ptr<CURLU>> parsedUrls_;
  long maxConnectionAge_;
  ClientStats stats_;
};

}  // namespace llmgate::upstream
