#include "llmgate/api/anthropic_codec.hpp"

#include <set>

#include "llmgate/core/json_text.hpp"
#include "../request_fields.hpp"
#include "llmgate/wire/wire.hpp"

namespace llmgate::api::anthropic {
namespace {

using wire::anthropic::stopReasonName;
using wire::anthropic::toolInput;

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;

using core::FieldReader;


// Text of a string or of the text blocks of an array (a tool_result's content, a system
// message's). Blocks of other types (images, Claude Code's tool_reference after a tool search)
// have no place in the IR's text and are left out: the answer goes on without them.
std::optional<GatewayError> textOfBlocks(const json& content, const std::string& path, std::string& out) {
  if (content.is_string()) {
    out = content.get_ref<const std::string&>();
    return std::nullopt;
  }
  if (!content.is_array()) return fieldError(path, path + ": expected string or array of blocks, got " + typeName(content));
  std::optional<core::TypeMismatch> mismatch;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const std::string blockPath = path + "[" + std::to_string(i) + "]";
    if (!content[i].is_object()) return fieldError(blockPath, blockPath + ": expected a block object, got " + typeName(content[i]));
    FieldReader fields(content[i], blockPath, mismatch);
    const std::string* type = fields.string("type");
    if (type == nullptr) return requiredError(mismatch, fields, "type");
    if (*type != "text") continue;
    const std::string* text = fields.string("text");
    if (text == nullptr) return requiredError(mismatch, fields, "text");
    out += *text;
  }
  return std::nullopt;
}

std::optional<GatewayError> readImage(const FieldReader& block, core::ContentPart& out) {
  std::optional<core::TypeMismatch> mismatch;
  const std::string sourcePath = block.pathOf("source");
  const json* source = block.object("source");
  if (source == nullptr) return block.failed() ? std::nullopt : std::optional(missingField(sourcePath));
  FieldReader fields(*source, sourcePath, mismatch);
  const std::string* type = fields.string("type");
  out.kind = core::PartKind::Image;
  if (type != nullptr && *type == "base64") {
    const std::string* media = fields.string("media_type");
    const std::string* data = fields.string("data");
    if (mismatch) return mismatchError(*mismatch);
    if (media == nullptr || data == nullptr) return fieldError(sourcePath, sourcePath + ": media_type and data required");
    out.imageUrl = "data:" + *media + ";base64," + *data;
    return std::nullopt;
  }
  if (type != nullptr && *type == "url") {
    const std::string* url = fields.string("url");
    if (url == nullptr) return requiredError(mismatch, fields, "url");
    out.imageUrl = *url;
    return std::nullopt;
  }
  if (mismatch) return mismatchError(*mismatch);
  return fieldError(fields.pathOf("type"), fields.pathOf("type") + ": expected base64 or url");
}

std::optional<GatewayError> readMessage(const json& message, std::size_t index, std::set<std::string>& toolUseIds,
                                        core::ChatRequest& request) {
  const std::string path = "messages[" + std::to_string(index) + "]";
  if (!message.is_object()) return fieldError(path, path + ": expected object, got " + typeName(message));
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(message, path, mismatch);
  const std::string* role = fields.string("role");
  if (mismatch) return mismatchError(*mismatch);
  if (role == nullptr || (*role != "user" && *role != "assistant" && *role != "system")) {
    return fieldError(fields.pathOf("role"), fields.pathOf("role") + ": expected \"user\", \"assistant\" or \"system\"");
  }
  const json* content = fields.member("content");
  if (content == nullptr) return missingField(fields.pathOf("content"));
  if (*role == "system") {
    // A system message between the turns (Claude Code sends one after the first user turn):
    // kept at its place; each upstream puts it where its API allows.
    std::string text;
    if (auto error = textOfBlocks(*content, fields.pathOf("content"), text)) return error;
    if (!text.empty()) {
      core::Message system;
      system.role = core::Role::System;
      system.content.push_back(core::ContentPart::makeText(std::move(text)));
      request.messages.push_back(std::move(system));
    }
    return std::nullopt;
  }
  const bool isUser = *role == "user";
  core::Message out;
  out.role = isUser ? core::Role::User : core::Role::Assistant;
  std::vector<core::ContentPart> toolResults;
  if (content->is_string()) {
    out.content.push_back(core::ContentPart::makeText(content->get_ref<const std::string&>()));
  } else if (content->is_array()) {
    for (std::size_t i = 0; i < content->size(); ++i) {
      const json& item = (*content)[i];
      const std::string blockPath = path + ".content[" + std::to_string(i) + "]";
      if (!item.is_object()) return fieldError(blockPath, blockPath + ": expected a block object, got " + typeName(item));
      FieldReader block(item, blockPath, mismatch);
      const std::string* type = block.string("type");
      if (type == nullptr) return requiredError(mismatch, block, "type");
      if (*type == "text") {
        const std::string* text = block.string("text");
        if (text == nullptr) return requiredError(mismatch, block, "text");
        out.content.push_back(core::ContentPart::makeText(*text));
      } else if (*type == "image" && isUser) {
        core::ContentPart image;
        if (auto error = readImage(block, image)) return error;
        out.content.push_back(std::move(image));
      } else if (*type == "tool_use" && !isUser) {
        const std::string* id = block.string("id");
        const std::string* name = block.string("name");
        if (id == nullptr) return requiredError(mismatch, block, "id");
        if (name == nullptr) return requiredError(mismatch, block, "name");
        const json* input = block.member("input");
        toolUseIds.insert(*id);
        out.content.push_back(core::ContentPart::makeToolCall(*id, *name, input == nullptr ? "{}" : input->dump()));
      } else if (*type == "tool_result" && isUser) {
        const std::string* id = block.string("tool_use_id");
        if (id == nullptr) return requiredError(mismatch, block, "tool_use_id");
        if (toolUseIds.count(*id) == 0) {
          return fieldError(block.pathOf("tool_use_id"),
                            block.pathOf("tool_use_id") + ": no earlier tool_use block has id \"" + core::clipped(*id) + "\"");
        }
        std::string text;
        if (const json* resultContent = block.member("content")) {
          if (auto error = textOfBlocks(*resultContent, block.pathOf("content"), text)) return error;
        }
        core::ContentPart result = core::ContentPart::makeToolResult(*id, std::move(text));
        result.isError = block.boolean("is_error").value_or(false);
        toolResults.push_back(std::move(result));
      } else if ((*type == "thinking" || *type == "redacted_thinking") && !isUser) {
        core::ContentPart thinking;
        thinking.kind = core::PartKind::Thinking;
        if (*type == "thinking") {
          thinking.text = block.stringOr("thinking");
          thinking.signature = block.stringOr("signature");
        } else {
          thinking.signature = block.stringOr("data");
        }
        out.content.push_back(std::move(thinking));
      } else {
        return fieldError(block.pathOf("type"), block.pathOf("type") + ": block type \"" + core::clipped(*type) + "\" is not supported in " +
                                                    *role + " messages by this route");
      }
      if (mismatch) return mismatchError(*mismatch);
    }
  } else {
    return fieldError(fields.pathOf("content"),
                      fields.pathOf("content") + ": expected string or array of blocks, got " + typeName(*content));
  }
  // Tool results answer the previous assistant turn: in the IR they are a tool turn of their own.
  const bool answersTools = !toolResults.empty();
  if (answersTools) {
    core::Message tool;
    tool.role = core::Role::Tool;
    tool.content = std::move(toolResults);
    request.messages.push_back(std::move(tool));
  }
  if (!out.content.empty() || !answersTools) request.messages.push_back(std::move(out));
  return std::nullopt;
}

std::optional<GatewayError> readTools(const json& tools, core::ChatRequest& request) {
  std::optional<core::TypeMismatch> mismatch;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& tool = tools[i];
    const std::string path = "tools[" + std::to_string(i) + "]";
    if (!tool.is_object()) return fieldError(path, path + ": expected object, got " + typeName(tool));
    FieldReader fields(tool, path, mismatch);
    const std::string* type = fields.string("type");
    if (type != nullptr && *type != "custom") {
      return fieldError(fields.pathOf("type"), fields.pathOf("type") + ": server tool \"" + core::clipped(*type) + "\" is not supported by this route");
    }
    const std::string* name = fields.string("name");
    if (name == nullptr) return requiredError(mismatch, fields, "name");
    const json* schema = fields.object("input_schema");
    if (schema == nullptr) {
      if (mismatch) return mismatchError(*mismatch);
      return fieldError(fields.pathOf("input_schema"), fields.pathOf("input_schema") + ": required JSON Schema object",
                        "missing_field");
    }
    core::Tool out;
    out.name = *name;
    out.description = fields.stringOr("description");
    out.parameters = *schema;
    out.strict = fields.boolean("strict");
    if (mismatch) return mismatchError(*mismatch);
    request.tools.push_back(std::move(out));
  }
  return std::nullopt;
}

std::optional<GatewayError> readToolChoice(const json& choice, core::ChatRequest& request) {
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(choice, "tool_choice", mismatch);
  const std::string* type = fields.string("type");
  const std::string* name = fields.string("name");
  const std::optional<bool> serial = fields.boolean("disable_parallel_tool_use");
  if (mismatch) return mismatchError(*mismatch);
  core::ToolChoice out;
  if (type == nullptr) return fieldError("tool_choice", "tool_choice: expected {type: auto|any|tool|none}");
  if (*type == "auto") {
    out.mode = core::ToolChoice::Mode::Auto;
  } else if (*type == "any") {
    out.mode = core::ToolChoice::Mode::Required;
  } else if (*type == "none") {
    out.mode = core::ToolChoice::Mode::None;
  } else if (*type == "tool" && name != nullptr) {
    out.mode = core::ToolChoice::Mode::Function;
    out.functionName = *name;
  } else {
    return fieldError("tool_choice", "tool_choice: expected {type: auto|any|tool|none} (tool needs a name)");
  }
  if (serial.value_or(false)) request.parallelToolCalls = false;
  request.toolChoice = out;
  return std::nullopt;
}

// Anthropic counts cached and cache-written input apart from input_tokens.
void appendUsage(std::string& out, const core::Usage& usage) {
  out += "{\"input_tokens\":";
  out += std::to_string(usage.inputTokens - usage.cachedInputTokens - usage.cacheCreationInputTokens);
  out += ",\"output_tokens\":";
  out += std::to_string(usage.outputTokens);
  out += ",\"cache_creation_input_tokens\":";
  out += std::to_string(usage.cacheCreationInputTokens);
  out += ",\"cache_read_input_tokens\":";
  out += std::to_string(usage.cachedInputTokens);
  out += "}";
}

}  // namespace

// ---- client side -------------------------------------------------------------------------

core::Result<core::ChatRequest> decodeRequest(const json& body, bool requireMaxTokens,
                                              const std::vector<core::Message>& earlier) {
  if (!body.is_object()) return fieldError("", "request body must be a JSON object, got " + typeName(body));
  core::ChatRequest request;
  request.sourceDialect = core::Dialect::Anthropic;
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(body, "", mismatch);
  const std::string* model = fields.string("model");
  request.maxTokens = fields.integer("max_tokens");
  if (mismatch) return mismatchError(*mismatch);
  if (model == nullptr || model->empty()) return fieldError("model", "model: required non-empty string", "missing_field");
  request.model = *model;
  if (!request.maxTokens && requireMaxTokens) return fieldError("max_tokens", "max_tokens: required integer", "missing_field");
  if (request.maxTokens && *request.maxTokens < 1) return fieldError("max_tokens", "max_tokens: must be at least 1");

  if (const json* system = fields.member("system")) {
    if (system->is_string()) {
      request.system.push_back(system->get_ref<const std::string&>());
    } else if (system->is_array()) {
      for (std::size_t i = 0; i < system->size(); ++i) {
        const std::string blockPath = "system[" + std::to_string(i) + "]";
        const std::string* text = FieldReader((*system)[i], blockPath, mismatch).string("text");
        if (mismatch) return mismatchError(*mismatch);
        if (!(*system)[i].is_object() || text == nullptr) return fieldError(blockPath, blockPath + ": expected a text block");
        request.system.push_back(*text);
      }
    } else {
      return fieldError("system", "system: expected string or array of text blocks, got " + typeName(*system));
    }
  }
  const json* messages = fields.array("messages");
  if (mismatch) return mismatchError(*mismatch);
  if (messages == nullptr || messages->empty()) {
    return fieldError("messages", "messages: required non-empty array", "missing_field");
  }
  std::set<std::string> toolUseIds;
  for (const auto& message : earlier) {
    for (const auto& part : message.content) {
      if (part.kind == core::PartKind::ToolCall) toolUseIds.insert(part.toolCallId);
    }
  }
  for (std::size_t i = 0; i < messages->size(); ++i) {
    if (auto error = readMessage((*messages)[i], i, toolUseIds, request)) return std::move(*error);
  }
  if (const json* tools = fields.array("tools")) {
    if (auto error = readTools(*tools, request)) return std::move(*error);
  }
  if (const json* choice = fields.member("tool_choice")) {
    if (auto error = readToolChoice(*choice, request)) return std::move(*error);
  }
  if (const json* stops = fields.array("stop_sequences")) {
    for (const auto& item : *stops) {
      if (!item.is_string()) return fieldError("stop_sequences", "stop_sequences: expected array of strings");
      request.stop.push_back(item.get_ref<const std::string&>());
    }
  }
  request.temperature = fields.number("temperature");
  request.topP = fields.number("top_p");
  request.topK = fields.integer("top_k");
  request.stream = fields.boolean("stream").value_or(false);
  if (const json* metadata = fields.object("metadata")) {
    request.user = FieldReader(*metadata, "metadata", mismatch).stringOr("user_id");
  }
  if (const json* config = fields.object("output_config")) {
    request.reasoningEffort = FieldReader(*config, "output_config", mismatch).stringOr("effort");
  }
  if (const json* thinking = fields.object("thinking")) {
    // Kept in `extra` as sent for Anthropic upstreams; other providers read the IR. "adaptive"
    // leaves the budget to the model: upstreams that want one get it from the effort.
    FieldReader thinkingFields(*thinking, "thinking", mismatch);
    const std::string* type = thinkingFields.string("type");
    if (type == nullptr) return requiredError(mismatch, thinkingFields, "type");
    auto budget = thinkingFields.integer("budget_tokens");
    if (!budget && *type == "adaptive") budget = core::thinkingBudgetForEffort(request.reasoningEffort);
    request.thinking = core::ThinkingConfig{*type != "disabled", budget};
  }
  if (mismatch) return mismatchError(*mismatch);
  // Streams always end with usage in this dialect.
  request.includeUsage = true;
  collectExtras(body, {"model", "max_tokens", "system", "messages", "tools", "tool_choice", "stop_sequences",
                       "temperature", "top_p", "top_k", "stream", "metadata"},
                request.extra);
  return request;
}

std::string encodeResponse(const core::ChatResponse& response) {
  // Written as text, not as a DOM built to be dumped (see the OpenAI encoder).
  std::string out;
  out.reserve(256);
  out += "{\"id\":";
  core::appendJsonString(out, response.id);
  out += ",\"type\":\"message\",\"role\":\"assistant\",\"model\":";
  core::appendJsonString(out, response.model);
  out += ",\"content\":[";
  bool first = true;
  const auto nextBlock = [&] {
    if (!first) out.push_back(',');
    first = false;
  };
  core::FinishReason finish = core::FinishReason::Stop;
  for (const auto& choice : response.choices) {
    if (choice.index != 0) continue;  // one answer per message in this dialect
    if (!choice.thinking.empty() || !choice.thinkingSignature.empty()) {
      nextBlock();
      out += "{\"type\":\"thinking\",\"thinking\":";
      core::appendJsonString(out, choice.thinking);
      out += ",\"signature\":";
      core::appendJsonString(out, choice.thinkingSignature);
      out.push_back('}');
    }
    const std::string& text = choice.text.empty() ? choice.refusal : choice.text;
    if (!text.empty()) {
      nextBlock();
      out += "{\"type\":\"text\",\"text\":";
      core::appendJsonString(out, text);
      out.push_back('}');
    }
    for (const auto& call : choice.toolCalls) {
      nextBlock();
      out += "{\"type\":\"tool_use\",\"id\":";
      core::appendJsonString(out, call.id);
      out += ",\"name\":";
      core::appendJsonString(out, call.name);
      out += ",\"input\":";
      out += core::dumpJson(toolInput(call.arguments));
      out.push_back('}');
    }
    finish = choice.finish;
  }
  out += "],\"stop_reason\":\"";
  out += stopReasonName(finish);
  out += "\",\"stop_sequence\":null,\"usage\":";
  appendUsage(out, response.usage);
  out.push_back('}');
  return out;
}

std::string_view errorType(const GatewayError& error) {
  if (error.status == 529) return "overloaded_error";
  switch (error.kind) {
    case ErrorKind::InvalidRequest: return "invalid_request_error";
    case ErrorKind::Authentication: return "authentication_error";
    case ErrorKind::PermissionDenied: return "permission_error";
    case ErrorKind::NotFound: return "not_found_error";
    case ErrorKind::RequestTooLarge: return "request_too_large";
    case ErrorKind::RateLimited: return "rate_limit_error";
    case ErrorKind::Timeout: return "timeout_error";
    case ErrorKind::Unavailable: return "overloaded_error";
    case ErrorKind::Upstream:
    case ErrorKind::Connect:
    case ErrorKind::Protocol:
    case ErrorKind::Cancelled:
    case ErrorKind::Internal: return "api_error";
  }
  return "api_error";
}

std::string encodeError(const GatewayError& error) {
  std::string type = error.upstreamType.empty() ? std::string(errorType(error)) : error.upstreamType;
  return core::dumpJson(json{{"type", "error"}, {"error", {{"type", type}, {"message", error.message}}}});
}

// ---- stream encoder ----------------------------------------------------------------------

StreamEncoder::StreamEncoder(std::string id, std::string model) : id_(std::move(id)), model_(std::move(model)) {}

void StreamEncoder::event(std::string_view name, const std::string& json, std::string& out) {
  out += "event: ";
  out += name;
  out += "\ndata: ";
  out += json;
  out += "\n\n";
}

void StreamEncoder::ensureStarted(std::string& out) {
  if (started_) return;
  started_ = true;
  std::string start = "{\"type\":\"message_start\",\"message\":{\"id\":";
  core::appendJsonString(start, id_);
  start += ",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":";
  core::appendJsonString(start, model_);
  start += ",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":";
  appendUsage(start, usage_);
  start += "}}";
  event("message_start", start, out);
}

void StreamEncoder::openBlock(Block kind, std::string& out, const core::ChatEvent* toolStart) {
  closeBlock(out);
  block_ = kind;
  ++blockIndex_;
  json block;
  switch (kind) {
    case Block::Text: block = {{"type", "text"}, {"text", ""}}; break;
    case Block::Thinking: block = {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}; break;
    case Block::ToolUse:
      block = {{"type", "tool_use"}, {"id", toolStart->id}, {"name", toolStart->name}, {"input", json::object()}};
      break;
    case Block::None: return;
  }
  event("content_block_start",
        core::dumpJson(json{{"type", "content_block_start"}, {"index", blockIndex_}, {"content_block", std::move(block)}}), out);
  // Anthropic sends one ping after the first block starts; clients expect to skip it.
  if (blockIndex_ == 0) event("ping", "{\"type\":\"ping\"}", out);
}

void StreamEncoder::closeBlock(std::string& out) {
  if (block_ == Block::None) return;
  event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":" + std::to_string(blockIndex_) + "}", out);
  block_ = Block::None;
}

void StreamEncoder::encode(const core::ChatEvent& e, std::string& out) {
  if (e.choice != 0 || finished_) return;  // this dialect carries one answer
  if (e.kind == core::EventKind::Start) {
    if (!e.id.empty() && !started_) id_ = e.id;
    if (!e.name.empty() && !started_) model_ = e.name;
    ensureStarted(out);
    return;
  }
  if (e.kind == core::EventKind::UsageReport) {
    usage_ = e.usage;
    return;
  }
  ensureStarted(out);
  auto delta = [&](const char* type, const char* field, const std::string& text) {
    std::string json = "{\"type\":\"content_block_delta\",\"index\":" + std::to_string(blockIndex_) +
                       ",\"delta\":{\"type\":\"" + type + "\",\"" + field + "\":";
    core::appendJsonString(json, text);
    json += "}}";
    event("content_block_delta", json, out);
  };
  switch (e.kind) {
    case core::EventKind::TextDelta:
    case core::EventKind::RefusalDelta:
      if (e.text.empty()) return;
      if (block_ != Block::Text) openBlock(Block::Text, out);
      delta("text_delta", "text", e.text);
      return;
    case core::EventKind::ThinkingDelta:
      if (e.text.empty()) return;
      if (block_ != Block::Thinking) openBlock(Block::Thinking, out);
      delta("thinking_delta", "thinking", e.text);
      return;
    case core::EventKind::SignatureDelta:
      if (block_ != Block::Thinking) openBlock(Block::Thinking, out);
      delta("signature_delta", "signature", e.text);
      return;
    case core::EventKind::ToolCallStart:
      openBlock(Block::ToolUse, out, &e);
      return;
    case core::EventKind::ToolCallDelta:
      if (block_ != Block::ToolUse || e.text.empty()) return;
      delta("input_json_delta", "partial_json", e.text);
      return;
    case core::EventKind::ToolCallEnd:
      if (block_ == Block::ToolUse) closeBlock(out);
      return;
    case core::EventKind::Finish:
      closeBlock(out);
      stop_ = e.finish;
      return;
    case core::EventKind::Start:
    case core::EventKind::UsageReport:
      return;
  }
}

void StreamEncoder::finish(std::string& out) {
  if (finished_) return;
  ensureStarted(out);
  closeBlock(out);
  finished_ = true;
  std::string delta = "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"";
  delta += stopReasonName(stop_);
  delta += "\",\"stop_sequence\":null},\"usage\":";
  appendUsage(delta, usage_);
  delta.push_back('}');
  event("message_delta", delta, out);
  event("message_stop", "{\"type\":\"message_stop\"}", out);
}

void StreamEncoder::encodeError(const GatewayError& error, std::string& out) {
  finished_ = true;
  event("error", anthropic::encodeError(error), out);
}

}  // namespace llmgate::api::anthropic
