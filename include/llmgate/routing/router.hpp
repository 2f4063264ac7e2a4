// Model name -> Route. Built once from the config; pure and read-only afterwards.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llmgate/providers/provider.hpp"

namespace llmgate::routing {

/// One place a request can go: a provider instance and the model name it is sent there under.
struct Target {
  const providers::Provider* provider = nullptr;
  std::string upstreamModel;
};

/// Ordered targets for a model (first is primary; later ones are fallbacks).
struct Route {
  std::string model;  ///< the name the client used
  std::vector<Target> targets;
};

struct ModelListing {
  std::string id;
  std::string ownedBy;  ///< provider name
};

class Router {
 public:
  /// `providers` must outlive the router. Disabled providers are not routed to. Throws
  /// config::ConfigError when an alias points nowhere.
  Router(const config::Config& config, const std::vector<std::unique_ptr<providers::Provider>>& providers);

  /// Resolution order: exact model name of an enabled provider, then alias, then the explicit
  /// `provider/model` form (any model name the named provider accepts).
  std::optional<Route> resolve(const std::string& model) const;

  /// Every routable model name (exact names and aliases), in config order.
  const std::vector<ModelListing>& models() const { return listing_; }

 private:
  std::optional<Target> resolveDirect(const std::string& model) const;

  std::map<std::string, Target> exact_;
  std::map<std::string, const providers::Provider*> byName_;
  std::map<std::string, std::string> aliases_;
  std::vector<ModelListing> listing_;
};

}  // namespace llmgate::routing
