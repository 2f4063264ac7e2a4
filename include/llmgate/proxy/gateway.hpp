// The request handler behind the HTTP server: endpoints, gateway auth, routing, and one
// Exchange per chat request.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "llmgate/auth/token_refresher.hpp"
#include "llmgate/balancing/upstream_pool.hpp"
#include "llmgate/config/config.hpp"
#include "llmgate/providers/provider.hpp"
#include "llmgate/proxy/admin_endpoints.hpp"
#include "llmgate/proxy/conversion_cache.hpp"
#include "llmgate/proxy/error_response.hpp"
#include "llmgate/proxy/exchange.hpp"
#include "llmgate/proxy/gateway_metrics.hpp"
#include "llmgate/proxy/gateway_auth.hpp"
#include "llmgate/proxy/model_catalog.hpp"
#include "llmgate/resilience/retry_policy.hpp"
#include "llmgate/routing/router.hpp"
#include "llmgate/server/request_handler.hpp"
#include "llmgate/upstream/http_client.hpp"

namespace llmgate::proxy {

class Gateway : public server::RequestHandler {
 public:
  /// Builds providers (each from the factory of its type) and routes. Throws
  /// config::ConfigError for an unusable config.
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

  const config::Config& config() const { return *config_; }

  balancing::UpstreamPool& pool() { return *pool_; }
  const routing::Router& router() const { return *router_; }
  const std::vector<std::unique_ptr<providers::Provider>>& providers() const { return providers_; }
  upstream::HttpClient& httpClient(std::size_t worker) { return *clients_[worker]; }
  /// What an Exchange on `worker` works with.
  ExchangeContext exchangeContext(std::size_t worker);
  GatewayMetrics& metrics() { return metrics_; }

 private:
  void dispatch(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink, std::size_t worker);
  /// A request whose handling threw: a 500 in the client's dialect, or the connection closed
  /// when the response had begun; logged with the request id and counted.
  void failInternally(server::IncomingRequest& request, server::ResponseSink& sink, std::string_view what) noexcept;
  /// The same, for a request answered later than its handler (the request itself is gone).
  void failInternally(const std::string& requestId, core::Dialect dialect, server::ResponseSink& sink,
                      std::string_view what) noexcept;
  /// /v1/chat/completions and /v1/messages: the same path, in the client's dialect.
  void handleChat(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink, std::size_t worker,
                  core::Dialect dialect);
  void handleCountTokens(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                         std::size_t worker);
  /// Answers once the upstreams' own lists are known (ModelCatalog::whenListed).
  void handleModels(server::IncomingRequest& request, std::shared_ptr<server::ResponseSink> sink,
                    core::Dialect dialect, std::size_t worker);
  void handleHealthDetailed(server::ResponseSink& sink);
  void handleMetrics(server::ResponseSink& sink);
  void handlePerformance(server::IncomingRequest& request, server::ResponseSink& sink);
  admin::Sources adminSources() const;
  /// A request body that is valid JSON, with its model routed.
  struct Routed {
    std::string model;
    bool stream = false;
    routing::Route route;
  };
  /// Parses the body and resolves its model; answers the error itself and returns nullopt.
  std::optional<Routed> parseAndRoute(server::IncomingRequest& request, server::ResponseSink& sink);
  /// What every Exchange of this request shares: ids, hints, candidates, deadline.
  ExchangePlan planFor(server::IncomingRequest& request, const Routed& routed, core::Dialect dialect, bool stream,
                       std::vector<routing::Target> candidates) const;
  /// Request deadline: the x-llmgate-timeout-ms header, else the first target's total timeout.
  std::optional<resilience::Clock::time_point> deadlineFor(server::IncomingRequest& request,
                                                           const routing::Target& first, bool stream) const;

  std::shared_ptr<const config::Config> config_;
  std::vector<std::unique_ptr<providers::Provider>> providers_;
  std::unique_ptr<routing::Router> router_;
  GatewayAuth auth_;
  std::vector<boost::asio::io_context*> loops_;
  std::shared_ptr<const server::ServerState> serverState_;
  std::vector<std::unique_ptr<upstream::HttpClient>> clients_;
  std::unique_ptr<balancing::UpstreamPool> pool_;
  std::unique_ptr<auth::TokenRefresher> refresher_;
  std::unique_ptr<ConversionCache> conversions_;
  std::shared_ptr<ModelCatalog> catalog_;
  GatewayMetrics metrics_;
  std::chrono::steady_clock::time_point startedAt_ = std::chrono::steady_clock::now();
};

}  // namespace llmgate::proxy
