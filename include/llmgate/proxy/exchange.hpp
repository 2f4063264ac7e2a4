// One chat request from routing to the last byte sent. Each attempt goes to one candidate
// target (fast-path passthrough, translation through the IR, or an in-process mock reply), on
// a deployment the upstream pool picks; after a failure the retry state decides (move on,
// retry after a wait, or give up), within the request's deadline and the provider's retry
// budget.
// Lives on one worker thread; kept alive by what is pending on it (a transfer, a timer, the
// session's callbacks).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>


#include "llmgate/api/dialect.hpp"
#include "llmgate/auth/token_refresher.hpp"
#include "llmgate/balancing/upstream_pool.hpp"
#include "llmgate/limits/key_limiter.hpp"
#include "llmgate/proxy/flight.hpp"
#include "llmgate/providers/provider.hpp"
#include "llmgate/proxy/gateway_metrics.hpp"
#include "llmgate/proxy/response_cache.hpp"
#include "llmgate/resilience/retry_policy.hpp"
#include "llmgate/routing/router.hpp"
#include "llmgate/server/request_handler.hpp"
#include "llmgate/stream/sse_parser.hpp"
#include "llmgate/upstream/http_client.hpp"

namespace llmgate::proxy {

struct Generation;

/// What an Exchange works with. The loop, client and metrics are the Gateway's, which outlives
/// its worker loops and so every Exchange on them; the generation is the config the request
/// arrived in (providers, pool, conversions, refresher), held until the Exchange ends so that a
/// reload does not pull it away.
struct ExchangeContext {
  boost::asio::io_context& loop;  ///< the worker's: every callback of the Exchange runs here
  upstream::HttpClient& client;   ///< the worker's
  GatewayMetrics& metrics;
  limits::KeyLimiter& limiter;  ///< the Gateway's
  ResponseCache& responseCache;  ///< the Gateway's
  Flights& flights;              ///< the Gateway's
  std::size_t worker;
  std::shared_ptr<Generation> generation;
};

/// Everything an Exchange needs to make its attempts.
struct ExchangePlan {
  core::Dialect dialect = core::Dialect::OpenAi;
  std::string clientModel;
  bool modelNamedOnce = false;  ///< rawBody has one "model" member
  std::string requestId;
  bool clientStream = false;
  bool includeUsage = false;
  std::string rawBody;                       ///< the client's body, for passthrough attempts
  std::optional<core::ChatRequest> request;  ///< decoded, for translated and local attempts
  providers::ClientHints hints;
  std::vector<routing::Target> candidates;   ///< in the order to try them
  std::optional<resilience::Clock::time_point> deadline;
  bool countTokens = false;                  ///< a count_tokens passthrough, not a chat
  /// The gateway changed the request (turns prepended, context shaped): every attempt is
  /// encoded from `request`, never from the client's body nor the conversion cache.
  bool rewritten = false;
  std::string responseId;              ///< the id the answer carries when the gateway chooses it
  nlohmann::json requestEcho;          ///< what the answer repeats of the request (api::makeStreamWriter)
  server::HeaderList responseHeaders;  ///< added to the response head (what the gateway did)
  /// Called with the whole answer when it completed (not cut by an error), and the response
  /// object the client got when its dialect has one (a stream's last one, else the body), before
  /// the answer's last byte is sent: what keeps conversations on the gateway. Set, it turns the
  /// passthrough off (the answer is read through the IR).
  std::function<void(const core::ChatResponse&, std::string_view document)> onAnswered;
  resilience::Clock::time_point receivedAt = resilience::Clock::now();  ///< stage timings count from here
  /// The named gateway key whose limits the request is admitted under (the exchange's first
  /// step); null for none. Points into the generation's config.
  const config::GatewayKey* limitedKey = nullptr;
  /// The response cache's part, when the request may be answered from it: the key, whether it
  /// is looked up (after admission; not on x-llmgate-cache: refresh), whether a miss follows an
  /// identical request in flight (coalescing), and how long an answer asked upstream is kept.
  struct CachePlan {
    std::string key;
    bool lookUp = true;
    bool coalesce = false;
    std::chrono::seconds ttl{0};
  };
  std::optional<CachePlan> cache;
  /// The response cache's answer to this request: played to the client instead of any attempt.
  std::shared_ptr<const core::ChatResponse> cachedAnswer;
  /// In-flight coalescing: the flight this request leads (its answer is published to the
  /// followers) or follows (its answer is the leader's).
  std::shared_ptr<Flight> flight;
  bool leadsFlight = false;
  std::int64_t estimatedTokens = 0;  ///< charged to the key's tokens per minute until the answer says
};

class Exchange : public std::enable_shared_from_this<Exchange>, public upstream::TransferHandler {
 public:
  Exchange(ExchangeContext context, std::shared_ptr<server::ResponseSink> sink, ExchangePlan plan);
  ~Exchange() override;

  void start();

  // upstream::TransferHandler
  void onResponseHead(const upstream::ResponseHead& head) override;
  void onBody(std::string_view bytes) override;
  void onComplete(std::error_code ec) override;

 private:
  enum class Mode { Passthrough, Translated, Local };

  /// Runs one entry into the exchange (a callback, a timer, a handler call): whatever it throws
  /// fails this request alone, with a 500 in the client's dialect (or the connection closed
  /// when the response had begun), and is logged and counted; it never leaves.
  template <class Step>
  void contain(const char* where, Step&& step) noexcept;
  void failInternally(const char* where, std::string_view what) noexcept;
  void takeResponseHead(const upstream::ResponseHead& head);
  void takeBody(std::string_view bytes);
  void takeCompletion(std::error_code ec);
  /// Admits the request under its key's limits, then begins it; refused, a 429 with the
  /// x-ratelimit-* headers.
  void admit();
  void admitted(const limits::Decision& decision, std::shared_ptr<limits::Admission> admission);
  /// Looks the request up in the response cache (memory, then Redis), then begins it: a hit is
  /// played from the cache; a miss on a coalescing route boards the key's flight.
  void lookUpCache();
  void lookedUp(std::shared_ptr<const core::ChatResponse> answer, bool shared);
  /// The first attempt, and the keep-alive comments of a stream.
  void begin();
  /// A follower: writes what the leader published since last time; ends with the leader's
  /// answer, or asks on its own when the leader got none.
  void follow();
  void stopFollowing();
  /// Runs `step` of `exchange` on `loop` when it is still there (from any thread).
  static void postStep(boost::asio::io_context& loop, std::weak_ptr<Exchange> exchange, const char* where,
                       void (Exchange::*step)());
  /// A leader whose client left (or was cut): goes on for its followers; false when none wait.
  bool goHeadless(const char* why);
  void runAttempt();
  /// No candidate takes traffic: wait for the first that will (when that is soon enough), else
  /// send anyway to the one that will be soonest. False when nothing can be tried at all.
  bool chooseWhenNoneTakesTraffic(std::size_t& chosen, std::size_t& credential);
  bool prepareAttempt(const routing::Target& target, upstream::Request& out);
  /// The client's body as `target` is sent it on the fast path.
  std::string routedBody(const routing::Target& target) const;
  void attemptFailed(core::GatewayError error);
  /// On a 401 for an OAuth credential: refreshes it and retries; false when that does not apply.
  bool refreshRejectedCredential(const core::GatewayError& error);
  void startLocal(providers::LocalReply reply);
  void playLocal();
  void emit(const std::vector<core::ChatEvent>& events);
  void finishClient();
  /// A follower of an identical request in flight: the answer is the leader's.
  bool following() const { return plan_.flight && !plan_.leadsFlight; }
  /// The answer goes into the response cache: asked upstream by this request (not a hit, not
  /// the leader's).
  bool storesInCache() const { return plan_.cache && !plan_.cachedAnswer && !following(); }
  /// The whole answer is read (through the IR) to be kept when it completes.
  bool keepsAnswer() const { return plan_.onAnswered || storesInCache(); }
  /// Hands a complete answer to plan_.onAnswered and the response cache; a failure there is
  /// logged, the answer still goes.
  void keepAnswer(const core::ChatResponse& response, std::string_view document) noexcept;
  void fail(core::GatewayError error);
  void cancel();
  void releaseEndpoint(const core::GatewayError* failure);
  void applyBackpressure();
  void scanPassthroughEvent(std::string_view type, std::string_view data);
  void noteUsage(const core::Usage& usage);
  void armKeepalive();
  /// The current attempt stopped waiting on its upstream: its wait counts towards upstream time.
  void endUpstreamWait();
  /// Server-Timing for the response head: what the stages took so far.
  server::HeaderList timingHeaders(server::HeaderList headers = {}) const;
  double sinceReceived() const;
  void writeContent(std::string bytes);
  api::StreamWriter& writer(const core::ChatEvent* first);
  std::string defaultId() const;
  /// When candidate `candidate` takes traffic again (`now` for a local one); nullopt when every
  /// deployment of it was excluded.
  std::optional<resilience::Clock::time_point> availableAt(std::size_t candidate, resilience::Clock::time_point now) const;
  const resilience::RetryConfig& retryPolicy() const;

  ExchangeContext context_;
  std::shared_ptr<server::ResponseSink> sink_;
  ExchangePlan plan_;
  bool done_ = false;
  bool contentSent_ = false;  // retries stop once the client has content

  // the current attempt
  const providers::Provider* provider_ = nullptr;
  resilience::EndpointHealth* endpoint_ = nullptr;
  std::size_t credential_ = 0;
  std::shared_ptr<const auth::OAuthToken> tokenSent_;  // OAuth credentials: the token this attempt used
  Mode mode_ = Mode::Passthrough;
  std::shared_ptr<upstream::Transfer> transfer_;
  resilience::Clock::time_point attemptStarted_;
  bool waitingOnUpstream_ = false;
  resilience::Millis timeToFirstByte_{0};
  long upstreamStatus_ = 0;
  bool upstreamFailed_ = false;
  std::string upstreamContentType_;
  std::optional<resilience::Millis> retryDelay_;  // what the upstream asked to wait (header or body)
  std::string buffered_;  // error body, or a non-streaming passthrough body
  std::unique_ptr<providers::ResponseDecoder> decoder_;
  /// Reads a passthrough stream along for usage and errors; such events are small, so a larger
  /// one only stops the reading (the relay goes on).
  static constexpr std::size_t kMaxScannedEventBytes = 1024 * 1024;
  /// How far behind the leader a client may fall (a follower, or a leader with followers)
  /// before it is cut.
  static constexpr std::size_t kMaxFollowerBacklog = 4 * 1024 * 1024;
  /// Events a follower writes at a time.
  static constexpr std::size_t kFollowBatch = 64;
  stream::SseParser passthroughScanner_{kMaxScannedEventBytes};

  // across attempts
  std::size_t nextCandidate_ = 0;
  std::size_t currentCandidate_ = 0;
  int attempts_ = 0;
  std::vector<bool> tried_;
  balancing::Excluded excluded_;      // deployments that timed out in this request
  bool waitedForDeployment_ = false;  // waited once for a deployment to take traffic again
  std::optional<core::GatewayError> lastError_;
  bool credentialRefreshed_ = false;  // an OAuth token is refreshed at most once per request
  bool countedAsStream_ = false;      // in the active-streams gauge

  std::shared_ptr<limits::Admission> admission_;  // the key's hold, released when the exchange ends
  std::uint64_t follower_ = 0;  // this follower's id in plan_.flight
  bool leftFlight_ = false;     // a follower that stopped following (or left before it did)
  std::size_t flightCursor_ = 0;
  bool headless_ = false;  // a leader whose client left, going on for its followers
  bool awaitingDrain_ = false;  // a follower waiting for its client's queue to drain
  std::unique_ptr<api::StreamWriter> writer_;
  core::ResponseAccumulator accumulator_;
  std::vector<core::ChatEvent> events_;
  std::optional<providers::LocalReply> local_;
  std::size_t localNext_ = 0;
  upstream::LoopTimer timer_;      // backoff between attempts, local pacing
  upstream::LoopTimer keepalive_;  // SSE comments while the first token is awaited
};

}  // namespace llmgate::proxy
