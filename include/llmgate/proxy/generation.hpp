// Everything built from one config: providers (with their credential files read), routes,
// gateway keys, the upstream pool with its deployments' health, the token refresher, the
// conversion cache and the model catalog. A reload builds a new generation beside the running
// one and swaps it in; requests keep the generation they started on until they end, so an
// in-flight request finishes on the routes and credentials it began with.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "llmgate/auth/token_refresher.hpp"
#include "llmgate/balancing/upstream_pool.hpp"
#include "llmgate/config/config.hpp"
#include "llmgate/providers/provider.hpp"
#include "llmgate/proxy/conversion_cache.hpp"
#include "llmgate/proxy/gateway_auth.hpp"
#include "llmgate/proxy/model_catalog.hpp"
#include "llmgate/routing/router.hpp"

namespace llmgate::proxy {

struct Generation {
  /// Builds every part from `config`. Throws config::ConfigError for an unusable config.
  Generation(std::shared_ptr<const config::Config> config, const std::vector<providers::ProviderFactory>& factories,
             std::uint64_t number);
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  const std::uint64_t number;  ///< 1 for the config read at start, one more per successful reload
  const std::chrono::system_clock::time_point loadedAt = std::chrono::system_clock::now();
  const std::shared_ptr<const config::Config> config;
  const std::vector<std::unique_ptr<providers::Provider>> providers;
  const routing::Router router;
  const GatewayAuth auth;
  balancing::UpstreamPool pool;
  auth::TokenRefresher refresher;
  ConversionCache conversions;
  const std::shared_ptr<ModelCatalog> catalog;
};

}  // namespace llmgate::proxy
