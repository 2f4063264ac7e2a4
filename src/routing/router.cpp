#include "llmgate/routing/router.hpp"

namespace llmgate::routing {

Router::Router(const config::Config& config, const std::vector<std::unique_ptr<providers::Provider>>& providers) {
  for (const auto& provider : providers) {
    byName_.emplace(provider->name(), provider.get());
    if (!provider->config().enabled) continue;
    for (const auto& model : provider->config().models) {
      // The first provider that lists a model owns its plain name; the others stay reachable
      // as provider/model.
      if (exact_.emplace(model, Target{provider.get(), provider->upstreamModel(model)}).second) {
        listing_.push_back({model, provider->name()});
      }
    }
  }
  aliases_ = config.aliases;
  for (const auto& [alias, target] : aliases_) {
    if (!resolveDirect(target)) {
      // An alias to a disabled provider is fine (it just does not route); a typo is not.
      const auto slash = target.find('/');
      const bool namesProvider = slash != std::string::npos && byName_.count(target.substr(0, slash)) > 0;
      bool namesModel = false;
      for (const auto& provider : providers) {
        for (const auto& model : provider->config().models) namesModel = namesModel || model == target;
      }
      if (!namesProvider && !namesModel) {
        throw config::ConfigError("aliases." + alias + ": target \"" + target + "\" is neither a model nor provider/model");
      }
      continue;
    }
    listing_.push_back({alias, resolveDirect(target)->provider->name()});
  }
}

std::optional<Target> Router::resolveDirect(const std::string& model) const {
  if (auto it = exact_.find(model); it != exact_.end()) return it->second;
  const auto slash = model.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto provider = byName_.find(model.substr(0, slash));
  if (provider == byName_.end() || !provider->second->config().enabled) return std::nullopt;
  const std::string rest = model.substr(slash + 1);
  if (rest.empty()) return std::nullopt;
  return Target{provider->second, provider->second->upstreamModel(rest)};
}

std::optional<Route> Router::resolve(const std::string& model) const {
  if (auto direct = exact_.find(model); direct != exact_.end()) return Route{model, {direct->second}};
  if (auto alias = aliases_.find(model); alias != aliases_.end()) {
    if (auto target = resolveDirect(alias->second)) return Route{model, {*target}};
    return std::nullopt;
  }
  if (auto target = resolveDirect(model)) return Route{model, {*target}};
  return std::nullopt;
}

}  // namespace llmgate::routing
