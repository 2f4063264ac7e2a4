#include "providers/anthropic/anthropic_codec.hpp"

#include "llmgate/core/json_field.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/core/json_text.hpp"
#include "llmgate/wire/wire.hpp"

namespace llmgate::providers::anthropic {
namespace {

using core::ErrorKind;
using core::FieldReader;
using core::GatewayError;
using nlohmann::json;
using wire::mergeExtras;
using wire::anthropic::decodeUsage;
using wire::anthropic::parseStopReason;
using wire::anthropic::toolInput;

// A message never has this many content blocks; an index past it is not trusted to size state.
constexpr std::int64_t kMaxContentBlocks = 4096;

}  // namespace

json encodeRequest(const core::ChatRequest& request, const std::string& model, std::int64_t defaultMaxTokens) {
  json messages = json::array();
  // Anthropic wants strictly alternating user/assistant turns: consecutive turns of one role
  // (tool results included, which travel in user turns) are merged.
  auto append = [&](const char* role, json blocks) {
    if (blocks.empty()) return;
    if (!messages.empty() && messages.back()["role"] == role) {
      for (auto& block : blocks) messages.back()["content"].push_back(std::move(block));
    } else {
      messages.push_back({{"role", role}, {"content", std::move(blocks)}});
    }
  };
  std::vector<std::string> extraSystem;
  for (const auto& message : request.messages) {
    json blocks = json::array();
    for (const auto& part : message.content) {
      switch (part.kind) {
        case core::PartKind::Text:
        case core::PartKind::Refusal:
          if (!part.text.empty()) blocks.push_back({{"type", "text"}, {"text", part.text}});
          break;
        case core::PartKind::Image: {
          const std::string& url = part.imageUrl;
          const auto comma = url.find(',');
          if (url.rfind("data:", 0) == 0 && comma != std::string::npos && url.find(";base64") < comma) {
            blocks.push_back({{"type", "image"},
                              {"source", {{"type", "base64"}, {"media_type", url.substr(5, url.find(';') - 5)},
                                          {"data", url.substr(comma + 1)}}}});
          } else {
            blocks.push_back({{"type", "image"}, {"source", {{"type", "url"}, {"url", url}}}});
          }
          break;
        }
        case core::PartKind::ToolCall:
          blocks.push_back({{"type", "tool_use"}, {"id", part.toolCallId}, {"name", part.toolName},
                            {"input", toolInput(part.arguments)}});
          break;
        case core::PartKind::ToolResult: {
          json result{{"type", "tool_result"}, {"tool_use_id", part.toolCallId}, {"content", part.text}};
          if (part.isError) result["is_error"] = true;
          blocks.push_back(std::move(result));
          break;
        }
        case core::PartKind::Thinking:
          // Only signed thinking can be sent back; unsigned reasoning (other providers) is dropped.
          if (!part.signature.empty()) {
            blocks.push_back({{"type", "thinking"}, {"thinking", part.text}, {"signature", part.signature}});
          }
          break;
      }
    }
    switch (message.role) {
      case core::Role::System: extraSystem.push_back(message.joinedText()); break;
      case core::Role::User:
      case core::Role::Tool: append("user", std::move(blocks)); break;
      case core::Role::Assistant: append("assistant", std::move(blocks)); break;
    }
  }
  json body{{"model", model},
            {"max_tokens", request.maxTokens ? *request.maxTokens : defaultMaxTokens},
            {"messages", std::move(messages)}};
  std::string system;
  for (const auto& part : request.system) system += (system.empty() ? "" : "\n\n") + part;
  for (const auto& part : extraSystem) system += (system.empty() ? "" : "\n\n") + part;
  if (!system.empty()) body["system"] = system;
  if (!request.tools.empty()) {
    json tools = json::array();
    for (const auto& tool : request.tools) {
      json out{{"name", tool.name},
               {"input_schema", tool.parameters.is_object() ? tool.parameters : json{{"type", "object"}}}};
      if (!tool.description.empty()) out["description"] = tool.description;
      tools.push_back(std::move(out));
    }
    body["tools"] = std::move(tools);
  }
  if (request.toolChoice || request.parallelToolCalls == false) {
    json choice{{"type", "auto"}};
    if (request.toolChoice) {
      switch (request.toolChoice->mode) {
        case core::ToolChoice::Mode::Auto: break;
        case core::ToolChoice::Mode::None: choice = {{"type", "none"}}; break;
        case core::ToolChoice::Mode::Required: choice = {{"type", "any"}}; break;
        case core::ToolChoice::Mode::Function:
          choice = {{"type", "tool"}, {"name", request.toolChoice->functionName}};
          break;
      }
    }
    if (request.parallelToolCalls == false && choice["type"] != "none") choice["disable_parallel_tool_use"] = true;
    if (!request.tools.empty()) body["tool_choice"] = std::move(choice);
  }
  if (!request.stop.empty()) body["stop_sequences"] = request.stop;
  if (request.temperature) body["temperature"] = std::min(*request.temperature, 1.0);  // Anthropic's range is 0-1
  if (request.topP) body["top_p"] = *request.topP;
  if (request.topK) body["top_k"] = *request.topK;
  if (!request.user.empty()) body["metadata"] = {{"user_id", request.user}};
  if (request.stream) body["stream"] = true;
  mergeExtras(body, request, core::Dialect::Anthropic);
  return body;
}

core::Result<core::ChatResponse> decodeResponse(const json& body) {
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(body, "message", mismatch);
  const json* content = fields.array("content");
  if (content == nullptr) {
    return mismatch ? core::malformedUpstream(*mismatch)
                    : core::malformedUpstream("upstream message has no content array");
  }
  core::ChatResponse response;
  response.id = fields.stringOr("id");
  response.model = fields.stringOr("model");
  core::Choice choice;
  for (const auto& item : *content) {
    FieldReader block(item, "message.content[]", mismatch);
    const std::string type = block.stringOr("type");
    if (type == "text") {
      choice.text += block.stringOr("text");
    } else if (type == "thinking") {
      choice.thinking += block.stringOr("thinking");
      choice.thinkingSignature += block.stringOr("signature");
    } else if (type == "tool_use") {
      const json* input = block.member("input");
      choice.toolCalls.push_back({block.stringOr("id"), block.stringOr("name"), input != nullptr ? input->dump() : "{}"});
    }
  }
  if (const std::string* stop = fields.string("stop_reason")) choice.finish = parseStopReason(*stop);
  if (mismatch) return core::malformedUpstream(*mismatch);
  response.choices.push_back(std::move(choice));
  if (const json* usage = fields.member("usage")) response.usage = decodeUsage(*usage);
  return response;
}

std::optional<core::ChatResponse> decodeResponseText(std::string_view body) {
  bool mismatch = false;
  const auto fields = core::TextFields::ofValidObject(body, mismatch);
  if (!fields) return std::nullopt;
  const auto content = fields->array("content");
  if (!content) return std::nullopt;
  core::ChatResponse response;
  response.id = fields->string("id").value_or("");
  response.model = fields->string("model").value_or("");
  core::Choice choice;
  core::TextItems items(*content);
  std::string_view item;
  while (items.next(item)) {
    const core::TextFields block(item, mismatch);
    if (block.hasEscapedKey()) return std::nullopt;
    const std::string type = block.string("type").value_or("");
    if (type == "text") {
      choice.text += block.string("text").value_or("");
    } else if (type == "thinking") {
      choice.thinking += block.string("thinking").value_or("");
      choice.thinkingSignature += block.string("signature").value_or("");
    } else if (type == "tool_use") {
      return std::nullopt;  // its input is re-serialised from the document
    }
  }
  if (const auto stop = fields->string("stop_reason")) choice.finish = parseStopReason(*stop);
  if (mismatch) return std::nullopt;
  response.choices.push_back(std::move(choice));
  // A name written with escapes would be read differently from text than from a document.
  const std::string_view usage = fields->find("usage");
  if (usage.find('\\') != std::string_view::npos) return std::nullopt;
  if (!usage.empty()) response.usage = wire::anthropic::decodeUsageText(usage);
  return response;
}

std::optional<GatewayError> decodeEvent(std::string_view name, const json& data, EventDecodeState& state,
                                        std::vector<core::ChatEvent>& out) {
  if (name == "ping") return std::nullopt;
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(data, name, mismatch);
  if (name == "error") {
    const json* error = fields.object("error");
    const bool overloaded = error != nullptr && FieldReader(*error, "error", mismatch).stringOr("type") == "overloaded_error";
    return decodeError(overloaded ? 529 : 500, core::dumpJson(data));
  }
  // A content block's index chooses a slot in per-block state: it is bounded like the blocks.
  const auto blockIndex = [&]() -> std::optional<std::size_t> {
    const auto index = fields.integer("index");
    if (!index || *index < 0 || *index >= kMaxContentBlocks) {
      if (!mismatch) mismatch = core::TypeMismatch{fields.pathOf("index"), "content block index", index ? "out of range" : "none"};
      return std::nullopt;
    }
    return static_cast<std::size_t>(*index);
  };
  if (name == "message_start") {
    const json* message = fields.object("message");
    if (message == nullptr) {
      if (!mismatch) mismatch = core::TypeMismatch{fields.pathOf("message"), "object", "none"};
      return core::malformedUpstream(*mismatch, "upstream_malformed_event");
    }
    FieldReader messageFields(*message, "message_start.message", mismatch);
    if (const json* usage = messageFields.member("usage")) state.usage = decodeUsage(*usage);
    out.push_back(core::ChatEvent::start(messageFields.stringOr("id"), messageFields.stringOr("model")));
  } else if (name == "content_block_start") {
    const auto index = blockIndex();
    const json* block = fields.object("content_block");
    if (index && block != nullptr) {
      if (state.toolIndexOfBlock.size() <= *index) state.toolIndexOfBlock.resize(*index + 1, -1);
      FieldReader blockFields(*block, "content_block_start.content_block", mismatch);
      if (blockFields.stringOr("type") == "tool_use") {
        const int toolIndex = state.toolCalls++;
        state.toolIndexOfBlock[*index] = toolIndex;
        out.push_back(core::ChatEvent::toolCallStart(toolIndex, blockFields.stringOr("id"), blockFields.stringOr("name")));
      }
    }
  } else if (name == "content_block_delta") {
    const auto index = blockIndex();
    const json* delta = fields.object("delta");
    if (index && delta != nullptr) {
      FieldReader deltaFields(*delta, "content_block_delta.delta", mismatch);
      const std::string type = deltaFields.stringOr("type");
      core::ChatEvent event;
      if (type == "text_delta") {
        event = core::ChatEvent::textDelta(deltaFields.stringOr("text"));
      } else if (type == "thinking_delta") {
        event = core::ChatEvent::textDelta(deltaFields.stringOr("thinking"));
        event.kind = core::EventKind::ThinkingDelta;
      } else if (type == "signature_delta") {
        event = core::ChatEvent::textDelta(deltaFields.stringOr("signature"));
        event.kind = core::EventKind::SignatureDelta;
      } else if (type == "input_json_delta") {
        const int toolIndex = *index < state.toolIndexOfBlock.size() ? state.toolIndexOfBlock[*index] : -1;
        if (toolIndex >= 0) event = core::ChatEvent::toolCallDelta(toolIndex, deltaFields.stringOr("partial_json"));
      }
      // Citations and future delta types carry nothing the IR maps.
      if (!mismatch && !event.text.empty()) out.push_back(std::move(event));
    }
  } else if (name == "content_block_stop") {
    const auto index = blockIndex();
    if (index && *index < state.toolIndexOfBlock.size() && state.toolIndexOfBlock[*index] >= 0) {
      core::ChatEvent end;
      end.kind = core::EventKind::ToolCallEnd;
      end.toolIndex = state.toolIndexOfBlock[*index];
      out.push_back(end);
    }
  } else if (name == "message_delta") {
    // Token counts only account: usage of the wrong shape leaves the counts as they were.
    if (const json* usage = fields.member("usage"); usage != nullptr && usage->is_object()) {
      // Counts here are cumulative; input counts, when repeated, replace the start's.
      const core::Usage update = decodeUsage(*usage);
      if (update.present) {
        state.usage.outputTokens = update.outputTokens;
        if (usage->contains("input_tokens")) {
          state.usage.inputTokens = update.inputTokens;
          state.usage.cachedInputTokens = update.cachedInputTokens;
          state.usage.cacheCreationInputTokens = update.cacheCreationInputTokens;
        }
        state.usage.present = true;
      }
    }
    if (const json* delta = fields.object("delta")) {
      if (const std::string* stop = FieldReader(*delta, "message_delta.delta", mismatch).string("stop_reason")) {
        out.push_back(core::ChatEvent::finished(parseStopReason(*stop)));
      }
    }
  } else if (name == "message_stop") {
    state.stopped = true;
    out.push_back(core::ChatEvent::usageReport(state.usage));
  }
  // Unknown event types are to be ignored.
  if (mismatch) return core::malformedUpstream(*mismatch, "upstream_malformed_event");
  return std::nullopt;
}

bool decodeDeltaText(std::string_view data, const EventDecodeState& state, std::vector<core::ChatEvent>& out) {
  bool mismatch = false;
  const auto fields = core::TextFields::ofValidObject(data, mismatch);
  if (!fields) return false;
  const auto index = fields->integer("index");
  if (!index || *index < 0 || *index >= kMaxContentBlocks) return false;
  const auto delta = fields->object("delta");
  if (!delta || delta->hasEscapedKey()) return false;
  const std::string type = delta->string("type").value_or("");
  core::ChatEvent event;
  if (type == "text_delta") {
    event = core::ChatEvent::textDelta(delta->string("text").value_or(""));
  } else if (type == "thinking_delta") {
    event = core::ChatEvent::textDelta(delta->string("thinking").value_or(""));
    event.kind = core::EventKind::ThinkingDelta;
  } else if (type == "signature_delta") {
    event = core::ChatEvent::textDelta(delta->string("signature").value_or(""));
    event.kind = core::EventKind::SignatureDelta;
  } else if (type == "input_json_delta") {
    const auto block = static_cast<std::size_t>(*index);
    const int toolIndex = block < state.toolIndexOfBlock.size() ? state.toolIndexOfBlock[block] : -1;
    if (toolIndex >= 0) event = core::ChatEvent::toolCallDelta(toolIndex, delta->string("partial_json").value_or(""));
  }
  if (mismatch) return false;
  if (!event.text.empty()) out.push_back(std::move(event));
  return true;
}

GatewayError decodeError(int status, std::string_view body) {
  GatewayError error = core::upstreamHttpError(status);
  // Claude's 529 overloaded_error (and 503) mean "come back later", not a broken upstream.
  if (status == 529 || status == 503) error.kind = ErrorKind::Unavailable;
  const json parsed = core::parseJson(body);
  std::optional<core::TypeMismatch> ignored;
  if (const json* detail = FieldReader(parsed, "", ignored).object("error")) {
    FieldReader fields(*detail, "error", ignored);
    if (const std::string* message = fields.string("message")) error.message = *message;
    if (const std::string* type = fields.string("type")) {
      error.upstreamType = *type;
      error.code = *type;
    }
  }
  return error;
}

}  // namespace llmgate::providers::anthropic
