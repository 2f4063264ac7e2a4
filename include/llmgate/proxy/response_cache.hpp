// Exact-match cache of complete answers, kept as the IR so that one answer serves a client
// that streams and one that does not. Keyed by a digest of what decides the answer: the
// client's dialect, where the request goes (every provider and upstream model it may reach),
// the hints sent along (anthropic-beta), and the request body in canonical form (members
// sorted, no whitespace) without what does not change the answer (stream, user, metadata, ...).
// With Redis configured, answers are also kept there for every replica: memory is looked at
// first, then Redis (within redis.timeout_ms; no answer in time is a miss, never an error).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmgate/core/bounded_cache.hpp"
#include "llmgate/core/chat.hpp"
#include "llmgate/redis/connections.hpp"

namespace llmgate::proxy {

struct ResponseCacheStats {
  core::BoundedCacheStats store;
  std::uint64_t hits = 0;        ///< memory and Redis
  std::uint64_t sharedHits = 0;  ///< of which Redis (kept by another replica, or before a restart)
  std::uint64_t misses = 0;
  std::uint64_t sharedUnreadable = 0;  ///< Redis entries that were not an answer this version reads
};

class ResponseCache {
 public:
  /// `redis` (which outlives the cache) keeps answers for every replica when configured.
  ResponseCache(std::size_t maxBytes, redis::Connections& redis) : answers_(maxBytes), redis_(redis) {}

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

  using Found = std::function<void(std::shared_ptr<const core::ChatResponse> answer, bool shared)>;
  /// Looks `key` up in memory, then in Redis through `worker`'s connection; calls `found` on
  /// that worker's loop (at once when no Redis is asked) with the answer, or null for a miss,
  /// and whether it came from Redis. Counted as a hit or a miss.
  void lookUp(std::size_t worker, const std::string& key, Found found);
  /// Keeps `answer` in memory and, through `worker`'s connection, in Redis.
  void store(std::size_t worker, const std::string& key, const core::ChatResponse& answer, std::chrono::seconds ttl);
  /// Answers larger than this (as JSON) are kept in memory only.
  static constexpr std::size_t kMaxSharedBytes = 4 * 1024 * 1024;
  /// An answer as Redis keeps it (with when it expires, Unix ms), and back; nullopt for text
  /// that is not one (another version's, or not llmgate's at all).
  static std::string sharedText(const core::ChatResponse& answer, std::int64_t expiresAtMs);
  static std::optional<core::ChatResponse> fromSharedText(std::string_view text, std::int64_t& expiresAtMs);
  std::size_t purgeExpired() { return answers_.purgeExpired(); }
  ResponseCacheStats stats() const;

 private:
  void keep(const std::string& key, std::shared_ptr<const core::ChatResponse> answer, std::chrono::milliseconds ttl);
  std::string sharedKey(const std::string& key) const;

  core::BoundedCache<core::ChatResponse> answers_;
  redis::Connections& redis_;
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> sharedHits_{0};
  std::atomic<std::uint64_t> sharedUnreadable_{0};
  std::atomic<std::uint64_t> misses_{0};
};

}  // namespace llmgate::proxy
