#include "llmgate/log/log.hpp"

#include <atomic>

#include <spdlog/sinks/stdout_sinks.h>

#include "llmgate/core/json_text.hpp"

namespace llmgate::log {
namespace {
std::atomic<bool> gJson{false};
}

void setup(const std::string& level, const std::string& format) {
  spdlog::drop("llmgate");
  auto logger = spdlog::stderr_logger_mt("llmgate");
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

void access(const AccessRecord& r) {
  const RequestLog& h = r.handler;
  const Stages& st = h.stages;
  const auto level = h.quiet ? spdlog::level::debug : spdlog::level::info;
  if (!spdlog::should_log(level)) return;
  if (!gJson) {
    std::string stages;
    if (st.attempts > 0) {
      stages = fmt::format(" routed_ms={:.2f} convert_ms={:.2f} upstream_connect_ms={:.2f} upstream_ttfb_ms={:.2f} "
                           "upstream_ms={:.2f} overhead_ms={:.2f} attempts={}",
                           st.routedMs, st.convertMs, st.upstreamConnectMs, st.upstreamFirstByteMs,
                           st.upstreamMs, r.overheadMs(), st.attempts);
    }
    spdlog::log(level, "access {} {} {} model={} provider={} stream={} bytes_in={} bytes_out={} duration_ms={:.2f} "
                 "ttfb_ms={:.2f} tokens_in={} tokens_out={}{} request_id={}{}{}{}{}{}",
                 r.method, r.path, r.status, h.model.empty() ? "-" : h.model, h.provider.empty() ? "-" : h.provider,
                 h.stream, r.bytesIn, r.bytesOut, r.durationMs, r.firstByteMs, h.inputTokens, h.outputTokens, stages,
                 r.requestId, h.errorCode.empty() ? "" : " error=", h.errorCode, h.context.empty() ? "" : " context=\"",
                 h.context, h.context.empty() ? "" : "\"");
    return;
  }
  std::string line = "{\"level\":";
  const auto levelName = spdlog::level::to_string_view(level);
  core::appendJsonString(line, std::string_view(levelName.data(), levelName.size()));
  line += ",\"msg\":\"access\",\"method\":";
  core::appendJsonString(line, r.method);
  line += ",\"path\":";
  core::appendJsonString(line, r.path);
  line += fmt::format(",\"status\":{},\"model\":", r.status);
  core::appendJsonString(line, h.model);
  line += ",\"provider\":";
  core::appendJsonString(line, h.provider);
  line += fmt::format(",\"stream\":{},\"bytes_in\":{},\"bytes_out\":{},\"duration_ms\":{:.2f},\"ttfb_ms\":{:.2f},"
                      "\"tokens_in\":{},\"tokens_out\":{}",
                      h.stream, r.bytesIn, r.bytesOut, r.durationMs, r.firstByteMs, h.inputTokens, h.outputTokens);
  if (st.attempts > 0) {
    line += fmt::format(",\"routed_ms\":{:.2f},\"convert_ms\":{:.2f},\"upstream_connect_ms\":{:.2f},"
                        "\"upstream_ttfb_ms\":{:.2f},\"upstream_ms\":{:.2f},\"overhead_ms\":{:.2f},\"attempts\":{}",
                        st.routedMs, st.convertMs, st.upstreamConnectMs, st.upstreamFirstByteMs,
                        st.upstreamMs, r.overheadMs(), st.attempts);
  }
  line += ",\"request_id\":";
  core::appendJsonString(line, r.requestId);
  if (!h.errorCode.empty()) {
    line += ",\"error\":";
    core::appendJsonString(line, h.errorCode);
  }
  if (!h.context.empty()) {
    line += ",\"context\":";
    core::appendJsonString(line, h.context);
  }
  line += "}";
  spdlog::log(level, "{}", line);
}

}  // namespace llmgate::log
