#include "llmgate/proxy/conversion_cache.hpp"

#include <functional>
#include <string_view>

namespace llmgate::proxy {

ConversionCache::ConversionCache(config::ConversionCacheConfig config) : config_(config), cache_(config.entries) {}

std::size_t ConversionCache::KeyHash::operator()(const Key& key) const {
  std::size_t hash = std::hash<std::string_view>{}(key.body);
  const auto mix = [&hash](std::size_t value) { hash ^= value + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2); };
  mix(std::hash<const void*>{}(key.provider));
  mix(static_cast<std::size_t>(key.dialect));
  mix(std::hash<std::string_view>{}(key.upstreamModel));
  mix(std::hash<std::string_view>{}(key.anthropicBeta));
  return hash;
}

core::Result<upstream::Request> ConversionCache::convert(const providers::Provider& provider, core::Dialect dialect,
                                                                  const std::string& rawBody, const core::ChatRequest& request,
                                                                  const std::string& upstreamModel,
                                                                  const providers::ClientHints& hints) {
  const bool cacheable = config_.entries > 0 && rawBody.size() <= config_.maxBodyBytes;
  if (!cacheable) return provider.encodeRequest(request, upstreamModel, hints);
  Key key{dialect, &provider, upstreamModel, hints.anthropicBeta, rawBody};
  if (auto hit = cache_.find(key)) return **hit;
  auto encoded = provider.encodeRequest(request, upstreamModel, hints);
  if (encoded.ok()) {
    cache_.insert(std::move(key), std::make_shared<const upstream::Request>(encoded.value()));
  }
  return encoded;
}

}  // namespace llmgate::proxy
