#include "llmgate/balancing/upstream_pool.hpp"

#include <algorithm>
#include <stdexcept>

namespace llmgate::balancing {
namespace {

bool isExcluded(const Excluded& excluded, const EndpointHealth* health) {
  return std::find(excluded.begin(), excluded.end(), health) != excluded.end();
}

}  // namespace

UpstreamPool::UpstreamPool(const std::vector<std::unique_ptr<providers::Provider>>& providers) {
  for (const auto& provider : providers) {
    ProviderState state;
    state.provider = provider.get();
    const auto& block = provider->config();
    state.budget = std::make_unique<resilience::RetryBudget>(block.retry);
    if (block.enabled && !provider->isLocal()) {
      for (const auto& model : block.models) {
        if (std::find(state.models.begin(), state.models.end(), model) == state.models.end()) state.models.push_back(model);
      }
      state.models.emplace_back(routing::kUnlistedDeployment);
      state.credentials = provider->credentialCount();
      for (std::size_t credential = 0; credential < state.credentials; ++credential) {
        for (const auto& model : state.models) {
          state.health.push_back(
              std::make_unique<EndpointHealth>(block.breaker, endpointName(*provider, credential) + " " + model));
        }
      }
    }
    states_.push_back(std::move(state));
  }
}

const UpstreamPool::ProviderState* UpstreamPool::stateOf(const providers::Provider& provider) const {
  for (const auto& state : states_) {
    if (state.provider == &provider) return &state;
  }
  return nullptr;
}

std::string UpstreamPool::endpointName(const providers::Provider& provider, std::size_t credential) {
  return provider.name() + "#" + std::to_string(credential);
}

std::size_t UpstreamPool::ProviderState::modelOf(const routing::Target& target) const {
  const auto listed = std::find(models.begin(), models.end(), target.deployment);
  return listed != models.end() ? static_cast<std::size_t>(listed - models.begin()) : models.size() - 1;
}

EndpointHealth& UpstreamPool::ProviderState::at(std::size_t credential, std::size_t model) const {
  return *health[credential * models.size() + model];
}

std::optional<UpstreamPool::Pick> UpstreamPool::pick(const routing::Target& target, const Excluded& excluded,
                                                     Clock::time_point now) {
  const ProviderState* state = stateOf(*target.provider);
  if (state == nullptr || state->credentials == 0) return std::nullopt;
  const std::size_t model = state->modelOf(target);
  const std::size_t first = state->keyTurn->fetch_add(1, std::memory_order_relaxed) % state->credentials;
  for (std::size_t offset = 0; offset < state->credentials; ++offset) {
    const std::size_t credential = (first + offset) % state->credentials;
    EndpointHealth& health = state->at(credential, model);
    if (!isExcluded(excluded, &health) && health.tryAcquire(now)) return Pick{&health, credential};
  }
  return std::nullopt;
}

std::optional<UpstreamPool::Soonest> UpstreamPool::soonest(const routing::Target& target, const Excluded& excluded,
                                                           Clock::time_point now) const {
  const ProviderState* state = stateOf(*target.provider);
  if (state == nullptr || state->credentials == 0) return std::nullopt;
  const std::size_t model = state->modelOf(target);
  std::optional<Soonest> best;
  for (std::size_t credential = 0; credential < state->credentials; ++credential) {
    EndpointHealth& health = state->at(credential, model);
    if (isExcluded(excluded, &health)) continue;
    const auto at = health.availableAt(now);
    if (!best || at < best->at) best = Soonest{Pick{&health, credential}, at};
  }
  return best;
}

std::optional<UpstreamPool::Pick> UpstreamPool::pickAnyway(const routing::Target& target, const Excluded& excluded,
                                                           Clock::time_point now) {
  const auto best = soonest(target, excluded, now);
  if (!best) return std::nullopt;
  best->deployment.health->acquireAnyway();
  return best->deployment;
}

std::optional<Clock::time_point> UpstreamPool::availableAt(const routing::Target& target, const Excluded& excluded,
                                                           Clock::time_point now) const {
  const auto best = soonest(target, excluded, now);
  return best ? std::optional(best->at) : std::nullopt;
}

resilience::RetryBudget& UpstreamPool::budget(const providers::Provider& provider) {
  const ProviderState* state = stateOf(provider);
  if (state == nullptr) throw std::logic_error("the upstream pool has no provider " + provider.name());
  return *state->budget;
}

std::vector<routing::Target> UpstreamPool::order(const routing::Route& route) const {
  std::vector<routing::Target> targets = route.targets;
  if (targets.size() < 2) return targets;
  using routing::Strategy;
  auto rotateTo = [&](std::size_t first) { std::rotate(targets.begin(), targets.begin() + first, targets.end()); };
  switch (route.strategy) {
    case Strategy::Ordered:
      break;
    case Strategy::RoundRobin:
      rotateTo(route.turn % targets.size());
      break;
    case Strategy::Weighted: {
      // Over every sum-of-weights requests each target goes first exactly `weight` times.
      std::uint64_t total = 0;
      for (const auto& target : targets) total += static_cast<std::uint64_t>(target.weight);
      std::uint64_t slot = route.turn % total;
      std::size_t first = 0;
      while (slot >= static_cast<std::uint64_t>(targets[first].weight)) slot -= targets[first++].weight;
      rotateTo(first);
      break;
    }
    case Strategy::LeastLatency:
    case Strategy::LeastBusy: {
      // Scored once: other workers change the figures while this sorts.
      std::vector<std::pair<double, routing::Target>> scored;
      for (auto& target : targets) {
        double best = 0.0;
        const ProviderState* state = target.provider->isLocal() ? nullptr : stateOf(*target.provider);
        if (state != nullptr && state->credentials > 0) {
          const std::size_t model = state->modelOf(target);
          best = -1;
          for (std::size_t credential = 0; credential < state->credentials; ++credential) {
            const EndpointHealth& health = state->at(credential, model);
            // Unmeasured deployments score 0 so that each gets tried.
            const double value = route.strategy == Strategy::LeastBusy ? health.inFlight()
                                                                      : std::max(0.0, health.latencyEwmaMs());
            best = best < 0 ? value : std::min(best, value);
          }
        }
        scored.emplace_back(best, std::move(target));
      }
      std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      for (std::size_t i = 0; i < targets.size(); ++i) targets[i] = std::move(scored[i].second);
      break;
    }
  }
  return targets;
}

void UpstreamPool::forEachDeployment(const providers::Provider& provider,
                                     const std::function<void(const DeploymentView&)>& visit) const {
  const ProviderState* state = stateOf(provider);
  if (state == nullptr) return;
  for (std::size_t credential = 0; credential < state->credentials; ++credential) {
    for (std::size_t model = 0; model < state->models.size(); ++model) visit({credential, state->models[model], state->at(credential, model)});
  }
}

const EndpointHealth* UpstreamPool::health(const providers::Provider& provider, std::size_t credential,
                                           std::string_view model) const {
  const ProviderState* state = stateOf(provider);
  if (state == nullptr || credential >= state->credentials) return nullptr;
  const auto listed = std::find(state->models.begin(), state->models.end(), model);
  if (listed == state->models.end()) return nullptr;
  return &state->at(credential, static_cast<std::size_t>(listed - state->models.begin()));
}

}  // namespace llmgate::balancing
