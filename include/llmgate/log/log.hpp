// Logging set-up (spdlog) and the access log line. Text or JSON lines on stderr.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace llmgate::log {

/// Configures the default logger. `format` is "text" or "json".
void setup(const std::string& level, const std::string& format);
/// Changes the level of the logger set up (a config reload); any thread.
void setLevel(const std::string& level);

bool jsonFormat();

/// Where a request's time went, in ms since it was received whole; -1 for a stage that did not
/// happen. Filled in by the gateway as the request goes, logged and counted when it ends.
struct Stages {
  double routedMs = -1;             ///< body parsed, model routed
  double convertMs = -1;            ///< spent converting to upstream formats (all attempts)
  double upstreamConnectMs = -1;    ///< opening the answering upstream connection (0: pooled)
  double upstreamFirstByteMs = -1;  ///< the answering upstream's response head arrived
  double upstreamMs = 0;            ///< spent waiting on upstreams, all attempts
  int attempts = 0;
};

/// What the request handler records about a request as it goes (model, provider, tokens,
/// stages); the response sink holds it and the access record refers to it.
struct RequestLog {
  std::string model;       ///< as the client wrote it (clipped): for the log line only
  std::string modelLabel;  ///< a bounded name for metrics (routing::Route::label): a configured name or "other"
  std::string provider;
  std::string errorCode;
  bool stream = false;
  bool quiet = false;  ///< routine traffic (health probes): logged at debug level
  std::int64_t inputTokens = -1;   ///< -1 when unknown
  std::int64_t outputTokens = -1;
  std::string dialect;  ///< the client's API on chat endpoints ("openai" / "anthropic")
  /// What the gateway did to the conversation: turns taken from a stored response or session,
  /// and context shaping (x-llmgate-context); empty when nothing.
  std::string context;
  std::string keyName;  ///< the named gateway key that sent it (never the key itself)
  std::string cache;    ///< x-llmgate-cache-status, when the response cache is in use
  Stages stages;
};

/// One finished request: what the server saw, and what the handler recorded.
struct AccessRecord {
  const RequestLog& handler;
  std::string_view method;
  std::string_view path;
  int status = 0;
  std::string_view requestId;
  std::size_t bytesIn = 0;
  std::size_t bytesOut = 0;
  double durationMs = 0;
  double firstByteMs = -1;  ///< -1 when nothing was sent
  /// Time that was the gateway's own: the whole duration minus the waits on upstreams.
  double overheadMs() const { return durationMs - handler.stages.upstreamMs; }
};

/// Writes the access line of `record`. Lines are buffered per thread and written in batches
/// (64 KiB, or every 200 ms, and at exit): no system call on the request's thread.
void access(const AccessRecord& record);
/// Writes the buffered access lines now.
void flush();

/// Logs a message at `level` as a JSON object in json mode (the message escaped), plain otherwise.
void message(spdlog::level::level_enum level, std::string_view text);

}  // namespace llmgate::log
