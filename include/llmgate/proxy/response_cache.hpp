// Exact-match cache of complete answers, kept as the IR so that one answer serves a client
// that streams and one that does not. Keyed by a digest of what decides the answer: the
// client's dialect, where the request goes (every provider and upstream model it may reach),
// the hints sent along (anthropic-beta), and the request body in canonical form (members
// sorted, no whitespace) without what does not change the answer (stream, user, metadata, ...).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmgate/core/bounded_cache.hpp"
#include "llmgate/core/chat.hpp"

namespace llmgate::proxy {

struct ResponseCacheStats {
  core::BoundedCacheStats store;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
};

class ResponseCache {
 public:
  explicit ResponseCache(std::size_t maxBytes) : answers_(maxBytes) {}

  /// The key of a request of `dialect` going to `destinations` (its providers and upstream
  /// models, in any order), sent with `hints`, whose body is `body` (an object).
  static std::string keyOf(core::Dialect dialect, std::vector<std::string> destinations, const std::string& hints,
                           const nlohmann::json& body);
  /// Whether `body` asks for a deterministic answer: temperature given and 0.
  static bool deterministic(const nlohmann::json& body);
  /// The member of `body` that asks for what the gateway's neutral form does not carry
  /// (log probabilities, several choices, audio, predicted output), or nullptr: such a request
  /// is not cached (its answer would lose it).
  static const char* uncachable(const nlohmann::json& body);

  /// The answer kept under `key`, counted as a hit or a miss.
  std::shared_ptr<const core::ChatResponse> find(const std::string& key);
  void store(const std::string& key, const core::ChatResponse& answer, std::chrono::seconds ttl);
  std::size_t purgeExpired() { return answers_.purgeExpired(); }
  ResponseCacheStats stats() const;

 private:
  core::BoundedCache<core::ChatResponse> answers_;
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
};

}  // namespace llmgate::proxy
