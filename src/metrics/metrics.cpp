#include "llmgate/metrics/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace llmgate::metrics {
namespace {

std::atomic<std::size_t> nextShard{0};

// Label values are escaped as the text format wants: backslash, quote, newline.
void appendEscaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void appendNumber(std::string& out, double value) {
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char text[32];
  const int n = std::snprintf(text, sizeof text, "%.17g", value);
  out.append(text, static_cast<std::size_t>(n));
}

void appendLabels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                  std::string_view extraName = {}, std::string_view extraValue = {}) {
  if (names.empty() && extraName.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    appendEscaped(out, values[i]);
    out += '"';
  }
  if (!extraName.empty()) {
    if (!first) out += ',';
    out += extraName;
    out += "=\"";
    out += extraValue;
    out += '"';
  }
  out += '}';
}

}  // namespace

std::size_t shardIndex() {
  thread_local const std::size_t index = nextShard.fetch_add(1, std::memory_order_relaxed) % kShards;
  return index;
}

std::uint64_t Counter::value() const {
  std::uint64_t total = 0;
  for (const auto& shard : shards_) total += shard.value.load(std::memory_order_relaxed);
  return total;
}

std::int64_t Gauge::value() const {
  std::int64_t total = 0;
  for (const auto& shard : shards_) total += shard.value.load(std::memory_order_relaxed);
  return total;
}

void Histogram::observe(double seconds) {
  auto& shard = shards_[shardIndex()];
  const auto bucket = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds) - kLatencyBuckets.begin();
  if (static_cast<std::size_t>(bucket) < kLatencyBuckets.size()) {
    shard.buckets[static_cast<std::size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
  }
  shard.count.fetch_add(1, std::memory_order_relaxed);
  shard.sumNanos.fetch_add(static_cast<std::uint64_t>(std::max(0.0, seconds) * 1e9), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot out;
  std::uint64_t nanos = 0;
  for (const auto& shard : shards_) {
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) out.buckets[i] += shard.buckets[i].load(std::memory_order_relaxed);
    out.count += shard.count.load(std::memory_order_relaxed);
    nanos += shard.sumNanos.load(std::memory_order_relaxed);
  }
  out.sum = static_cast<double>(nanos) / 1e9;
  return out;
}

void writeHeader(std::string& out, const FamilySpec& family) {
  out += "# HELP ";
  out += family.name;
  out += ' ';
  out += family.help;
  out += "\n# TYPE ";
  out += family.name;
  out += ' ';
  out += family.type;
  out += '\n';
}

void writeScalar(std::string& out, const FamilySpec& family, double value) {
  writeHeader(out, family);
  writeSample(out, family.name, {}, value);
}

void writeSample(std::string& out, std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels,
                 double value) {
  out += name;
  std::vector<std::string> names, values;
  for (const auto& [n, v] : labels) {
    names.push_back(n);
    values.push_back(v);
  }
  appendLabels(out, names, values);
  out += ' ';
  appendNumber(out, value);
  out += '\n';
}

namespace {

template <class Metric>
void writeScalars(std::string& out, const Family<Metric>& family) {
  writeHeader(out, family.spec());
  family.forEach([&](const std::vector<std::string>& values, const Metric& metric) {
    writeScalarSeries(out, family.spec().name, family.labels(), values, static_cast<std::int64_t>(metric.value()));
  });
}

}  // namespace

void writeFamily(std::string& out, const Family<Counter>& family) { writeScalars(out, family); }

void writeFamily(std::string& out, const Family<Gauge>& family) { writeScalars(out, family); }

void writeHistogramSeries(std::string& out, std::string_view name, const std::vector<std::string>& labels,
                          const std::vector<std::string>& values, const Histogram& histogram) {
  const auto snapshot = histogram.snapshot();
  std::uint64_t cumulative = 0;
  char bound[32];
  for (std::size_t i = 0; i <= kLatencyBuckets.size(); ++i) {
    if (i < kLatencyBuckets.size()) {
      cumulative += snapshot.buckets[i];
      std::snprintf(bound, sizeof bound, "%g", kLatencyBuckets[i]);
    } else {
      cumulative = snapshot.count;
      std::snprintf(bound, sizeof bound, "+Inf");
    }
    out += name;
    out += "_bucket";
    appendLabels(out, labels, values, "le", bound);
    out += ' ';
    out += std::to_string(cumulative);
    out += '\n';
  }
  out += name;
  out += "_sum";
  appendLabels(out, labels, values);
  out += ' ';
  appendNumber(out, snapshot.sum);
  out += "\n";
  out += name;
  out += "_count";
  appendLabels(out, labels, values);
  out += ' ';
  out += std::to_string(snapshot.count);
  out += '\n';
}

void writeScalarSeries(std::string& out, std::string_view name, const std::vector<std::string>& labels,
                       const std::vector<std::string>& values, std::int64_t value) {
  out += name;
  appendLabels(out, labels, values);
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

void writeFamily(std::string& out, const Family<Histogram>& family) {
  writeHeader(out, family.spec());
  family.forEach([&](const std::vector<std::string>& values, const Histogram& histogram) {
    writeHistogramSeries(out, family.spec().name, family.labels(), values, histogram);
  });
}

}  // namespace llmgate::metrics
