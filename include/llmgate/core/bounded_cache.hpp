// A map bounded in bytes, whose entries also expire: the least recently used entries go when a
// new one would pass the bound, and an entry past its time is gone for every reader. Safe to
// share between threads (one short lock per call). Values are shared, immutable snapshots, so
// a reader keeps what it found after the lock is released.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace llmgate::core {

struct BoundedCacheStats {
  std::size_t entries = 0;
  std::size_t bytes = 0;
  std::size_t maxBytes = 0;
  std::uint64_t evictions = 0;  ///< pushed out by the byte bound
  std::uint64_t expirations = 0;
};

template <class Value>
class BoundedCache {
 public:
  using Clock = std::chrono::steady_clock;

  explicit BoundedCache(std::size_t maxBytes) : maxBytes_(maxBytes) {}

  /// Adds or replaces `key`, weighing `bytes` (its key included), until `expiresAt`. An entry
  /// larger than the whole bound is not kept (what it would have replaced goes all the same).
  void insert(const std::string& key, std::shared_ptr<const Value> value, std::size_t bytes, Clock::time_point expiresAt) {
    bytes += key.size() + kEntryOverhead;
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) remove(it->second);
    if (bytes > maxBytes_) return;
    order_.push_front(Entry{key, std::move(value), bytes, expiresAt});
    index_.emplace(order_.front().key, order_.begin());
    bytes_ += bytes;
    const auto now = Clock::now();
    while (bytes_ > maxBytes_) {
      auto last = std::prev(order_.end());
      if (last->expiresAt <= now) {
        ++stats_.expirations;
      } else {
        ++stats_.evictions;
      }
      remove(last);
    }
  }

  /// The value of `key` when it is there and has not expired at `now` (it becomes the most
  /// recently used); null otherwise.
  std::shared_ptr<const Value> find(const std::string& key, Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    if (it->second->expiresAt <= now) {
      ++stats_.expirations;
      remove(it->second);
      return nullptr;
    }
    order_.splice(order_.begin(), order_, it->second);
    return it->second->value;
  }

  /// Removes `key`; whether it was there (and had not expired).
  bool erase(const std::string& key, Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    const bool live = it->second->expiresAt > now;
    remove(it->second);
    return live;
  }

  /// Removes every entry expired at `now` (expired entries otherwise go when they are looked up
  /// or reach the least recently used end); returns how many went.
  std::size_t purgeExpired(Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    std::size_t purged = 0;
    for (auto it = order_.begin(); it != order_.end();) {
      auto next = std::next(it);
      if (it->expiresAt <= now) {
        remove(it);
        ++purged;
      }
      it = next;
    }
    stats_.expirations += purged;
    return purged;
  }

  BoundedCacheStats stats() const {
    std::lock_guard lock(mutex_);
    BoundedCacheStats out = stats_;
    out.entries = order_.size();
    out.bytes = bytes_;
    out.maxBytes = maxBytes_;
    return out;
  }

 private:
  /// What an entry costs besides its key and value: list node, index node, control block.
  static constexpr std::size_t kEntryOverhead = 160;
  struct Entry {
    std::string key;
    std::shared_ptr<const Value> value;
    std::size_t bytes;
    Clock::time_point expiresAt;
  };
  using Position = typename std::list<Entry>::iterator;

  void remove(Position position) {
    bytes_ -= position->bytes;
    index_.erase(position->key);
    order_.erase(position);
  }

  const std::size_t maxBytes_;
  mutable std::mutex mutex_;
  std::list<Entry> order_;  // most recently used first
  std::unordered_map<std::string, Position> index_;
  std::size_t bytes_ = 0;
  BoundedCacheStats stats_;
};

}  // namespace llmgate::core
