// What a named gateway key may spend: requests and tokens per minute (token buckets), requests
// in flight, and a token budget per period. In memory per process, or shared by every replica
// through Redis (one atomic script per admission) when redis.url is set; a Redis that is down or
// slow costs a request nothing but the sharing: it is then decided here, per replica.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "llmgate/config/config.hpp"
#include "llmgate/redis/connections.hpp"

namespace llmgate::limits {

/// What was decided for one request, and what the x-ratelimit-* headers say about it.
struct Decision {
  bool admitted = true;
  std::string reason;                    ///< when refused: rpm | tpm | concurrency | budget
  std::chrono::milliseconds retryAfter{0};
  bool shared = false;                   ///< decided by Redis, for every replica
  // -1 where the key has no such limit
  std::int64_t limitRequests = -1, remainingRequests = -1;
  std::int64_t limitTokens = -1, remainingTokens = -1;
  std::chrono::milliseconds resetRequests{0}, resetTokens{0};  ///< until the bucket is full again
  std::int64_t budgetUsed = 0;  ///< what Redis says the budget's period has spent (shared decisions)
};

/// A key's counters, for /metrics (by name: never the key).
struct KeyUsage {
  std::string name;
  std::uint64_t requests = 0;  ///< admitted
  std::uint64_t inputTokens = 0, outputTokens = 0;
  std::map<std::string, std::uint64_t> rejected;  ///< by reason
  std::int64_t inFlight = 0;
  std::int64_t budgetUsed = 0;  ///< this period, as this replica last knew it
};

struct KeyState;
class KeyLimiter;

/// A request's hold on its key: the slot it takes among the key's requests in flight from the
/// moment it asks, and once admitted the tokens it was charged on estimate. Released when
/// destroyed; an admitted one settles its tokens and budget to what the answer reported (or
/// the estimate when it reported nothing).
class Admission {
 public:
  /// `redis`: the worker's connection when Redis is configured, which records what was spent.
  Admission(KeyLimiter& limiter, std::shared_ptr<KeyState> state, const config::GatewayKey& key,
            std::int64_t estimatedTokens, std::weak_ptr<redis::Client> redis);
  ~Admission();
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;
  /// What the answer used; the last report counts.
  void reportUsage(std::int64_t inputTokens, std::int64_t outputTokens);

 private:
  KeyLimiter& limiter_;
  std::shared_ptr<KeyState> state_;
  std::int64_t tpm_ = 0;
  std::int64_t budgetTokens_ = 0;
  std::string budgetPeriod_;
  std::int64_t estimate_ = 0;
  std::int64_t inputTokens_ = -1, outputTokens_ = -1;
  std::weak_ptr<redis::Client> redis_;
  bool admitted_ = false;
  bool decidedShared_ = false;  ///< Redis charged the buckets, not this process
  friend class KeyLimiter;
};

class KeyLimiter {
 public:
  /// Shares limits through `redis` when it is configured (its scripts are registered here,
  /// before it is attached); `redis` outlives the limiter.
  explicit KeyLimiter(redis::Connections& redis);

  using Done = std::function<void(const Decision&, std::shared_ptr<Admission>)>;
  /// Decides whether `key` may send a request estimated at `estimatedTokens`; calls `done` on
  /// `worker`'s loop (at once when decided in memory) with the decision and, when admitted, the
  /// hold to keep until the request ends. `key` must stay valid until `done` is called.
  void admit(std::size_t worker, const config::GatewayKey& key, std::int64_t estimatedTokens, Done done);

  std::vector<KeyUsage> usage() const;
  /// Admissions decided locally because Redis did not answer.
  std::uint64_t localDecisions() const { return localDecisions_.load(); }

 private:
  friend class Admission;
  std::shared_ptr<KeyState> stateOf(const std::string& name);
  /// Takes a slot among the key's requests in flight; false when they are all taken.
  bool takeSlot(KeyState& state, const config::GatewayKey& key);
  Decision decideLocally(KeyState& state, const config::GatewayKey& key, std::int64_t estimatedTokens);
  void decideShared(std::size_t worker, const config::GatewayKey& key, std::shared_ptr<Admission> hold, Done done,
                    bool loaded);
  /// The admission script's reply read; nullopt when it is not what the script returns.
  std::optional<Decision> sharedDecision(const redis::Reply* reply, const config::GatewayKey& key,
                                         std::chrono::seconds untilBudgetEnd);
  void finish(std::shared_ptr<Admission> hold, Decision decision, const Done& done);
  std::string limitsKey(const std::string& name) const;
  /// The Redis key of `name`'s budget in the period that holds now, and that period's end.
  std::string budgetKey(const std::string& name, const std::string& period, std::chrono::seconds& untilEnd) const;

  redis::Connections& redis_;
  std::string scriptSha_;
  std::string settleSha_;
  mutable std::mutex statesMutex_;
  std::map<std::string, std::shared_ptr<KeyState>> states_;  ///< by key name: survives reloads
  std::atomic<std::uint64_t> localDecisions_{0};
  std::atomic<std::chrono::steady_clock::rep> lastWarning_{0};
};

/// Seconds as OpenAI writes them in x-ratelimit-reset-*: "20ms", "1s", "6m0s", "1h2m3s".
std::string resetText(std::chrono::milliseconds wait);

}  // namespace llmgate::limits
