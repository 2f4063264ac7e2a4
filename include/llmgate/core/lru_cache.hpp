// A bounded least-recently-used map, safe to share between threads (one short lock per call),
// with hit / miss / eviction counters.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

namespace llmgate::core {

struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;
  std::size_t size = 0;
  std::size_t capacity = 0;
};

template <class Key, class Value, class Hash = std::hash<Key>>
class LruCache {
 public:
  explicit LruCache(std::size_t capacity) : capacity_(capacity) {}

  /// The value of `key` (now the most recently used), or nullopt.
  std::optional<Value> find(const Key& key) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(std::cref(key));
    if (it == index_.end()) {
      ++stats_.misses;
      return std::nullopt;
    }
    ++stats_.hits;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }

  /// Adds or replaces `key`; beyond capacity the least recently used entry goes.
  void insert(Key key, Value value) {
    if (capacity_ == 0) return;
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(std::cref(key)); it != index_.end()) {
      it->second->second = std::move(value);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.emplace_front(std::move(key), std::move(value));
    index_.emplace(std::cref(order_.front().first), order_.begin());
    if (order_.size() > capacity_) {
      index_.erase(std::cref(order_.back().first));
      order_.pop_back();
      ++stats_.evictions;
    }
  }

  CacheStats stats() const {
    std::lock_guard lock(mutex_);
    CacheStats out = stats_;
    out.size = order_.size();
    out.capacity = capacity_;
    return out;
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<std::pair<Key, Value>> order_;  // most recently used first
  // Keys live in the list only (a cached request body is stored once); the index refers to them.
  std::unordered_map<std::reference_wrapper<const Key>, typename std::list<std::pair<Key, Value>>::iterator, Hash,
                     std::equal_to<Key>>
      index_;
  CacheStats stats_;
};

}  // namespace llmgate::core
