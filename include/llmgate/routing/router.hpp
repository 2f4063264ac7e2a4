// Model name -> Route. Built once from the config; pure and read-only afterwards.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llmgate/providers/provider.hpp"

namespace llmgate::routing {

/// One place a request can go: a provider instance and the model name it is sent there under.
/// The deployment of provider/model names a provider does not list.
inline constexpr std::string_view kUnlistedDeployment = "*";

struct Target {
  const providers::Provider* provider = nullptr;
  std::string upstreamModel;
  int weight = 1;
  /// The provider's `models` entry this target is (a name, or the pattern that matched), or
  /// "*" for a provider/model name it does not list: which deployment's health applies.
  std::string deployment{kUnlistedDeployment};
};

enum class Strategy { Ordered, RoundRobin, Weighted, LeastLatency, LeastBusy };

/// The metrics label of models the config does not name.
inline constexpr std::string_view kOtherModel = "other";

/// Targets for a model. The strategy picks which goes first; the others follow in order as
/// fallbacks. `turn` counts the route's requests (round robin and weighted use it).
struct Route {
  std::string model;  ///< the name the client used
  /// What metrics call this route: a name from the config (model, route or alias), or
  /// kOtherModel for a provider/model name the config does not list. Client text never becomes
  /// a label, so the number of series stays bounded whatever clients send.
  std::string label;
  Strategy strategy = Strategy::Ordered;
  std::vector<Target> targets;
  std::uint64_t turn = 0;
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

  /// Resolution order: exact model name of an enabled provider, then a route, then an alias,
  /// then the explicit `provider/model` form (any model name the named provider accepts), then
  /// the model patterns of enabled providers in config order (`claude-*`, `o[0-9]*`: a
  /// provider's `models` entry with `*`, `?` or `[...]`, matched as a shell glob), so that a
  /// model released tomorrow routes today. A route keeps its targets that resolve to enabled
  /// providers.
  std::optional<Route> resolve(const std::string& model) const;

  /// Every routable model name (exact names and aliases, not patterns), in config order.
  const std::vector<ModelListing>& models() const { return listing_; }

  /// Whether a `models` entry is a pattern rather than a name.
  static bool isPattern(std::string_view model);

 private:
  struct Pattern {
    std::string glob;
    const providers::Provider* provider;
    /// `model`, which this pattern matched, on its provider.
    Target targetFor(const std::string& model) const { return Target{provider, provider->upstreamModel(model), 1, glob}; }
  };
  /// Exact name, provider/model, or pattern: what a route's or alias's target may be.
  std::optional<Target> resolveDirect(const std::string& model) const;
  std::optional<Target> resolveProviderForm(const std::string& model) const;
  /// The first pattern of an enabled provider that `model` matches.
  const Pattern* matchPattern(const std::string& model) const;
  /// Throws ConfigError at `path` unless `target` is a configured model or provider/model.
  void requireNamesSomething(const std::string& target, const std::string& path,
                             const std::vector<std::unique_ptr<providers::Provider>>& providers) const;

  struct RouteSpec {
    Strategy strategy = Strategy::Ordered;
    std::vector<std::pair<std::string, int>> targets;
    std::unique_ptr<std::atomic<std::uint64_t>> turns = std::make_unique<std::atomic<std::uint64_t>>(0);
  };

  std::map<std::string, Target> exact_;
  std::vector<Pattern> patterns_;
  std::map<std::string, RouteSpec> routes_;
  std::map<std::string, const providers::Provider*> byName_;
  std::map<std::string, std::string> aliases_;
  std::vector<ModelListing> listing_;
};

}  // namespace llmgate::routing
