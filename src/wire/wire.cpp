#include "llmgate/wire/wire.hpp"

#include "llmgate/core/json_field.hpp"
#include "llmgate/core/json_read.hpp"

namespace llmgate::wire {

using core::FieldReader;
using nlohmann::json;

namespace {

// FieldReader in the shape of core::TextFields, so that one usage decoder serves a document
// (the translated paths) and text (the passthrough path, which builds no document). Where a
// count of the wrong type was is not needed: it only makes the usage unknown, never the answer
// fail.
class DocumentFields {
 public:
  DocumentFields(const json& value, std::optional<core::TypeMismatch>& mismatch)
      : value_(value), reader_(value, "usage", mismatch), mismatch_(mismatch) {}
  bool isObject() const { return value_.is_object(); }
  std::optional<std::int64_t> integer(std::string_view key) const { return reader_.integer(key); }
  std::optional<DocumentFields> object(std::string_view key) const {
    const json* found = reader_.object(key);
    return found != nullptr ? std::optional(DocumentFields(*found, mismatch_)) : std::nullopt;
  }
  bool failed() const { return reader_.failed(); }

 private:
  const json& value_;
  FieldReader reader_;
  std::optional<core::TypeMismatch>& mismatch_;
};

template <class Decode>
core::Usage decodeDocument(const json& usage, Decode decode) {
  std::optional<core::TypeMismatch> mismatch;
  return decode(DocumentFields(usage, mismatch));
}

template <class Decode>
core::Usage decodeText(std::string_view usage, Decode decode) {
  bool mismatch = false;
  return decode(core::TextFields(usage, mismatch));
}

}  // namespace

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

constexpr UsageNames kChatUsage{"prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"};
constexpr UsageNames kResponsesUsage{"input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"};

template <class Fields>
core::Usage decodeUsageNamed(const Fields& fields, const UsageNames& names) {
  core::Usage out;
  out.inputTokens = fields.integer(names.input).value_or(0);
  out.outputTokens = fields.integer(names.output).value_or(0);
  if (const auto details = fields.object(names.inputDetails)) out.cachedInputTokens = details->integer("cached_tokens").value_or(0);
  if (const auto details = fields.object(names.outputDetails)) out.reasoningTokens = details->integer("reasoning_tokens").value_or(0);
  out.present = fields.isObject() && !fields.failed();
  return out;
}

const auto kDecodeChatUsage = [](const auto& fields) { return decodeUsageNamed(fields, kChatUsage); };
const auto kDecodeResponsesUsage = [](const auto& fields) { return decodeUsageNamed(fields, kResponsesUsage); };

}  // namespace

core::Usage decodeUsage(const json& usage) { return decodeDocument(usage, kDecodeChatUsage); }
core::Usage decodeUsageText(std::string_view usage) { return decodeText(usage, kDecodeChatUsage); }
core::Usage decodeResponsesUsage(const json& usage) { return decodeDocument(usage, kDecodeResponsesUsage); }
core::Usage decodeResponsesUsageText(std::string_view usage) { return decodeText(usage, kDecodeResponsesUsage); }

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

namespace {

template <class Fields>
core::Usage decodeMessagesUsage(const Fields& fields) {
  core::Usage out;
  out.cachedInputTokens = fields.integer("cache_read_input_tokens").value_or(0);
  out.cacheCreationInputTokens = fields.integer("cache_creation_input_tokens").value_or(0);
  out.inputTokens = fields.integer("input_tokens").value_or(0) + out.cachedInputTokens + out.cacheCreationInputTokens;
  out.outputTokens = fields.integer("output_tokens").value_or(0);
  out.present = fields.isObject() && !fields.failed();
  return out;
}

const auto kDecodeMessagesUsage = [](const auto& fields) { return decodeMessagesUsage(fields); };

}  // namespace

core::Usage decodeUsage(const json& usage) { return decodeDocument(usage, kDecodeMessagesUsage); }
core::Usage decodeUsageText(std::string_view usage) { return decodeText(usage, kDecodeMessagesUsage); }

json toolInput(const std::string& arguments) {
  json input = json::parse(arguments.empty() ? "{}" : arguments, nullptr, false);
  // Anthropic wants an object; arguments that are not one are kept rather than dropped.
  if (input.is_discarded() || !input.is_object()) return json{{"arguments", arguments}};
  return input;
}

}  // namespace anthropic

}  // namespace llmgate::wire
