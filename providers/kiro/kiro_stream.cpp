#include "providers/kiro/kiro_stream.hpp"

#include <algorithm>
#include <cmath>

#include "llmgate/core/json_read.hpp"
#include "providers/kiro/kiro_request.hpp"

namespace llmgate::providers::kiro {
namespace {

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;

// A payload is the event's members; some producers wrap them in {"<eventType>": {...}}.
json eventPayload(std::string_view eventType, std::string_view payload) {
  json parsed = core::parseJson(payload);
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
    std::optional<core::TypeMismatch> ignored;
    const json payload = core::parseJson(message.payload);
    return exceptionError(message.header(":exception-type"), core::FieldReader(payload, "", ignored).stringOr("message"));
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
  std::optional<core::TypeMismatch> mismatch;
  core::FieldReader fields(event, eventType, mismatch);
  if (eventType == "assistantResponseEvent") {
    if (const std::string* content = fields.string("content"); content != nullptr && !content->empty()) {
      start(out);
      outputChars_ += content->size();
      out.push_back(core::ChatEvent::textDelta(*content));
    }
  } else if (eventType == "toolUseEvent") {
    onToolUse(fields, out);
  } else if (eventType == "contextUsageEvent") {
    // Token counts only account: a percentage or usage of the wrong shape leaves the usage to
    // the estimate, never fails the answer.
    const json* percent = fields.member("contextUsagePercentage");
    if (percent != nullptr && percent->is_number()) contextPercent_ = std::clamp(percent->get<double>(), 0.0, 100.0);
  } else if (const json* usage = fields.member("tokenUsage"); usage != nullptr && usage->is_object()) {
    std::optional<core::TypeMismatch> usageMismatch;
    core::FieldReader counts(*usage, "tokenUsage", usageMismatch);
    core::Usage reported;
    reported.cachedInputTokens = counts.integer("cacheReadInputTokens").value_or(0);
    reported.cacheCreationInputTokens = counts.integer("cacheWriteInputTokens").value_or(0);
    reported.inputTokens =
        counts.integer("uncachedInputTokens").value_or(0) + reported.cachedInputTokens + reported.cacheCreationInputTokens;
    reported.outputTokens = counts.integer("outputTokens").value_or(0);
    reported.present = !usageMismatch;
    if (reported.present) reported_ = reported;
  }
  if (mismatch) return core::malformedUpstream(*mismatch, "upstream_malformed_chunk");
  return std::nullopt;
}

void KiroDecoder::onToolUse(const core::FieldReader& event, std::vector<core::ChatEvent>& out) {
  const std::string* id = event.string("toolUseId");
  const std::string* name = event.string("name");
  const json* input = event.member("input");
  const std::optional<bool> stop = event.boolean("stop");
  if (id == nullptr || event.failed()) return;
  start(out);
  auto [it, fresh] = tools_.try_emplace(*id);
  OpenTool& tool = it->second;
  if (fresh) {
    tool.index = nextTool_++;
    std::string called = name != nullptr ? *name : std::string();
    if (auto original = toolNames_.find(called); original != toolNames_.end()) called = original->second;
    out.push_back(core::ChatEvent::toolCallStart(tool.index, it->first, std::move(called)));
  }
  if (tool.closed) return;
  if (input != nullptr) {
    // Normally a fragment of the arguments' JSON text; now and then the whole object.
    std::string fragment = input->is_string() ? input->get_ref<const std::string&>()
                           : tool.sentArguments ? std::string()
                                                : input->dump();
    if (!fragment.empty()) {
      tool.sentArguments = true;
      outputChars_ += fragment.size();
      out.push_back(core::ChatEvent::toolCallDelta(tool.index, std::move(fragment)));
    }
  }
  if (stop.value_or(false)) closeTool(tool, out);
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
