// The access log: lines are buffered per thread and written in batches, whole, at 64 KiB, every
// 200 ms and on flush(); spdlog's own messages go through the same stream without cutting them.
#include "llmgate/log/log.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

namespace llmgate::log {
namespace {

// Standard error into a file for the test's lifetime.
class CapturedStderr {
 public:
  CapturedStderr() {
    std::snprintf(path_, sizeof path_, "/tmp/llmgate-log-test-XXXXXX");
    const int file = mkstemp(path_);
    saved_ = dup(STDERR_FILENO);
    dup2(file, STDERR_FILENO);
    close(file);
  }
  ~CapturedStderr() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    unlink(path_);
  }
  std::string text() const {
    std::ifstream in(path_);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }

 private:
  char path_[64];
  int saved_ = -1;
};

void writeAccess(const std::string& id) {
  RequestLog handler;
  handler.model = "mock";
  handler.provider = "mock";
  AccessRecord record{handler, "POST", "/v1/chat/completions", 200, id};
  access(record);
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t found = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++found;
  return found;
}

TEST(AccessLog, LinesFromManyThreadsArriveWholeAndOnceEach) {
  CapturedStderr captured;
  setup("info", "text");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 2000; ++i) {
        writeAccess("t" + std::to_string(t) + "-" + std::to_string(i));
        if (i % 500 == 0) message(spdlog::level::warn, "a message between the access lines");
      }
    });
  }
  for (auto& thread : threads) thread.join();
  flush();
  const std::string text = captured.text();
  EXPECT_EQ(count(text, " info access POST /v1/chat/completions 200 "), 8000u);
  EXPECT_EQ(count(text, "a message between the access lines"), 16u);
  const std::regex lineShape(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} (info access POST .* request_id=t\d-\d+|warning a message between the access lines)$)");
  std::istringstream lines(text);
  std::string line;
  std::size_t checked = 0;
  while (std::getline(lines, line)) {
    ASSERT_TRUE(std::regex_match(line, lineShape)) << "a cut or mixed line: " << line;
    ++checked;
  }
  EXPECT_EQ(checked, 8016u);
  for (int t = 0; t < 4; ++t) EXPECT_EQ(count(text, "request_id=t" + std::to_string(t) + "-1999\n"), 1u);
}

TEST(AccessLog, BufferedLinesAreWrittenWithinTheFlushIntervalWithoutBeingAsked) {
  CapturedStderr captured;
  setup("info", "json");
  writeAccess("timed");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (captured.text().find("\"request_id\":\"timed\"") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string text = captured.text();
  EXPECT_NE(text.find(R"({"level":"info","msg":"access","method":"POST","path":"/v1/chat/completions","status":200)"), std::string::npos)
      << text;
  setup("info", "text");
}

}  // namespace
}  // namespace llmgate::log
