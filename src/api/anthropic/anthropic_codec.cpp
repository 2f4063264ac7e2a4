#include "llmgate/api/anthropic_codec.hpp"

#include <set>

#include "llmgate/core/json_text.hpp"
#include "../request_fields.hpp"

namespace llmgate::api::anthropic {
namespace {

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;

using core::FieldReader;

// A message never has this many content blocks; an index past it is not trusted to size state.
constexpr std::int64_t kMaxContentBlocks = 4096;

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

json parseArguments(const std::string& arguments) {
  json input = json::parse(arguments.empty() ? "{}" : arguments, nullptr, false);
  // Anthropic wants an object; arguments that are not one are kept rather than dropped.
  if (input.is_discarded() || !input.is_object()) return json{{"arguments", arguments}};
  return input;
}

}  // namespace

// ---- client side -------------------------------------------------------------------------

core::Result<core::ChatRequest> decodeRequest(const json& body, bool requireMaxTokens) {
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
      out += core::dumpJson(parseArguments(call.arguments));
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

// ---- upstream side -----------------------------------------------------------------------

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
                            {"input", parseArguments(part.arguments)}});
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

core::Result<core::ChatResponse> decodeResponse(const json& body) {
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(body, "message", mismatch);
  const json* content = fields.array("content");
  if (content == nullptr) {
    return mismatch ? core::malformedUpstream(*mismatch)
                    : GatewayError::make(ErrorKind::Protocol, "upstream_malformed_response", "upstream message has no content array");
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

}  // namespace llmgate::api::anthropic
