#include "llmgate/routing/router.hpp"

#include <fnmatch.h>

#include <algorithm>

namespace llmgate::routing {

Router::Router(const config::Config& config, const std::vector<std::unique_ptr<providers::Provider>>& providers) {
  for (const auto& provider : providers) {
    byName_.emplace(provider->name(), provider.get());
    if (!provider->config().enabled) continue;
    for (const auto& model : provider->config().models) {
      if (isPattern(model)) {
        patterns_.push_back({model, provider.get()});
        continue;
      }
      // The first provider that lists a model owns its plain name; the others stay reachable
      // as provider/model.
      if (exact_.emplace(model, Target{provider.get(), provider->upstreamModel(model), 1, model}).second) {
        listing_.push_back({model, provider->name()});
      }
    }
  }
  for (const auto& [name, route] : config.routes) {
    RouteSpec spec;
    spec.strategy = route.strategy == "round_robin"     ? Strategy::RoundRobin
                    : route.strategy == "weighted"      ? Strategy::Weighted
                    : route.strategy == "least_latency" ? Strategy::LeastLatency
                    : route.strategy == "least_busy"    ? Strategy::LeastBusy
                                                        : Strategy::Ordered;
    spec.targets = route.targets;
    bool any = false;
    for (const auto& [target, weight] : route.targets) {
      requireNamesSomething(target, "routes." + name, providers);
      any = any || resolveDirect(target).has_value();
    }
    if (any) listing_.push_back({name, "route"});
    routes_.emplace(name, std::move(spec));
  }
  aliases_ = config.aliases;
  for (const auto& [alias, target] : aliases_) {
    if (!resolveDirect(target)) {
      // An alias to a disabled provider is fine (it just does not route); a typo is not.
      requireNamesSomething(target, "aliases." + alias, providers);
      continue;
    }
    listing_.push_back({alias, resolveDirect(target)->provider->name()});
  }
}

void Router::requireNamesSomething(const std::string& target, const std::string& path,
                                   const std::vector<std::unique_ptr<providers::Provider>>& providers) const {
  const auto slash = target.find('/');
  if (slash != std::string::npos && byName_.count(target.substr(0, slash)) > 0) return;
  for (const auto& provider : providers) {
    for (const auto& model : provider->config().models) {
      if (model == target || (isPattern(model) && ::fnmatch(model.c_str(), target.c_str(), 0) == 0)) return;
    }
  }
  throw config::ConfigError(path + ": target \"" + target + "\" is neither a model nor provider/model");
}

bool Router::isPattern(std::string_view model) { return model.find_first_of("*?[") != std::string_view::npos; }

const Router::Pattern* Router::matchPattern(const std::string& model) const {
  for (const auto& pattern : patterns_) {
    if (::fnmatch(pattern.glob.c_str(), model.c_str(), 0) == 0) return &pattern;
  }
  return nullptr;
}

std::optional<Target> Router::resolveDirect(const std::string& model) const {
  if (auto it = exact_.find(model); it != exact_.end()) return it->second;
  if (auto target = resolveProviderForm(model)) return target;
  if (const Pattern* pattern = matchPattern(model)) return pattern->targetFor(model);
  return std::nullopt;
}

std::optional<Target> Router::resolveProviderForm(const std::string& model) const {
  const auto slash = model.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto provider = byName_.find(model.substr(0, slash));
  if (provider == byName_.end() || !provider->second->config().enabled) return std::nullopt;
  const std::string rest = model.substr(slash + 1);
  if (rest.empty()) return std::nullopt;
  // The deployment is the provider's entry naming the model: the name itself, else its pattern.
  std::string deployment{kUnlistedDeployment};
  for (const auto& entry : provider->second->config().models) {
    if (entry == rest) {
      deployment = entry;
      break;
    }
    if (deployment == kUnlistedDeployment && isPattern(entry) && ::fnmatch(entry.c_str(), rest.c_str(), 0) == 0) {
      deployment = entry;
    }
  }
  return Target{provider->second, provider->second->upstreamModel(rest), 1, std::move(deployment)};
}

std::optional<Route> Router::resolve(const std::string& model) const {
  auto single = [&](Target target, std::string label) {
    return Route{model, std::move(label), Strategy::Ordered, {std::move(target)}, 0};
  };
  if (auto direct = exact_.find(model); direct != exact_.end()) return single(direct->second, model);
  if (auto route = routes_.find(model); route != routes_.end()) {
    Route out{model, model, route->second.strategy, {}, route->second.turns->fetch_add(1, std::memory_order_relaxed)};
    for (const auto& [target, weight] : route->second.targets) {
      if (auto resolved = resolveDirect(target)) {
        resolved->weight = weight;
        out.targets.push_back(std::move(*resolved));
      }
    }
    if (out.targets.empty()) return std::nullopt;
    return out;
  }
  if (auto alias = aliases_.find(model); alias != aliases_.end()) {
    if (auto target = resolveDirect(alias->second)) return single(std::move(*target), model);
    return std::nullopt;
  }
  if (auto target = resolveProviderForm(model)) {
    // provider/model: labelled by the model when the provider lists it, else "other".
    const std::string rest = model.substr(model.find('/') + 1);
    const bool known = target->deployment == rest;
    return single(std::move(*target), known ? rest : std::string(kOtherModel));
  }
  // A pattern is a bounded label: metrics count every model it matches under it.
  if (const Pattern* pattern = matchPattern(model)) {
    return single(pattern->targetFor(model), pattern->glob);
  }
  return std::nullopt;
}

}  // namespace llmgate::routing
