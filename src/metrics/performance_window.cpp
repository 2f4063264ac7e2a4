#include "llmgate/metrics/performance_window.hpp"

#include <algorithm>
#include <cmath>

namespace llmgate::metrics {
namespace {

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Nearest-rank percentiles of `values` (sorted here).
nlohmann::json percentiles(std::vector<float>& values) {
  if (values.empty()) return nullptr;
  std::sort(values.begin(), values.end());
  auto at = [&](double p) {
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
    return std::round(static_cast<double>(values[std::clamp<std::size_t>(rank, 1, values.size()) - 1]) * 1000) / 1000;
  };
  return {{"p50", at(0.50)}, {"p90", at(0.90)}, {"p95", at(0.95)}, {"p99", at(0.99)}, {"max", at(1.0)}};
}

struct Collected {
  std::vector<float> duration, firstByte, overhead;
  std::uint64_t requests = 0, errors = 0, clientErrors = 0;
  nlohmann::json summary(double seconds) {
    nlohmann::json out{{"requests", requests},
                       {"requests_per_second", std::round(static_cast<double>(requests) / seconds * 100) / 100},
                       {"errors", errors},
                       {"error_rate", requests == 0 ? 0.0 : std::round(static_cast<double>(errors) / requests * 10000) / 10000},
                       {"client_errors", clientErrors}};
    out["duration_ms"] = percentiles(duration);
    out["ttfb_ms"] = percentiles(firstByte);
    out["overhead_ms"] = percentiles(overhead);
    return out;
  }
};

}  // namespace

PerformanceWindow::PerformanceWindow() { targets_.emplace_back("", ""); }

PerformanceWindow::~PerformanceWindow() {
  for (auto& ring : rings_) delete ring.load();
}

PerformanceWindow::Ring& PerformanceWindow::ring() {
  auto& slot = rings_[shardIndex()];
  Ring* ring = slot.load(std::memory_order_acquire);
  if (ring == nullptr) {
    // First request of this shard: rings of idle shards are never allocated.
    auto* fresh = new Ring();
    if (slot.compare_exchange_strong(ring, fresh, std::memory_order_acq_rel)) {
      ring = fresh;
    } else {
      delete fresh;
    }
  }
  return *ring;
}

std::uint32_t PerformanceWindow::targetId(std::string_view provider, std::string_view model) {
  thread_local std::unordered_map<const void*, std::unordered_map<std::string, std::uint32_t>> seen;
  std::string key(provider);
  key += '\x1f';
  key += model;
  auto& mine = seen[this];
  if (auto it = mine.find(key); it != mine.end()) return it->second;
  std::lock_guard lock(targetsMutex_);
  if (targetIds_.find(key) == targetIds_.end() && targets_.size() > kMaxTargets) {
    // Bounded like the metric families: what no longer fits shares one target.
    overflowed_.fetch_add(1, std::memory_order_relaxed);
    auto [overflow, fresh] = targetIds_.try_emplace(std::string(kOverflowLabel), static_cast<std::uint32_t>(targets_.size()));
    if (fresh) targets_.emplace_back(kOverflowLabel, kOverflowLabel);
    return overflow->second;
  }
  auto [it, fresh] = targetIds_.try_emplace(key, static_cast<std::uint32_t>(targets_.size()));
  if (fresh) targets_.emplace_back(provider, model);
  mine.emplace(std::move(key), it->second);
  return it->second;
}

void PerformanceWindow::record(const RequestSample& sample) {
  const std::uint32_t target = sample.provider.empty() ? 0 : targetId(sample.provider, sample.model);
  Ring& r = ring();
  const std::uint64_t index = r.written.load(std::memory_order_relaxed);
  Slot& slot = r.slots[index % kSlots];
  slot.atMs.store(0, std::memory_order_relaxed);  // readers skip the slot while it is rewritten
  slot.durationMs.store(static_cast<float>(sample.durationMs), std::memory_order_relaxed);
  slot.firstByteMs.store(static_cast<float>(sample.firstByteMs), std::memory_order_relaxed);
  slot.overheadMs.store(static_cast<float>(sample.overheadMs), std::memory_order_relaxed);
  slot.target.store(target, std::memory_order_relaxed);
  slot.status.store(static_cast<std::uint16_t>(sample.status), std::memory_order_relaxed);
  slot.atMs.store(nowMs(), std::memory_order_release);
  r.written.store(index + 1, std::memory_order_release);
}

nlohmann::json PerformanceWindow::summary(std::chrono::seconds window) const {
  const std::int64_t since = nowMs() - std::chrono::duration_cast<std::chrono::milliseconds>(window).count();
  Collected all;
  std::unordered_map<std::uint32_t, Collected> byTarget;
  for (const auto& entry : rings_) {
    const Ring* ring = entry.load(std::memory_order_acquire);
    if (ring == nullptr) continue;
    for (const auto& slot : ring->slots) {
      const std::int64_t at = slot.atMs.load(std::memory_order_acquire);
      if (at == 0 || at < since) continue;
      const float duration = slot.durationMs.load(std::memory_order_relaxed);
      const float firstByte = slot.firstByteMs.load(std::memory_order_relaxed);
      const float overhead = slot.overheadMs.load(std::memory_order_relaxed);
      const std::uint16_t status = slot.status.load(std::memory_order_relaxed);
      const std::uint32_t target = slot.target.load(std::memory_order_relaxed);
      for (Collected* c : {&all, target != 0 ? &byTarget[target] : nullptr}) {
        if (c == nullptr) continue;
        ++c->requests;
        c->errors += status >= 500;
        c->clientErrors += status >= 400 && status < 500;
        c->duration.push_back(duration);
        if (firstByte >= 0) c->firstByte.push_back(firstByte);
        c->overhead.push_back(overhead);
      }
    }
  }
  const double seconds = static_cast<double>(window.count());
  nlohmann::json out = all.summary(seconds);
  out["window_seconds"] = window.count();
  nlohmann::json targets = nlohmann::json::array();
  std::lock_guard lock(targetsMutex_);
  for (auto& [id, collected] : byTarget) {
    nlohmann::json item = collected.summary(seconds);
    item["provider"] = targets_[id].first;
    item["model"] = targets_[id].second;
    targets.push_back(std::move(item));
  }
  std::sort(targets.begin(), targets.end(), [](const auto& a, const auto& b) { return a["requests"] > b["requests"]; });
  out["by_target"] = std::move(targets);
  return out;
}

}  // namespace llmgate::metrics
