// The request handler behind the HTTP server: endpoints, gateway auth, routing, and one
// Exchange per chat request, on the config generation the request arrived in.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "llmgate/auth/token_refresher.hpp"
#include "llmgate/balancing/upstream_pool.hpp"
#include "llmgate/config/config.hpp"
#include "llmgate/limits/key_limiter.hpp"
#include "llmgate/providers/provider.hpp"
#include "llmgate/proxy/admin_endpoints.hpp"
#include "llmgate/proxy/conversation_store.hpp"
#include "llmgate/proxy/conversion_cache.hpp"
#include "llmgate/proxy/error_response.hpp"
#include "llmgate/proxy/exchange.hpp"
#include "llmgate/proxy/flight.hpp"
#include "llmgate/proxy/gateway_metrics.hpp"
#include "llmgate/proxy/gateway_auth.hpp"
#include "llmgate/proxy/generation.hpp"
#include "llmgate/proxy/model_catalog.hpp"
#include "llmgate/proxy/response_cache.hpp"
#include "llmgate/resilience/retry_policy.hpp"
#include "llmgate/routing/router.hpp"
#include "llmgate/server/request_handler.hpp"
#include "llmgate/upstream/http_client.hpp"

namespace llmgate::proxy {

class Gateway : public server::RequestHandler {
 public:
  /// Builds generation 1 from `config`. Throws config::ConfigError for an unusable config.
  explicit Gateway(std::shared_ptr<const config::Config> config,
                   const std::vector<providers::ProviderFactory>& factories = providers::allProviderFactories());
  ~Gateway() override;

  void attachWorkers(const std::vector<boost::asio::io_context*>& loops,
                     std::shared_ptr<const server::ServerState> state) override;
  void detachWorkers() override;
  void handle(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
              std::size_t worker) override;
  void reject(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
              const core::GatewayError& error) override;
  void completed(const log::AccessRecord& record) override { metrics_.record(record); }
  void onEscapedException(std::string_view what) noexcept override;

  struct ReloadResult {
    bool ok = false;
    std::uint64_t generation = 0;          ///< the one serving now
    std::string error;                     ///< why the new config was refused
    std::vector<std::string> needRestart;  ///< changed keys that only a restart applies
  };
  /// Builds a generation from `load()` (which reads and validates the config and throws
  /// config::ConfigError when it cannot) and swaps it in on every worker; requests in flight end
  /// on the generation they began on. A config that cannot be loaded, built, or served safely
  /// (config::exposureProblem) leaves the running generation in place. Call from one thread
  /// (the signal handler's), not from a worker.
  ReloadResult reload(const std::function<config::Config()>& load);

  /// Frees the replaced generations that no request uses any more; returns how many are still
  /// in use. The reload does it, and a timer on the signal thread (streams outlive reloads).
  std::size_t releaseRetired();

  /// The generation new requests start on now.
  std::shared_ptr<Generation> current() const;
  /// Parts of the current generation, valid until a reload replaces and frees it: for start-up
  /// reports and tests, never for a request.
  const config::Config& config() const { return *current()->config; }
  balancing::UpstreamPool& pool() { return current()->pool; }
  const routing::Router& router() const { return current()->router; }
  const std::vector<std::unique_ptr<providers::Provider>>& providers() const { return current()->providers; }
  upstream::HttpClient& httpClient(std::size_t worker) { return *clients_[worker]; }
  GatewayMetrics& metrics() { return metrics_; }
  const limits::KeyLimiter& limiter() const { return limiter_; }
  const redis::Connections& redis() const { return redis_; }
  /// Requests that followed an identical one in flight instead of asking the upstream.
  std::uint64_t coalescedRequests() const { return flights_.coalesced(); }
  /// Forgets the stored responses and sessions that have expired; call from a timer on the
  /// signal thread.
  std::size_t purgeExpiredConversations() { return conversations_.purgeExpired() + responseCache_.purgeExpired(); }

 private:
  void dispatch(const std::shared_ptr<Generation>& generation, server::IncomingRequest& request,
                std::shared_ptr<server::ResponseSink> sink, std::size_t worker);
  /// What an Exchange on `worker` works with; it holds `generation` until it ends.
  ExchangeContext exchangeContext(const std::shared_ptr<Generation>& generation, std::size_t worker);
  /// A request whose handling threw: a 500 in the client's dialect, or the connection closed
  /// when the response had begun; logged with the request id and counted.
  void failInternally(server::IncomingRequest& request, server::ResponseSink& sink, std::string_view what) noexcept;
  /// The same, for a request answered later than its handler (the request itself is gone).
  void failInternally(const std::string& requestId, core::Dialect dialect, server::ResponseSink& sink,
                      std::string_view what) noexcept;
  /// /v1/chat/completions and /v1/messages: the same path, in the client's dialect.
  void handleChat(const std::shared_ptr<Generation>& generation, server::IncomingRequest& request,
                  std::shared_ptr<server::ResponseSink> sink, std::size_t worker, core::Dialect dialect,
                  const Caller& caller);
  /// What the gateway does with a chat request's conversation before decoding it.
  struct Conversation {
    std::string session;                               ///< x-llmgate-session, empty without
    std::shared_ptr<const StoredConversation> prior;   ///< the session's kept turns
    const core::ContextShaping* shaping = nullptr;     ///< the route's
  };
  /// The conversation around a decoded request: the turns of the stored response or session it
  /// continues, what is kept of its answer, and the context shaping of its route. Answers the
  /// error itself (an unknown previous_response_id) and returns false.
  bool continueConversation(const Generation& generation, server::IncomingRequest& request, server::ResponseSink& sink,
                            const std::string& caller, const Conversation& conversation, ExchangePlan& plan);
  /// How a request may use the response cache: its route's settings, and x-llmgate-cache.
  struct CacheUse {
    const config::ResponseCacheRoute* route = nullptr;
    std::string_view header;  ///< on | off | refresh | empty
  };
  /// Decides whether the decoded request may be answered from the response cache and have its
  /// answer kept there (the exchange does both); returns the x-llmgate-cache-status when it is
  /// decided here (bypass, refresh), else empty.
  std::string useResponseCache(const config::Config& config, const nlohmann::json& document, const CacheUse& cache,
                               const Conversation& conversation, ExchangePlan& plan);
  /// GET and DELETE /v1/responses/{id}.
  void handleStoredResponse(server::IncomingRequest& request, server::ResponseSink& sink, const std::string& caller);
  void handleCountTokens(const std::shared_ptr<Generation>& generation, server::IncomingRequest& request,
                         std::shared_ptr<server::ResponseSink> sink, std::size_t worker, const Caller& caller);
  /// Answers once the upstreams' own lists are known (ModelCatalog::whenListed).
  void handleModels(const std::shared_ptr<Generation>& generation, server::IncomingRequest& request,
                    std::shared_ptr<server::ResponseSink> sink, core::Dialect dialect, std::size_t worker);
  /// Without a gateway key (when keys are set): the status alone, for probes that carry none.
  void handleHealthDetailed(const Generation& generation, server::ResponseSink& sink, bool authorized);
  void handleMetrics(const Generation& generation, server::ResponseSink& sink);
  void handlePerformance(const Generation& generation, server::IncomingRequest& request, server::ResponseSink& sink);
  admin::Sources adminSources(const Generation& generation) const;
  /// A request body that is valid JSON, with its model routed.
  struct Routed {
    std::string model;
    bool modelNamedOnce = false;  ///< the body has one "model" member (not a repeated key)
    bool stream = false;
    routing::Route route;
    /// The body isValidJson accepted: a view of the request's bytes, valid while the request
    /// keeps its body (not after it is moved into a plan).
    std::string_view validatedBody;
  };
  /// Parses the body and resolves its model; answers the error itself and returns nullopt.
  std::optional<Routed> parseAndRoute(const Generation& generation, server::IncomingRequest& request,
                                      server::ResponseSink& sink, const Caller& caller);
  /// What every Exchange of this request shares: ids, hints, candidates, deadline.
  ExchangePlan planFor(server::IncomingRequest& request, const Routed& routed, core::Dialect dialect, bool stream,
                       std::vector<routing::Target> candidates) const;
  /// Request deadline: the x-llmgate-timeout-ms header, else the first target's total timeout.
  std::optional<resilience::Clock::time_point> deadlineFor(server::IncomingRequest& request,
                                                           const routing::Target& first, bool stream) const;
  /// Makes `next` current on every worker (waits until each has taken it) and frees the
  /// replaced generations that nothing uses any more.
  void install(std::shared_ptr<Generation> next);
  /// Opens upstream.prewarm_connections connections to each enabled provider's base URL on
  /// every worker (at start and after a reload).
  void prewarm(const Generation& generation);

  const std::vector<providers::ProviderFactory> factories_;
  /// The config the process started with: what a reload cannot change stays as it says.
  const std::shared_ptr<const config::Config> startConfig_;
  mutable std::mutex generationMutex_;  ///< guards current_, retired_ and reloads_
  std::shared_ptr<Generation> current_;
  std::vector<std::shared_ptr<Generation>> retired_;  ///< replaced, possibly still used by requests in flight
  admin::ReloadHistory reloads_;
  /// Each worker's own reference to the current generation, read and replaced on its thread only
  /// (no lock on the request path).
  std::vector<std::shared_ptr<Generation>> workerGenerations_;
  std::vector<boost::asio::io_context*> loops_;
  std::shared_ptr<const server::ServerState> serverState_;
  std::vector<std::unique_ptr<upstream::HttpClient>> clients_;
  GatewayMetrics metrics_;
  /// Outlive generations: a reload keeps the conversations and what each key has spent.
  ConversationStore conversations_;
  redis::Connections redis_;  ///< before its users
  limits::KeyLimiter limiter_;
  ResponseCache responseCache_;
  Flights flights_;
  std::chrono::steady_clock::time_point startedAt_ = std::chrono::steady_clock::now();
};

}  // namespace llmgate::proxy
