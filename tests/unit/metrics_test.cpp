#include "llmgate/metrics/metrics.hpp"

#include <thread>

#include <gtest/gtest.h>

#include "llmgate/metrics/performance_window.hpp"

namespace llmgate::metrics {
namespace {

TEST(Metrics, CountersSumEveryThreadsShard) {
  Family<Counter> family({"test_total", "counter", "A test counter."}, {"kind"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) family.with({"a"}).add();
    });
  }
  for (auto& thread : threads) thread.join();
  family.with({"b\"q\\\n"}).add(5);
  std::string out;
  writeFamily(out, family);
  EXPECT_NE(out.find("# HELP test_total A test counter.\n# TYPE test_total counter\n"), std::string::npos);
  EXPECT_NE(out.find("test_total{kind=\"a\"} 8000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_total{kind=\"b\\\"q\\\\\\n\"} 5\n"), std::string::npos) << out;  // escaped as the format wants
}

TEST(Metrics, HistogramsAreCumulativeWithSumAndCount) {
  Family<Histogram> family({"test_seconds", "histogram", "A test histogram."}, {});
  family.with({}).observe(0.0003);
  family.with({}).observe(0.002);
  family.with({}).observe(1000);  // beyond the last bound: only in +Inf
  std::string out;
  writeFamily(out, family);
  EXPECT_NE(out.find("test_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_seconds_bucket{le=\"0.0025\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_seconds_bucket{le=\"300\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_seconds_count 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_seconds_sum 1000.0023"), std::string::npos) << out;
}

TEST(PerformanceWindow, PercentilesPerTargetAndErrorRates) {
  PerformanceWindow window;
  for (int i = 1; i <= 100; ++i) {
    window.record({"p", "m", static_cast<double>(i), static_cast<double>(i) / 10, 0.5, i <= 2 ? 502 : i <= 5 ? 429 : 200});
  }
  window.record({"q", "n", 1000, -1, 1, 200});
  const auto summary = window.summary(std::chrono::seconds(60));
  EXPECT_EQ(summary["requests"], 101);
  EXPECT_EQ(summary["errors"], 2);
  EXPECT_EQ(summary["client_errors"], 3);
  ASSERT_EQ(summary["by_target"].size(), 2u);
  const auto& p = summary["by_target"][0];
  EXPECT_EQ(p["provider"], "p");
  EXPECT_EQ(p["duration_ms"]["p50"], 50);
  EXPECT_EQ(p["duration_ms"]["p90"], 90);
  EXPECT_EQ(p["duration_ms"]["p99"], 99);
  EXPECT_EQ(p["duration_ms"]["max"], 100);
  EXPECT_DOUBLE_EQ(p["ttfb_ms"]["p95"].get<double>(), 9.5);
  EXPECT_DOUBLE_EQ(p["error_rate"].get<double>(), 0.02);
  EXPECT_EQ(summary["by_target"][1]["ttfb_ms"], nullptr);  // no first byte recorded
  // The ring keeps the most recent requests only.
  PerformanceWindow busy;
  for (std::size_t i = 0; i < PerformanceWindow::kSlots + 10; ++i) busy.record({"p", "m", 1, 1, 1, 200});
  EXPECT_EQ(busy.summary(std::chrono::seconds(60))["requests"], PerformanceWindow::kSlots);
}

}  // namespace
}  // namespace llmgate::metrics
