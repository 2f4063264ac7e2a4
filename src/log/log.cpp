#include "llmgate/log/log.hpp"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <condition_variable>
#include <ctime>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include <spdlog/sinks/base_sink.h>

#include "llmgate/core/json_text.hpp"

namespace llmgate::log {
namespace {

std::atomic<bool> gJson{false};

// Everything the process logs reaches standard error here: one write() per batch of whole lines
// under one lock, so that no line is cut by another on a pipe.
class ErrorStream {
 public:
  void write(std::string_view bytes) {
    std::lock_guard lock(mutex_);
    while (!bytes.empty()) {
      const ssize_t written = ::write(STDERR_FILENO, bytes.data(), bytes.size());
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) return;  // standard error is gone (or full): nowhere to say so
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
  }

 private:
  std::mutex mutex_;
};

ErrorStream& errorStream() {
  static ErrorStream stream;
  return stream;
}

// spdlog's messages go through the same stream as the access lines.
class ErrorStreamSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(message, formatted);
    errorStream().write(std::string_view(formatted.data(), formatted.size()));
  }
  void flush_() override {}
};

// Access lines are the one log line every request writes: each thread buffers its own and they
// are written in batches (at 64 KiB, or every 200 ms by a background thread, and at exit), as
// nginx's access_log buffer= and flush= do, so that a request costs its worker no system call
// for its line.
class AccessLines {
 public:
  static constexpr std::size_t kFlushBytes = 64 * 1024;
  static constexpr std::chrono::milliseconds kFlushEvery{200};

  AccessLines() : stream_(errorStream()), flusher_([this](std::stop_token stop) { flushPeriodically(stop); }) {}
  ~AccessLines() {
    flusher_.request_stop();
    flusher_.join();
    flushAll();
  }

  void append(std::string_view line) {
    Buffer& buffer = mine();
    {
      std::lock_guard lock(buffer.mutex);
      buffer.lines.append(line);
      if (buffer.lines.size() < kFlushBytes) return;
    }
    // Full: written now, after whatever a flush has already taken (flushing_ keeps the order).
    std::lock_guard flushing(flushing_);
    std::string full;
    {
      std::lock_guard lock(buffer.mutex);
      full.swap(buffer.lines);
    }
    stream_.write(full);
  }

  /// Returns once every line appended before the call is written.
  void flushAll() {
    std::lock_guard flushing(flushing_);
    std::vector<std::shared_ptr<Buffer>> buffers;
    {
      std::lock_guard lock(registryMutex_);
      // A buffer only the registry holds belongs to a thread that ended: flushed a last time.
      std::erase_if(buffers_, [&buffers](const std::shared_ptr<Buffer>& buffer) {
        const bool threadEnded = buffer.use_count() == 1;
        buffers.push_back(buffer);
        return threadEnded;
      });
    }
    for (const auto& buffer : buffers) {
      std::string lines;
      {
        std::lock_guard lock(buffer->mutex);
        lines.swap(buffer->lines);
      }
      if (!lines.empty()) stream_.write(lines);
    }
  }

 private:
  struct Buffer {
    std::mutex mutex;  // taken by its thread and, every 200 ms, by the flusher
    std::string lines;
  };

  Buffer& mine() {
    thread_local std::shared_ptr<Buffer> buffer;
    if (!buffer) {
      buffer = std::make_shared<Buffer>();
      std::lock_guard lock(registryMutex_);
      buffers_.push_back(buffer);
    }
    return *buffer;
  }

  void flushPeriodically(std::stop_token stop) {
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock lock(mutex);
    while (!wake.wait_for(lock, stop, kFlushEvery, [] { return false; })) {
      if (stop.stop_requested()) return;
      flushAll();
    }
  }

  ErrorStream& stream_;  // constructed first, so destroyed after this
  std::mutex flushing_;  // held from taking lines to having written them: no flush overtakes another
  std::mutex registryMutex_;
  std::vector<std::shared_ptr<Buffer>> buffers_;
  std::jthread flusher_;
};

AccessLines& accessLines() {
  static AccessLines lines;
  return lines;
}

// "2026-12-01T16:10:53.212 " in local time, as spdlog's pattern writes it; the part up to the
// second is formatted once a second per thread.
void appendTimestamp(std::string& out) {
  thread_local std::time_t cachedSecond = -1;
  thread_local char cached[32];
  const auto now = std::chrono::system_clock::now();
  const auto sinceEpoch = now.time_since_epoch();
  const std::time_t second = std::chrono::system_clock::to_time_t(now);
  if (second != cachedSecond) {
    std::tm local{};
    localtime_r(&second, &local);
    std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &local);
    cachedSecond = second;
  }
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(sinceEpoch).count() % 1000;
  out += cached;
  const char digits[] = {'.', static_cast<char>('0' + millis / 100), static_cast<char>('0' + millis / 10 % 10),
                         static_cast<char>('0' + millis % 10), ' '};
  out.append(digits, sizeof digits);
}

}  // namespace

void setup(const std::string& level, const std::string& format) {
  spdlog::drop("llmgate");
  auto logger = std::make_shared<spdlog::logger>("llmgate", std::make_shared<ErrorStreamSink>());
  spdlog::register_logger(logger);
  gJson = format == "json";
  // In JSON mode every call site passes a ready JSON object as the message.
  logger->set_pattern(gJson ? "%v" : "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void setLevel(const std::string& level) { spdlog::default_logger()->set_level(spdlog::level::from_str(level)); }

bool jsonFormat() { return gJson; }

void message(spdlog::level::level_enum level, std::string_view text) {
  if (!spdlog::should_log(level)) return;
  if (!gJson) {
    spdlog::log(level, "{}", text);
    return;
  }
  std::string line = "{\"level\":";
  const auto name = spdlog::level::to_string_view(level);
  core::appendJsonString(line, std::string_view(name.data(), name.size()));
  line += ",\"msg\":";
  core::appendJsonString(line, text);
  line += "}";
  spdlog::log(level, "{}", line);
}

namespace {

// One access line, as text (`name=value`) or as a JSON object: the same members in the same
// order, written without a formatter (this is on every request).
class AccessLine {
 public:
  AccessLine(bool json, std::string_view level) : json_(json), line_(threadLine()) {
    line_.clear();
    if (json_) {
      line_ += "{\"level\":";
      core::appendJsonString(line_, level);
      line_ += ",\"msg\":\"access\"";
    } else {
      appendTimestamp(line_);
      line_ += level;
      line_ += " access";
    }
  }
  /// Text format: the value alone ("POST"), JSON: a member.
  void bare(std::string_view name, std::string_view value) {
    if (json_) return text(name, value);
    line_ += ' ';
    line_ += value;
  }
  void bare(std::string_view name, std::int64_t value) {
    if (json_) return integer(name, value);
    line_ += ' ';
    appendInteger(value);
  }
  /// `quoted`: in text, quotes around a value that may hold spaces.
  void text(std::string_view name, std::string_view value, bool quoted = false) {
    key(name);
    if (json_) {
      core::appendJsonString(line_, value);
    } else if (quoted) {
      line_ += '"';
      line_ += value;
      line_ += '"';
    } else {
      line_ += value.empty() ? "-" : value;
    }
  }
  void integer(std::string_view name, std::int64_t value) {
    key(name);
    appendInteger(value);
  }
  void boolean(std::string_view name, bool value) {
    key(name);
    line_ += value ? "true" : "false";
  }
  void milliseconds(std::string_view name, double value) {
    key(name);
    core::appendFixed(line_, value, 2);
  }
  std::string& finish() {
    line_ += json_ ? "}\n" : "\n";
    return line_;
  }

 private:
  void key(std::string_view name) {
    // One append per key (the names are short): " name=" or ,"name":
    char text[40];
    const std::size_t size = std::min(name.size(), sizeof text - 4);
    char* at = text;
    if (json_) {
      *at++ = ',';
      *at++ = '"';
    } else {
      *at++ = ' ';
    }
    std::memcpy(at, name.data(), size);
    at += size;
    if (json_) *at++ = '"';
    *at++ = json_ ? ':' : '=';
    line_.append(text, static_cast<std::size_t>(at - text));
  }
  void appendInteger(std::int64_t value) {
    char digits[24];
    line_.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
  }

  // One per thread, kept between lines: a line costs no allocation.
  static std::string& threadLine() {
    thread_local std::string line = [] {
      std::string reserved;
      reserved.reserve(512);
      return reserved;
    }();
    return line;
  }

  bool json_;
  std::string& line_;
};

}  // namespace

void access(const AccessRecord& r) {
  const RequestLog& h = r.handler;
  const Stages& st = h.stages;
  const auto level = h.quiet ? spdlog::level::debug : spdlog::level::info;
  if (!spdlog::should_log(level)) return;
  const auto levelName = spdlog::level::to_string_view(level);
  AccessLine line(gJson, std::string_view(levelName.data(), levelName.size()));
  line.bare("method", r.method);
  line.bare("path", r.path);
  line.bare("status", r.status);
  line.text("model", h.model);
  line.text("provider", h.provider);
  line.boolean("stream", h.stream);
  line.integer("bytes_in", static_cast<std::int64_t>(r.bytesIn));
  line.integer("bytes_out", static_cast<std::int64_t>(r.bytesOut));
  line.milliseconds("duration_ms", r.durationMs);
  line.milliseconds("ttfb_ms", r.firstByteMs);
  line.integer("tokens_in", h.inputTokens);
  line.integer("tokens_out", h.outputTokens);
  if (st.attempts > 0) {
    line.milliseconds("routed_ms", st.routedMs);
    line.milliseconds("convert_ms", st.convertMs);
    line.milliseconds("upstream_connect_ms", st.upstreamConnectMs);
    line.milliseconds("upstream_ttfb_ms", st.upstreamFirstByteMs);
    line.milliseconds("upstream_ms", st.upstreamMs);
    line.milliseconds("overhead_ms", r.overheadMs());
    line.integer("attempts", st.attempts);
  }
  line.text("request_id", r.requestId);
  if (!h.errorCode.empty()) line.text("error", h.errorCode);
  if (!h.context.empty()) line.text("context", h.context, true);
  if (!h.keyName.empty()) line.text("key", h.keyName);
  if (!h.cache.empty()) line.text("cache", h.cache);
  accessLines().append(line.finish());
}

void flush() {
  accessLines().flushAll();
  spdlog::default_logger()->flush();
}

}  // namespace llmgate::log
