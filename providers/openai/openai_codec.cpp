#include "providers/openai/openai_codec.hpp"

#include <algorithm>

#include "llmgate/core/json_field.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/core/json_text.hpp"
#include "llmgate/wire/wire.hpp"

namespace llmgate::providers::openai {
namespace {

using core::ErrorKind;
using core::FieldReader;
using core::GatewayError;
using nlohmann::json;
using wire::mergeExtras;
using wire::openai::decodeUsage;
using wire::openai::parseFinishReason;

// Bounds on indexes an upstream chooses: they size per-choice and per-call state.
constexpr std::int64_t kMaxChoices = 128;
constexpr std::int64_t kMaxToolCalls = 1024;
const json kNull;

}  // namespace

json encodeRequest(const core::ChatRequest& request, const std::string& model, const EncodeOptions& options) {
  json messages = json::array();
  for (const auto& system : request.system) messages.push_back({{"role", "system"}, {"content", system}});
  for (const auto& message : request.messages) {
    switch (message.role) {
      case core::Role::System:
        messages.push_back({{"role", "system"}, {"content", message.joinedText()}});
        break;
      case core::Role::User: {
        bool textOnly = true;
        for (const auto& part : message.content) textOnly = textOnly && part.kind == core::PartKind::Text;
        json out{{"role", "user"}};
        if (textOnly) {
          out["content"] = message.joinedText();
        } else {
          json parts = json::array();
          for (const auto& part : message.content) {
            if (part.kind == core::PartKind::Text) {
              parts.push_back({{"type", "text"}, {"text", part.text}});
            } else if (part.kind == core::PartKind::Image) {
              json image{{"url", part.imageUrl}};
              if (!part.imageDetail.empty()) image["detail"] = part.imageDetail;
              parts.push_back({{"type", "image_url"}, {"image_url", std::move(image)}});
            }
          }
          out["content"] = std::move(parts);
        }
        if (!message.name.empty()) out["name"] = message.name;
        messages.push_back(std::move(out));
        // Tool results given inside a user turn (Anthropic style) become tool messages.
        for (const auto& part : message.content) {
          if (part.kind == core::PartKind::ToolResult) {
            messages.push_back({{"role", "tool"}, {"tool_call_id", part.toolCallId}, {"content", part.text}});
          }
        }
        break;
      }
      case core::Role::Assistant: {
        json out{{"role", "assistant"}};
        std::string text = message.joinedText();
        json calls = json::array();
        for (const auto& part : message.content) {
          if (part.kind == core::PartKind::ToolCall) {
            calls.push_back({{"id", part.toolCallId}, {"type", "function"},
                             {"function", {{"name", part.toolName}, {"arguments", part.arguments}}}});
          }
        }
        out["content"] = text.empty() && !calls.empty() ? json(nullptr) : json(text);
        if (!calls.empty() && options.reasoningOnToolCallTurns) {
          std::string reasoning;
          for (const auto& part : message.content) {
            if (part.kind == core::PartKind::Thinking) reasoning += part.text;
          }
          if (!reasoning.empty()) out["reasoning_content"] = std::move(reasoning);
        }
        if (!calls.empty()) out["tool_calls"] = std::move(calls);
        messages.push_back(std::move(out));
        break;
      }
      case core::Role::Tool:
        for (const auto& part : message.content) {
          if (part.kind == core::PartKind::ToolResult) {
            messages.push_back({{"role", "tool"}, {"tool_call_id", part.toolCallId}, {"content", part.text}});
          }
        }
        break;
    }
  }
  json body{{"model", model}, {"messages", std::move(messages)}};
  if (!request.tools.empty()) {
    json tools = json::array();
    for (const auto& tool : request.tools) {
      json function{{"name", tool.name}};
      if (!tool.description.empty()) function["description"] = tool.description;
      if (!tool.parameters.is_null()) function["parameters"] = tool.parameters;
      if (tool.strict) function["strict"] = *tool.strict;
      tools.push_back({{"type", "function"}, {"function", std::move(function)}});
    }
    body["tools"] = std::move(tools);
  }
  if (request.toolChoice) {
    switch (request.toolChoice->mode) {
      case core::ToolChoice::Mode::Auto: body["tool_choice"] = "auto"; break;
      case core::ToolChoice::Mode::None: body["tool_choice"] = "none"; break;
      case core::ToolChoice::Mode::Required: body["tool_choice"] = "required"; break;
      case core::ToolChoice::Mode::Function:
        body["tool_choice"] = {{"type", "function"}, {"function", {{"name", request.toolChoice->functionName}}}};
        break;
    }
  }
  if (request.parallelToolCalls) body["parallel_tool_calls"] = *request.parallelToolCalls;
  if (request.maxTokens) body["max_tokens"] = *request.maxTokens;
  if (request.temperature) body["temperature"] = *request.temperature;
  if (request.topP) body["top_p"] = *request.topP;
  if (request.seed) body["seed"] = *request.seed;
  if (request.n) body["n"] = *request.n;
  if (!request.stop.empty()) body["stop"] = request.stop;
  if (!request.responseFormat.is_null()) body["response_format"] = request.responseFormat;
  if (!request.user.empty()) body["user"] = request.user;
  if (request.stream) {
    body["stream"] = true;
    // Always ask for usage: the gateway counts tokens even when the client did not ask.
    body["stream_options"] = {{"include_usage", true}};
  }
  mergeExtras(body, request, core::Dialect::OpenAi);
  return body;
}

core::Result<core::ChatResponse> decodeResponse(const json& body) {
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(body, "chat.completion", mismatch);
  const json* choices = fields.array("choices");
  if (choices == nullptr) {
    return mismatch ? core::malformedUpstream(*mismatch)
                    : core::malformedUpstream("upstream response has no choices array");
  }
  core::ChatResponse response;
  response.id = fields.stringOr("id");
  response.model = fields.stringOr("model");
  response.created = fields.integer("created").value_or(0);
  for (const auto& item : *choices) {
    FieldReader choiceFields(item, "chat.completion.choices[]", mismatch);
    core::Choice choice;
    choice.index = static_cast<int>(std::clamp<std::int64_t>(choiceFields.integer("index").value_or(0), 0, kMaxChoices));
    if (const std::string* finish = choiceFields.string("finish_reason")) choice.finish = parseFinishReason(*finish);
    const json* message = choiceFields.object("message");
    if (message != nullptr) {
      FieldReader messageFields(*message, "chat.completion.choices[].message", mismatch);
      choice.text = messageFields.stringOr("content");
      choice.thinking = messageFields.stringOr("reasoning_content");
      choice.refusal = messageFields.stringOr("refusal");
      if (const json* calls = messageFields.array("tool_calls")) {
        for (const auto& call : *calls) {
          FieldReader callFields(call, "chat.completion.choices[].message.tool_calls[]", mismatch);
          const json* function = callFields.object("function");
          if (function == nullptr) continue;
          FieldReader functionFields(*function, "chat.completion.choices[].message.tool_calls[].function", mismatch);
          choice.toolCalls.push_back(
              {callFields.stringOr("id"), functionFields.stringOr("name"), functionFields.stringOr("arguments")});
        }
      }
    }
    response.choices.push_back(std::move(choice));
  }
  if (mismatch) return core::malformedUpstream(*mismatch);
  if (const json* usage = fields.member("usage")) response.usage = decodeUsage(*usage);
  return response;
}

std::optional<core::ChatResponse> decodeResponseText(std::string_view body) {
  bool mismatch = false;
  const auto fields = core::TextFields::ofValidObject(body, mismatch);
  if (!fields) return std::nullopt;
  const auto choices = fields->array("choices");
  if (!choices) return std::nullopt;
  core::ChatResponse response;
  response.id = fields->string("id").value_or("");
  response.model = fields->string("model").value_or("");
  response.created = fields->integer("created").value_or(0);
  core::TextItems items(*choices);
  std::string_view item;
  while (items.next(item)) {
    const core::TextFields choiceFields(item, mismatch);
    if (choiceFields.hasEscapedKey()) return std::nullopt;
    core::Choice choice;
    choice.index = static_cast<int>(std::clamp<std::int64_t>(choiceFields.integer("index").value_or(0), 0, kMaxChoices));
    if (const auto finish = choiceFields.string("finish_reason")) choice.finish = parseFinishReason(*finish);
    if (const auto message = choiceFields.object("message")) {
      if (message->hasEscapedKey()) return std::nullopt;
      choice.text = message->string("content").value_or("");
      choice.thinking = message->string("reasoning_content").value_or("");
      choice.refusal = message->string("refusal").value_or("");
      if (const auto calls = message->array("tool_calls")) {
        core::TextItems callItems(*calls);
        std::string_view call;
        while (callItems.next(call)) {
          const core::TextFields callFields(call, mismatch);
          if (callFields.hasEscapedKey()) return std::nullopt;
          const auto function = callFields.object("function");
          if (!function) continue;
          if (function->hasEscapedKey()) return std::nullopt;
          choice.toolCalls.push_back({callFields.string("id").value_or(""), function->string("name").value_or(""),
                                      function->string("arguments").value_or("")});
        }
      }
    }
    response.choices.push_back(std::move(choice));
  }
  if (mismatch) return std::nullopt;
  // A name written with escapes would be read differently from text than from a document.
  const std::string_view usage = fields->find("usage");
  if (usage.find('\\') != std::string_view::npos) return std::nullopt;
  if (!usage.empty()) response.usage = wire::openai::decodeUsageText(usage);
  return response;
}

std::optional<GatewayError> decodeChunk(const json& chunk, ChunkDecodeState& state,
                                        std::vector<core::ChatEvent>& out) {
  if (!chunk.is_object()) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_chunk", "stream chunk is not an object");
  }
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(chunk, "chat.completion.chunk", mismatch);
  if (fields.member("error") != nullptr) {
    GatewayError result = decodeError(502, core::dumpJson(chunk));
    result.kind = ErrorKind::Upstream;
    return result;
  }
  if (!state.started) {
    state.started = true;
    out.push_back(core::ChatEvent::start(fields.stringOr("id"), fields.stringOr("model")));
  }
  if (const json* choices = fields.array("choices")) {
    for (const auto& item : *choices) {
      FieldReader choiceFields(item, "chat.completion.chunk.choices[]", mismatch);
      const int index = static_cast<int>(std::clamp<std::int64_t>(choiceFields.integer("index").value_or(0), 0, kMaxChoices));
      if (const json* delta = choiceFields.object("delta")) {
        FieldReader deltaFields(*delta, "chat.completion.chunk.choices[].delta", mismatch);
        if (const std::string* reasoning = deltaFields.string("reasoning_content"); reasoning != nullptr && !reasoning->empty()) {
          core::ChatEvent event = core::ChatEvent::textDelta(*reasoning, index);
          event.kind = core::EventKind::ThinkingDelta;
          out.push_back(std::move(event));
        }
        if (const std::string* content = deltaFields.string("content"); content != nullptr && !content->empty()) {
          out.push_back(core::ChatEvent::textDelta(*content, index));
        }
        if (const std::string* refusal = deltaFields.string("refusal"); refusal != nullptr && !refusal->empty()) {
          core::ChatEvent event = core::ChatEvent::textDelta(*refusal, index);
          event.kind = core::EventKind::RefusalDelta;
          out.push_back(std::move(event));
        }
        if (const json* calls = deltaFields.array("tool_calls")) {
          for (const auto& call : *calls) {
            FieldReader callFields(call, "chat.completion.chunk.choices[].delta.tool_calls[]", mismatch);
            const int toolIndex =
                static_cast<int>(std::clamp<std::int64_t>(callFields.integer("index").value_or(0), 0, kMaxToolCalls));
            const json* function = callFields.object("function");
            FieldReader functionFields(function != nullptr ? *function : kNull,
                                       "chat.completion.chunk.choices[].delta.tool_calls[].function", mismatch);
            auto& open = state.toolCallsOpen[{index, toolIndex}];
            if (!open) {
              open = true;
              out.push_back(core::ChatEvent::toolCallStart(toolIndex, callFields.stringOr("id"),
                                                           functionFields.stringOr("name"), index));
            }
            if (const std::string* args = functionFields.string("arguments"); args != nullptr && !args->empty()) {
              out.push_back(core::ChatEvent::toolCallDelta(toolIndex, *args, index));
            }
          }
        }
      }
      if (const std::string* finish = choiceFields.string("finish_reason")) {
        for (auto& [key, open] : state.toolCallsOpen) {
          if (key.first == index && open) {
            core::ChatEvent end;
            end.kind = core::EventKind::ToolCallEnd;
            end.choice = index;
            end.toolIndex = key.second;
            out.push_back(end);
            open = false;
          }
        }
        out.push_back(core::ChatEvent::finished(parseFinishReason(*finish), index));
      }
    }
  }
  if (mismatch) return core::malformedUpstream(*mismatch, "upstream_malformed_chunk");
  // Token counts only account: usage of the wrong shape is left out, never an error.
  if (const json* usage = fields.member("usage")) {
    if (auto decoded = decodeUsage(*usage); decoded.present) out.push_back(core::ChatEvent::usageReport(decoded));
  }
  return std::nullopt;
}

bool decodeChunkText(std::string_view chunk, ChunkDecodeState& state, std::vector<core::ChatEvent>& out) {
  // While a tool call is open, a finish must close it: that stays with decodeChunk.
  const bool callOpen = std::any_of(state.toolCallsOpen.begin(), state.toolCallsOpen.end(),
                                    [](const auto& call) { return call.second; });
  if (callOpen) return false;
  bool mismatch = false;
  const auto fields = core::TextFields::ofValidObject(chunk, mismatch);
  if (!fields || !fields->find("error").empty()) return false;
  const std::size_t kept = out.size();
  const auto giveUp = [&] {
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(kept), out.end());
    return false;
  };
  if (!state.started) {
    auto id = fields->string("id");
    auto model = fields->string("model");
    out.push_back(core::ChatEvent::start(std::move(id).value_or(""), std::move(model).value_or("")));
  }
  if (const auto choices = fields->array("choices")) {
    core::TextItems items(*choices);
    std::string_view item;
    while (items.next(item)) {
      const core::TextFields choice(item, mismatch);
      if (!choice.isObject() || choice.hasEscapedKey()) return giveUp();
      const int index = static_cast<int>(std::clamp<std::int64_t>(choice.integer("index").value_or(0), 0, kMaxChoices));
      if (const auto delta = choice.object("delta")) {
        if (delta->hasEscapedKey() || !delta->find("tool_calls").empty()) return giveUp();
        if (auto reasoning = delta->string("reasoning_content"); reasoning && !reasoning->empty()) {
          core::ChatEvent event = core::ChatEvent::textDelta(std::move(*reasoning), index);
          event.kind = core::EventKind::ThinkingDelta;
          out.push_back(std::move(event));
        }
        if (auto content = delta->string("content"); content && !content->empty()) {
          out.push_back(core::ChatEvent::textDelta(std::move(*content), index));
        }
        if (auto refusal = delta->string("refusal"); refusal && !refusal->empty()) {
          core::ChatEvent event = core::ChatEvent::textDelta(std::move(*refusal), index);
          event.kind = core::EventKind::RefusalDelta;
          out.push_back(std::move(event));
        }
      }
      if (const auto finish = choice.string("finish_reason")) out.push_back(core::ChatEvent::finished(parseFinishReason(*finish), index));
      if (mismatch) return giveUp();
    }
  }
  if (mismatch) return giveUp();
  // A name written with escapes would be read differently from text than from a document.
  const std::string_view usage = fields->find("usage");
  if (usage.find('\\') != std::string_view::npos) return giveUp();
  if (!usage.empty()) {
    if (auto decoded = wire::openai::decodeUsageText(usage); decoded.present) out.push_back(core::ChatEvent::usageReport(decoded));
  }
  state.started = true;
  return true;
}

GatewayError decodeError(int status, std::string_view body) {
  GatewayError error = core::upstreamHttpError(status);
  const json parsed = core::parseJson(body);
  // What an error body carries is taken where its type is right; the status decides the rest.
  std::optional<core::TypeMismatch> ignored;
  const json* detail = FieldReader(parsed, "", ignored).member("error");
  if (detail == nullptr && parsed.is_object()) detail = &parsed;
  if (detail != nullptr && detail->is_string()) {
    error.message = detail->get_ref<const std::string&>();
  } else if (detail != nullptr) {
    FieldReader fields(*detail, "error", ignored);
    if (const std::string* message = fields.string("message")) error.message = *message;
    if (const std::string* type = fields.string("type")) error.upstreamType = *type;
    // The upstream's own code, null included, is what its SDK users expect to see.
    if (detail->is_object() && detail->contains("code")) {
      const std::string* code = fields.string("code");
      error.code = code != nullptr ? *code : "";
    }
    if (const std::string* param = fields.string("param")) error.param = *param;
  }
  return error;
}

}  // namespace llmgate::providers::openai
