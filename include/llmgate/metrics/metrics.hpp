// Prometheus-style metrics. Each metric is a family declared once by the component that owns it
// (name, help, label names); recording on the hot path touches only the calling thread's shard:
// a thread-local lookup of the series and a relaxed atomic add, no lock. A scrape sums the
// shards under the registry lock, which recording never takes once a series exists.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace llmgate::metrics {

/// Threads record into their own shard; more threads than shards share (still exact, atomics).
inline constexpr std::size_t kShards = 32;
std::size_t shardIndex();

/// Upper bounds (seconds) of the latency histograms: 0.5 ms ... 5 min.
inline constexpr std::array<double, 16> kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                           0.25,   0.5,   1,      2.5,   5,    10,    30,    300};

class Counter {
 public:
  void add(std::uint64_t n = 1) { shards_[shardIndex()].value.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const;

 private:
  struct alignas(64) Shard {
    std::atomic<std::uint64_t> value{0};
  };
  std::array<Shard, kShards> shards_;
};

/// An up/down count (active streams): per-shard deltas summed at scrape.
class Gauge {
 public:
  void add(std::int64_t n) { shards_[shardIndex()].value.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t value() const;

 private:
  struct alignas(64) Shard {
    std::atomic<std::int64_t> value{0};
  };
  std::array<Shard, kShards> shards_;
};

class Histogram {
 public:
  void observe(double seconds);
  struct Snapshot {
    std::array<std::uint64_t, kLatencyBuckets.size()> buckets{};  // not cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  Snapshot snapshot() const;

 private:
  struct alignas(64) Shard {
    std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size()> buckets{};
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sumNanos{0};
  };
  std::array<Shard, kShards> shards_;
};

/// Series a family may hold; the label values are meant to come from bounded sets (the config's
/// names), and this is the backstop if they ever do not.
inline constexpr std::size_t kMaxSeriesPerFamily = 10000;
/// The label value of every label of the series that takes what no longer fits.
inline constexpr std::string_view kOverflowLabel = "overflow";

/// What a metric family is to a scraper: its name, type and help text.
struct FamilySpec {
  std::string_view name;
  std::string_view type;  ///< "counter", "gauge" or "histogram"
  std::string_view help;
};

/// A metric name with its label names; `with(values...)` gives the series for those values.
/// `Metric` is a Counter, Gauge, Histogram, or a bundle of them that shares one label set (one
/// lookup records them all). Past kMaxSeriesPerFamily series, new label values share one
/// overflow series (every label kOverflowLabel), counted by overflowed().
template <class Metric>
class Family {
 public:
  /// `spec` names static text (the family list): it is kept as it is.
  Family(const FamilySpec& spec, std::vector<std::string> labels) : spec_(spec), labels_(std::move(labels)) {}
  Family(const Family&) = delete;

  Metric& with(std::initializer_list<std::string_view> values) {
    // Each thread remembers the series it has used: after the first time no lock is taken (nor
    // anything allocated: the key is written into this thread's buffer).
    thread_local std::unordered_map<const void*, std::unordered_map<std::string, Metric*>> seen;
    thread_local std::string key;
    key.clear();
    for (auto value : values) {
      key += value;
      key += '\x1f';
    }
    auto& mine = seen[this];
    if (auto it = mine.find(key); it != mine.end()) return *it->second;
    std::lock_guard lock(mutex_);
    auto found = series_.find(key);
    if (found == series_.end() && series_.size() >= kMaxSeriesPerFamily) {
      // Not remembered per thread either, so that no table grows with the values refused.
      overflowed_.fetch_add(1, std::memory_order_relaxed);
      return overflowSeries();
    }
    auto& entry = found != series_.end() ? found->second : series_[key];
    if (!entry.second) {
      entry.first.assign(values.begin(), values.end());
      entry.second = std::make_unique<Metric>();
    }
    mine.emplace(key, entry.second.get());
    return *entry.second;
  }

  /// Recordings that went to the overflow series.
  std::uint64_t overflowed() const { return overflowed_.load(std::memory_order_relaxed); }

  const FamilySpec& spec() const { return spec_; }
  const std::vector<std::string>& labels() const { return labels_; }
  /// Every series with its label values, under the family lock.
  void forEach(const std::function<void(const std::vector<std::string>&, const Metric&)>& visit) const {
    std::lock_guard lock(mutex_);
    for (const auto& [key, entry] : series_) visit(entry.first, *entry.second);
  }

 private:
  FamilySpec spec_;
  std::vector<std::string> labels_;
  // Under mutex_.
  Metric& overflowSeries() {
    auto& entry = series_[std::string(kOverflowLabel)];
    if (!entry.second) {
      entry.first.assign(labels_.size(), std::string(kOverflowLabel));
      entry.second = std::make_unique<Metric>();
    }
    return *entry.second;
  }

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::pair<std::vector<std::string>, std::unique_ptr<Metric>>> series_;
  std::atomic<std::uint64_t> overflowed_{0};
};

/// Appends one family in the Prometheus text format (0.0.4).
void writeFamily(std::string& out, const Family<Counter>& family);
void writeFamily(std::string& out, const Family<Gauge>& family);
void writeFamily(std::string& out, const Family<Histogram>& family);
/// One series' lines, for families whose series are bundles (written one metric at a time).
void writeHistogramSeries(std::string& out, std::string_view name, const std::vector<std::string>& labels,
                          const std::vector<std::string>& values, const Histogram& histogram);
void writeScalarSeries(std::string& out, std::string_view name, const std::vector<std::string>& labels,
                       const std::vector<std::string>& values, std::int64_t value);
/// A gauge whose value is read at scrape time (breaker states, cache sizes, ...).
void writeSample(std::string& out, std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels,
                 double value);
void writeHeader(std::string& out, const FamilySpec& family);
/// A family of one unlabelled sample read at scrape time: its header and its value.
void writeScalar(std::string& out, const FamilySpec& family, double value);

}  // namespace llmgate::metrics
