#include "llmgate/wire/wire.hpp"

#include "llmgate/core/json_read.hpp"

namespace llmgate::wire {

using core::FieldReader;
using nlohmann::json;

void mergeExtras(json& body, const core::ChatRequest& request, core::Dialect upstream) {
  if (request.sourceDialect != upstream) return;
  for (const auto& [key, value] : request.extra.items()) {
    if (!body.contains(key)) body[key] = value;
  }
}

namespace openai {

std::string_view finishReasonName(core::FinishReason reason) {
  switch (reason) {
    case core::FinishReason::Stop: return "stop";
    case core::FinishReason::Length: return "length";
    case core::FinishReason::ToolCalls: return "tool_calls";
    case core::FinishReason::ContentFilter: return "content_filter";
    case core::FinishReason::Error: return "error";
    case core::FinishReason::None: return "stop";
  }
  return "stop";
}

core::FinishReason parseFinishReason(std::string_view name) {
  if (name == "stop") return core::FinishReason::Stop;
  if (name == "length") return core::FinishReason::Length;
  if (name == "tool_calls" || name == "function_call") return core::FinishReason::ToolCalls;
  if (name == "content_filter" || name == "sensitive") return core::FinishReason::ContentFilter;  // GLM: sensitive
  // GLM network_error, DeepSeek insufficient_system_resource: the answer is cut short.
  if (name == "network_error" || name == "insufficient_system_resource") return core::FinishReason::Error;
  return core::FinishReason::Stop;
}

namespace {

// The member names of OpenAI's two usage shapes (Chat Completions, Responses).
struct UsageNames {
  const char* input;
  const char* output;
  const char* inputDetails;
  const char* outputDetails;
};

core::Usage decodeUsageNamed(const json& usage, const UsageNames& names) {
  // Token counts only account: a count of the wrong type makes the usage unknown, never the answer fail.
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(usage, "usage", mismatch);
  core::Usage out;
  out.inputTokens = fields.integer(names.input).value_or(0);
  out.outputTokens = fields.integer(names.output).value_or(0);
  if (const json* details = fields.object(names.inputDetails)) {
    const std::string path = fields.pathOf(names.inputDetails);
    out.cachedInputTokens = FieldReader(*details, path, mismatch).integer("cached_tokens").value_or(0);
  }
  if (const json* details = fields.object(names.outputDetails)) {
    const std::string path = fields.pathOf(names.outputDetails);
    out.reasoningTokens = FieldReader(*details, path, mismatch).integer("reasoning_tokens").value_or(0);
  }
  out.present = usage.is_object() && !mismatch;
  return out;
}

}  // namespace

core::Usage decodeUsage(const json& usage) {
  return decodeUsageNamed(usage, {"prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"});
}

core::Usage decodeResponsesUsage(const json& usage) {
  return decodeUsageNamed(usage, {"input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"});
}

}  // namespace openai

namespace anthropic {

std::string_view stopReasonName(core::FinishReason reason) {
  switch (reason) {
    case core::FinishReason::Length: return "max_tokens";
    case core::FinishReason::ToolCalls: return "tool_use";
    case core::FinishReason::ContentFilter: return "refusal";
    case core::FinishReason::Stop:
    case core::FinishReason::Error:
    case core::FinishReason::None: return "end_turn";
  }
  return "end_turn";
}

core::FinishReason parseStopReason(std::string_view name) {
  if (name == "max_tokens" || name == "model_context_window_exceeded") return core::FinishReason::Length;
  if (name == "tool_use") return core::FinishReason::ToolCalls;
  if (name == "refusal") return core::FinishReason::ContentFilter;
  return core::FinishReason::Stop;  // end_turn, stop_sequence, pause_turn
}

core::Usage decodeUsage(const json& usage) {
  // Token counts only account: a count of the wrong type makes the usage unknown, never the answer fail.
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(usage, "usage", mismatch);
  core::Usage out;
  out.cachedInputTokens = fields.integer("cache_read_input_tokens").value_or(0);
  out.cacheCreationInputTokens = fields.integer("cache_creation_input_tokens").value_or(0);
  out.inputTokens = fields.integer("input_tokens").value_or(0) + out.cachedInputTokens + out.cacheCreationInputTokens;
  out.outputTokens = fields.integer("output_tokens").value_or(0);
  out.present = usage.is_object() && !mismatch;
  return out;
}

json toolInput(const std::string& arguments) {
  json input = json::parse(arguments.empty() ? "{}" : arguments, nullptr, false);
  // Anthropic wants an object; arguments that are not one are kept rather than dropped.
  if (input.is_discarded() || !input.is_object()) return json{{"arguments", arguments}};
  return input;
}

}  // namespace anthropic

}  // namespace llmgate::wire
