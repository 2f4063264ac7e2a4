// Every translated upstream request goes through here: the provider's encoding of a client
// body is cached, keyed by everything it depends on (client dialect, provider, upstream model,
// forwarded hints, and the body itself, compared in full so a hash collision cannot send
// another client's request). Correct because encodings are pure: credentials and per-request
// ids are added per attempt, after the cache.
#pragma once

#include <memory>
#include <string>

#include "llmgate/config/config.hpp"
#include "llmgate/core/lru_cache.hpp"
#include "llmgate/providers/provider.hpp"

namespace llmgate::proxy {

class ConversionCache {
 public:
  explicit ConversionCache(config::ConversionCacheConfig config);

  /// The upstream request for `request` (decoded from `rawBody` in `dialect`), from the cache
  /// or converted now.
  core::Result<upstream::Request> convert(const providers::Provider& provider, core::Dialect dialect,
                                                   const std::string& rawBody, const core::ChatRequest& request,
                                                   const std::string& upstreamModel, const providers::ClientHints& hints);

  core::CacheStats stats() const { return cache_.stats(); }

 private:
  struct Key {
    core::Dialect dialect;
    const providers::Provider* provider;
    std::string upstreamModel;
    std::string anthropicBeta;
    std::string body;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const;
  };
  config::ConversionCacheConfig config_;
  core::LruCache<Key, std::shared_ptr<const upstream::Request>, KeyHash> cache_;
};

}  // namespace llmgate::proxy
