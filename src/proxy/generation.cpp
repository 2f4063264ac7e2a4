#include "llmgate/proxy/generation.hpp"

#include "llmgate/log/log.hpp"

namespace llmgate::proxy {
namespace {

std::vector<std::unique_ptr<providers::Provider>> buildProviders(const config::Config& config,
                                                                 const std::vector<providers::ProviderFactory>& factories) {
  std::vector<std::unique_ptr<providers::Provider>> out;
  for (std::size_t i = 0; i < config.providers.size(); ++i) {
    const auto& block = config.providers[i];
    out.push_back(providers::createProvider(block, "providers[" + std::to_string(i) + "]", factories));
    if (!block.enabled) {
      log::message(spdlog::level::warn, "provider " + block.name + " disabled: " +
                                            (block.disabledReason.empty() ? "enabled is false" : block.disabledReason));
    }
  }
  return out;
}

std::vector<std::shared_ptr<auth::OAuthAccount>> oauthAccounts(const std::vector<std::unique_ptr<providers::Provider>>& providers) {
  std::vector<std::shared_ptr<auth::OAuthAccount>> accounts;
  for (const auto& provider : providers) {
    if (!provider->config().enabled) continue;
    for (auto& account : provider->accounts()) accounts.push_back(std::move(account));
  }
  return accounts;
}

}  // namespace

Generation::Generation(std::shared_ptr<const config::Config> loaded, const std::vector<providers::ProviderFactory>& factories,
                       std::uint64_t generation)
    : number(generation),
      config(std::move(loaded)),
      providers(buildProviders(*config, factories)),
      router(*config, providers),
      auth(config->apiKeys, config->gatewayKeys),
      pool(providers),
      refresher(oauthAccounts(providers), config->upstream, config->redis),
      conversions(config->conversionCache),
      catalog(std::make_shared<ModelCatalog>(providers)) {
  // Not an error: the name may be served by a provider enabled later (an unset key today).
  const auto checkLabel = [&](const std::string& section, const std::string& label) {
    if (label != "*" && !router.resolve(label)) {
      log::message(spdlog::level::warn, section + "." + label + " names no model, route or alias served now: it does nothing");
    }
  };
  for (const auto& entry : config->contextShaping) checkLabel("context_shaping", entry.first);
  for (const auto& entry : config->responseCache.routes) checkLabel("response_cache.routes", entry.first);
}

}  // namespace llmgate::proxy
