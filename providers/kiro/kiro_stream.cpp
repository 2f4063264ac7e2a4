#include "providers/kiro/kiro_stream.hpp"

#include <cmath>

#include "providers/kiro/kiro_request.hpp"

namespace llmgate::providers::kiro {
namespace {

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;

// A payload is the event's members; some producers wrap them in {"<eventType>": {...}}.
json eventPayload(std::string_view eventType, std::string_view payload) {
  json parsed = json::parse(payload, nullptr, false);
  if (parsed.is_object() && parsed.size() == 1) {
    auto it = parsed.find(std::string(eventType));
    if (it != parsed.end() && it->is_object()) return *it;
  }
  return parsed;
}

}  // namespace

GatewayError exceptionError(std::string_view exceptionType, std::string_view message, int httpStatus) {
  const auto is = [&](std::string_view name) { return exceptionType.find(name) != std::string_view::npos; };
  ErrorKind kind = ErrorKind::Upstream;
  if (is("Throttling") || is("ServiceQuotaExceeded")) kind = ErrorKind::RateLimited;
  else if (is("Validation") || is("Conflict")) kind = ErrorKind::InvalidRequest;
  else if (is("AccessDenied")) kind = ErrorKind::PermissionDenied;
  else if (is("ResourceNotFound")) kind = ErrorKind::NotFound;
  else if (is("ExpiredToken") || is("UnrecognizedClient")) kind = ErrorKind::Authentication;
  else if (httpStatus != 0) kind = core::upstreamHttpError(httpStatus).kind;
  GatewayError error = GatewayError::make(kind, exceptionType.empty() ? "upstream_error" : std::string(exceptionType),
                                          message.empty() ? "kiro returned " + std::string(exceptionType) : std::string(message));
  // The exception name travels as the code; `type` stays one the client's dialect knows.
  if (httpStatus != 0) error.status = httpStatus;
  return error;
}

KiroDecoder::KiroDecoder(const core::ChatRequest& request, std::int64_t contextWindow)
    : contextWindow_(contextWindow), estimatedInput_(core::estimateInputTokens(request)) {
  for (const auto& tool : request.tools) toolNames_[shortToolName(tool.name)] = tool.name;
}

void KiroDecoder::start(std::vector<core::ChatEvent>& out) {
  if (started_) return;
  started_ = true;
  out.push_back(core::ChatEvent::start({}, {}));
}

std::optional<GatewayError> KiroDecoder::feed(std::string_view bytes, std::vector<core::ChatEvent>& out) {
  std::optional<GatewayError> failure;
  auto error = parser_.feed(bytes, [&](const stream::EventStreamMessage& message) {
    if (!failure) failure = onMessage(message, out);
  });
  if (failure) return failure;
  if (error) return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_frame", error->message);
  return std::nullopt;
}

std::optional<GatewayError> KiroDecoder::onMessage(const stream::EventStreamMessage& message, std::vector<core::ChatEvent>& out) {
  const std::string_view type = message.header(":message-type");
  if (type == "exception") {
    const json payload = json::parse(message.payload, nullptr, false);
    const std::string text = payload.is_object() ? payload.value("message", std::string()) : std::string();
    return exceptionError(message.header(":exception-type"), text);
  }
  if (type == "error") {
    return exceptionError(message.header(":error-code"), message.header(":error-message"));
  }
  if (type != "event") return std::nullopt;
  const std::string_view eventType = message.header(":event-type");
  if (eventType != "assistantResponseEvent" && eventType != "toolUseEvent" && eventType != "contextUsageEvent" &&
      eventType != "messageMetadataEvent") {
    return std::nullopt;  // initial-response, metering, follow-ups, ...: nothing the IR carries
  }
  const json event = eventPayload(eventType, message.payload);
  if (!event.is_object()) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_chunk", std::string(eventType) + " payload is not a JSON object");
  }
  if (eventType == "assistantResponseEvent") {
    auto content = event.find("content");
    if (content != event.end() && content->is_string() && !content->get_ref<const std::string&>().empty()) {
      start(out);
      outputChars_ += content->get_ref<const std::string&>().size();
      out.push_back(core::ChatEvent::textDelta(content->get<std::string>()));
    }
  } else if (eventType == "toolUseEvent") {
    onToolUse(event, out);
  } else if (eventType == "contextUsageEvent") {
    if (auto pct = event.find("contextUsagePercentage"); pct != event.end() && pct->is_number()) contextPercent_ = pct->get<double>();
  } else if (auto usage = event.find("tokenUsage"); usage != event.end() && usage->is_object()) {
    const auto number = [&](const char* key) {
      auto it = usage->find(key);
      return it != usage->end() && it->is_number_integer() ? it->get<std::int64_t>() : std::int64_t{0};
    };
    reported_.present = true;
    reported_.cachedInputTokens = number("cacheReadInputTokens");
    reported_.cacheCreationInputTokens = number("cacheWriteInputTokens");
    reported_.inputTokens = number("uncachedInputTokens") + reported_.cachedInputTokens + reported_.cacheCreationInputTokens;
    reported_.outputTokens = number("outputTokens");
  }
  return std::nullopt;
}

void KiroDecoder::onToolUse(const json& event, std::vector<core::ChatEvent>& out) {
  auto id = event.find("toolUseId");
  if (id == event.end() || !id->is_string()) return;
  start(out);
  auto [it, fresh] = tools_.try_emplace(id->get<std::string>());
  OpenTool& tool = it->second;
  if (fresh) {
    tool.index = nextTool_++;
    std::string name = event.value("name", std::string());
    if (auto original = toolNames_.find(name); original != toolNames_.end()) name = original->second;
    out.push_back(core::ChatEvent::toolCallStart(tool.index, it->first, std::move(name)));
  }
  if (tool.closed) return;
  if (auto input = event.find("input"); input != event.end()) {
    // Normally a fragment of the arguments' JSON text; now and then the whole object.
    std::string fragment = input->is_string() ? input->get<std::string>() : tool.sentArguments ? std::string() : input->dump();
    if (!fragment.empty()) {
      tool.sentArguments = true;
      outputChars_ += fragment.size();
      out.push_back(core::ChatEvent::toolCallDelta(tool.index, std::move(fragment)));
    }
  }
  if (event.value("stop", false)) closeTool(tool, out);
}

void KiroDecoder::closeTool(OpenTool& tool, std::vector<core::ChatEvent>& out) {
  if (tool.closed) return;
  tool.closed = true;
  calledTools_ = true;
  // A call without arguments still needs a JSON object for clients that parse it.
  if (!tool.sentArguments) out.push_back(core::ChatEvent::toolCallDelta(tool.index, "{}"));
  core::ChatEvent end;
  end.kind = core::EventKind::ToolCallEnd;
  end.toolIndex = tool.index;
  out.push_back(end);
}

std::optional<GatewayError> KiroDecoder::finish(std::vector<core::ChatEvent>& out) {
  if (parser_.midMessage()) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_disconnected", "upstream stream ended inside a frame");
  }
  if (!started_) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_empty_stream", "upstream stream ended without any content");
  }
  // No terminator frame exists: the body's end is the answer's end.
  for (auto& [id, tool] : tools_) closeTool(tool, out);
  out.push_back(core::ChatEvent::finished(calledTools_ ? core::FinishReason::ToolCalls : core::FinishReason::Stop));
  core::Usage usage = reported_;
  if (!usage.present) {
    // Estimates: Kiro's context percentage (else the request's size) and ~4 characters a token.
    usage.present = true;
    usage.inputTokens = contextPercent_ >= 0 ? std::llround(contextPercent_ * static_cast<double>(contextWindow_) / 100.0)
                                             : estimatedInput_;
    usage.outputTokens = static_cast<std::int64_t>((outputChars_ + 3) / 4);
  }
  out.push_back(core::ChatEvent::usageReport(usage));
  return std::nullopt;
}

}  // namespace llmgate::providers::kiro
