// The upstream side's state shared by every request: the health of each deployment (one
// credential of a provider serving one configured model, as LiteLLM counts them), each
// provider's retry budget and key rotation, and the order a route's targets are tried in.
// Thread-safe: one pool serves all workers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmgate/providers/provider.hpp"
#include "llmgate/resilience/endpoint_health.hpp"
#include "llmgate/routing/router.hpp"

namespace llmgate::balancing {

using resilience::Clock;
using resilience::EndpointHealth;

/// Deployments this request may not go to again (those that timed out in it).
using Excluded = std::vector<const EndpointHealth*>;

class UpstreamPool {
 public:
  /// `providers` must outlive the pool. Each enabled remote provider gets one deployment per
  /// credential and `models` entry (a pattern is one deployment for every name it matches),
  /// plus one ("*") for the provider/model names it does not list: a bounded set, whatever
  /// model names clients send.
  explicit UpstreamPool(const std::vector<std::unique_ptr<providers::Provider>>& providers);

  struct Pick {
    EndpointHealth* health = nullptr;  ///< lives as long as the pool
    std::size_t credential = 0;
  };
  /// A deployment of `target` that takes traffic now, credentials in turn; it is acquired
  /// (release it through the health). Nullopt when none does.
  std::optional<Pick> pick(const routing::Target& target, const Excluded& excluded, Clock::time_point now = Clock::now());
  /// When no deployment takes traffic, the one that will soonest, acquired anyway (a panic
  /// send, as Envoy's panic threshold: a lone deployment is never blackholed). Nullopt only
  /// when every deployment of the target is excluded.
  std::optional<Pick> pickAnyway(const routing::Target& target, const Excluded& excluded, Clock::time_point now = Clock::now());
  /// When the first deployment of `target` not excluded takes traffic again (`now` when one
  /// does); nullopt when all are excluded.
  std::optional<Clock::time_point> availableAt(const routing::Target& target, const Excluded& excluded,
                                               Clock::time_point now = Clock::now()) const;

  resilience::RetryBudget& budget(const providers::Provider& provider);
  /// The route's targets in the order its strategy gives for this request.
  std::vector<routing::Target> order(const routing::Route& route) const;

  struct DeploymentView {
    std::size_t credential;
    const std::string& model;  ///< the `models` entry, or routing::kUnlistedDeployment
    const EndpointHealth& health;
  };
  /// Every deployment of `provider` (none when it is disabled or local): credentials in
  /// order, then models in config order, "*" last.
  void forEachDeployment(const providers::Provider& provider, const std::function<void(const DeploymentView&)>& visit) const;
  /// One deployment's health (for inspection); nullptr when there is no such deployment.
  /// How a credential is named in health reports and metrics ("openai#0"): never the key.
  static std::string endpointName(const providers::Provider& provider, std::size_t credential);
  const EndpointHealth* health(const providers::Provider& provider, std::size_t credential, std::string_view model) const;

 private:
  struct ProviderState {
    const providers::Provider* provider = nullptr;
    std::vector<std::string> models;  // the deployments of each credential, "*" last
    std::size_t credentials = 0;
    std::vector<std::unique_ptr<EndpointHealth>> health;  // [credential * models.size() + model]
    std::unique_ptr<resilience::RetryBudget> budget;
    std::unique_ptr<std::atomic<std::uint64_t>> keyTurn = std::make_unique<std::atomic<std::uint64_t>>(0);
    /// The index of `target`'s deployment among `models` ("*" when it names none).
    std::size_t modelOf(const routing::Target& target) const;
    EndpointHealth& at(std::size_t credential, std::size_t model) const;
  };
  /// Null for a provider the pool was not built with.
  const ProviderState* stateOf(const providers::Provider& provider) const;
  /// The deployment of `target` (not excluded) that takes traffic soonest, with when.
  struct Soonest {
    Pick deployment;  ///< not acquired
    Clock::time_point at;
  };
  std::optional<Soonest> soonest(const routing::Target& target, const Excluded& excluded, Clock::time_point now) const;

  std::vector<ProviderState> states_;
};

}  // namespace llmgate::balancing
