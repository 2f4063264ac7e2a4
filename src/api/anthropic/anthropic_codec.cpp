#include "llmgate/api/anthropic_codec.hpp"

#include <set>

#include "llmgate/core/json_text.hpp"
#include "../request_fields.hpp"

namespace llmgate::api::anthropic {
namespace {

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;

const std::string* stringField(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

// Text of a tool_result's content: a string or text blocks.
std::optional<GatewayError> toolResultText(const json& content, const std::string& path, std::string& out) {
  if (content.is_null()) return std::nullopt;
  if (content.is_string()) {
    out = content.get<std::string>();
    return std::nullopt;
  }
  if (!content.is_array()) return fieldError(path, path + ": expected string or array of blocks");
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& block = content[i];
    const std::string* type = block.is_object() ? stringField(block, "type") : nullptr;
    if (type == nullptr || *type != "text" || stringField(block, "text") == nullptr) {
      return fieldError(path + "[" + std::to_string(i) + "]",
                        path + "[" + std::to_string(i) + "]: only text blocks are supported inside tool_result here");
    }
    out += block["text"].get<std::string>();
  }
  return std::nullopt;
}

std::optional<GatewayError> readImage(const json& block, const std::string& path, core::ContentPart& out) {
  auto source = block.find("source");
  if (source == block.end() || !source->is_object()) return fieldError(path + ".source", path + ".source: required object");
  const std::string* type = stringField(*source, "type");
  out.kind = core::PartKind::Image;
  if (type != nullptr && *type == "base64") {
    const std::string* media = stringField(*source, "media_type");
    const std::string* data = stringField(*source, "data");
    if (media == nullptr || data == nullptr) return fieldError(path + ".source", path + ".source: media_type and data required");
    out.imageUrl = "data:" + *media + ";base64," + *data;
    return std::nullopt;
  }
  if (type != nullptr && *type == "url" && stringField(*source, "url") != nullptr) {
    out.imageUrl = (*source)["url"].get<std::string>();
    return std::nullopt;
  }
  return fieldError(path + ".source.type", path + ".source.type: expected base64 or url");
}

std::optional<GatewayError> readMessage(const json& message, std::size_t index, std::set<std::string>& toolUseIds,
                                        core::ChatRequest& request) {
  const std::string path = "messages[" + std::to_string(index) + "]";
  if (!message.is_object()) return fieldError(path, path + ": expected object, got " + typeName(message));
  const std::string* role = stringField(message, "role");
  if (role == nullptr || (*role != "user" && *role != "assistant")) {
    return fieldError(path + ".role", path + ".role: expected \"user\" or \"assistant\"");
  }
  const bool isUser = *role == "user";
  auto contentIt = message.find("content");
  if (contentIt == message.end()) return fieldError(path + ".content", path + ".content: required");
  const json& content = *contentIt;
  core::Message out;
  out.role = isUser ? core::Role::User : core::Role::Assistant;
  std::vector<core::ContentPart> toolResults;
  if (content.is_string()) {
    out.content.push_back(core::ContentPart::makeText(content.get<std::string>()));
  } else if (content.is_array()) {
    for (std::size_t i = 0; i < content.size(); ++i) {
      const json& block = content[i];
      const std::string blockPath = path + ".content[" + std::to_string(i) + "]";
      const std::string* type = block.is_object() ? stringField(block, "type") : nullptr;
      if (type == nullptr) return fieldError(blockPath, blockPath + ": expected a block with a string \"type\"");
      if (*type == "text") {
        const std::string* text = stringField(block, "text");
        if (text == nullptr) return fieldError(blockPath + ".text", blockPath + ".text: expected string");
        out.content.push_back(core::ContentPart::makeText(*text));
      } else if (*type == "image" && isUser) {
        core::ContentPart image;
        if (auto error = readImage(block, blockPath, image)) return error;
        out.content.push_back(std::move(image));
      } else if (*type == "tool_use" && !isUser) {
        const std::string* id = stringField(block, "id");
        const std::string* name = stringField(block, "name");
        if (id == nullptr || name == nullptr) return fieldError(blockPath, blockPath + ": tool_use needs id and name");
        auto input = block.find("input");
        toolUseIds.insert(*id);
        out.content.push_back(core::ContentPart::makeToolCall(
            *id, *name, input == block.end() || input->is_null() ? "{}" : input->dump()));
      } else if (*type == "tool_result" && isUser) {
        const std::string* id = stringField(block, "tool_use_id");
        if (id == nullptr) return fieldError(blockPath + ".tool_use_id", blockPath + ".tool_use_id: required string");
        if (toolUseIds.count(*id) == 0) {
          return fieldError(blockPath + ".tool_use_id",
                            blockPath + ".tool_use_id: no earlier tool_use block has id \"" + *id + "\"");
        }
        std::string text;
        if (block.contains("content")) {
          if (auto error = toolResultText(block["content"], blockPath + ".content", text)) return error;
        }
        core::ContentPart result = core::ContentPart::makeToolResult(*id, std::move(text));
        result.isError = block.value("is_error", false);
        toolResults.push_back(std::move(result));
      } else if ((*type == "thinking" || *type == "redacted_thinking") && !isUser) {
        core::ContentPart thinking;
        thinking.kind = core::PartKind::Thinking;
        if (*type == "thinking") {
          thinking.text = block.value("thinking", std::string());
          thinking.signature = block.value("signature", std::string());
        } else {
          thinking.signature = block.value("data", std::string());
        }
        out.content.push_back(std::move(thinking));
      } else {
        return fieldError(blockPath + ".type", blockPath + ".type: block type \"" + *type + "\" is not supported in " +
                                                   *role + " messages by this route");
      }
    }
  } else {
    return fieldError(path + ".content", path + ".content: expected string or array of blocks, got " + typeName(content));
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
  if (!tools.is_array()) return fieldError("tools", "tools: expected array");
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& tool = tools[i];
    const std::string path = "tools[" + std::to_string(i) + "]";
    if (!tool.is_object()) return fieldError(path, path + ": expected object");
    const std::string* type = stringField(tool, "type");
    if (type != nullptr && *type != "custom") {
      return fieldError(path + ".type", path + ".type: server tool \"" + *type + "\" is not supported by this route");
    }
    const std::string* name = stringField(tool, "name");
    if (name == nullptr) return fieldError(path + ".name", path + ".name: required string");
    auto schema = tool.find("input_schema");
    if (schema == tool.end() || !schema->is_object()) {
      return fieldError(path + ".input_schema", path + ".input_schema: required JSON Schema object");
    }
    core::Tool out;
    out.name = *name;
    out.description = tool.value("description", std::string());
    out.parameters = *schema;
    if (tool.contains("strict") && tool["strict"].is_boolean()) out.strict = tool["strict"].get<bool>();
    request.tools.push_back(std::move(out));
  }
  return std::nullopt;
}

std::optional<GatewayError> readToolChoice(const json& choice, core::ChatRequest& request) {
  const std::string* type = choice.is_object() ? stringField(choice, "type") : nullptr;
  core::ToolChoice out;
  if (type == nullptr) return fieldError("tool_choice", "tool_choice: expected {type: auto|any|tool|none}");
  if (*type == "auto") {
    out.mode = core::ToolChoice::Mode::Auto;
  } else if (*type == "any") {
    out.mode = core::ToolChoice::Mode::Required;
  } else if (*type == "none") {
    out.mode = core::ToolChoice::Mode::None;
  } else if (*type == "tool" && stringField(choice, "name") != nullptr) {
    out.mode = core::ToolChoice::Mode::Function;
    out.functionName = choice["name"].get<std::string>();
  } else {
    return fieldError("tool_choice", "tool_choice: expected {type: auto|any|tool|none} (tool needs a name)");
  }
  if (choice.value("disable_parallel_tool_use", false)) request.parallelToolCalls = false;
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
  const std::string* model = stringField(body, "model");
  if (model == nullptr || model->empty()) return fieldError("model", "model: required non-empty string");
  request.model = *model;
  if (auto error = readNumber(body, "max_tokens", request.maxTokens)) return std::move(*error);
  if (!request.maxTokens && requireMaxTokens) return fieldError("max_tokens", "max_tokens: required integer");
  if (request.maxTokens && *request.maxTokens < 1) return fieldError("max_tokens", "max_tokens: must be at least 1");

  if (auto system = body.find("system"); system != body.end() && !system->is_null()) {
    if (system->is_string()) {
      request.system.push_back(system->get<std::string>());
    } else if (system->is_array()) {
      for (std::size_t i = 0; i < system->size(); ++i) {
        const json& block = (*system)[i];
        if (!block.is_object() || stringField(block, "text") == nullptr) {
          return fieldError("system[" + std::to_string(i) + "]", "system[" + std::to_string(i) + "]: expected a text block");
        }
        request.system.push_back(block["text"].get<std::string>());
      }
    } else {
      return fieldError("system", "system: expected string or array of text blocks");
    }
  }
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty()) {
    return fieldError("messages", "messages: required non-empty array");
  }
  std::set<std::string> toolUseIds;
  for (std::size_t i = 0; i < messages->size(); ++i) {
    if (auto error = readMessage((*messages)[i], i, toolUseIds, request)) return std::move(*error);
  }
  if (auto it = body.find("tools"); it != body.end() && !it->is_null()) {
    if (auto error = readTools(*it, request)) return std::move(*error);
  }
  if (auto it = body.find("tool_choice"); it != body.end() && !it->is_null()) {
    if (auto error = readToolChoice(*it, request)) return std::move(*error);
  }
  if (auto it = body.find("stop_sequences"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return fieldError("stop_sequences", "stop_sequences: expected array of strings");
    for (const auto& item : *it) {
      if (!item.is_string()) return fieldError("stop_sequences", "stop_sequences: expected array of strings");
      request.stop.push_back(item.get<std::string>());
    }
  }
  if (auto error = readNumber(body, "temperature", request.temperature)) return std::move(*error);
  if (auto error = readNumber(body, "top_p", request.topP)) return std::move(*error);
  if (auto error = readNumber(body, "top_k", request.topK)) return std::move(*error);
  if (auto it = body.find("stream"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return fieldError("stream", "stream: expected boolean");
    request.stream = it->get<bool>();
  }
  if (auto it = body.find("metadata"); it != body.end() && it->is_object()) {
    if (const std::string* user = stringField(*it, "user_id")) request.user = *user;
  }
  if (auto it = body.find("thinking"); it != body.end() && !it->is_null()) {
    // Kept in `extra` as sent for Anthropic upstreams; other providers read the IR.
    if (!it->is_object() || !it->contains("type") || !(*it)["type"].is_string()) {
      return fieldError("thinking", "thinking: expected {type: enabled|disabled, budget_tokens}");
    }
    core::ThinkingConfig thinking;
    thinking.enabled = (*it)["type"] != "disabled";
    if (auto budget = it->find("budget_tokens"); budget != it->end() && budget->is_number_integer()) {
      thinking.budgetTokens = budget->get<std::int64_t>();
    }
    request.thinking = thinking;
  }
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
      out += parseArguments(call.arguments).dump();
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
  return json{{"type", "error"}, {"error", {{"type", type}, {"message", error.message}}}}.dump();
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
        json{{"type", "content_block_start"}, {"index", blockIndex_}, {"content_block", std::move(block)}}.dump(), out);
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
  core::Usage out;
  if (!usage.is_object()) return out;
  out.present = true;
  auto number = [&](const char* key) {
    auto it = usage.find(key);
    return it != usage.end() && it->is_number_integer() ? it->get<std::int64_t>() : std::int64_t{0};
  };
  out.cachedInputTokens = number("cache_read_input_tokens");
  out.cacheCreationInputTokens = number("cache_creation_input_tokens");
  out.inputTokens = number("input_tokens") + out.cachedInputTokens + out.cacheCreationInputTokens;
  out.outputTokens = number("output_tokens");
  return out;
}

core::Result<core::ChatResponse> decodeResponse(const json& body) {
  try {
    if (!body.is_object() || !body.contains("content") || !body["content"].is_array()) {
      return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_response", "upstream message has no content array");
    }
    core::ChatResponse response;
    response.id = body.value("id", std::string());
    response.model = body.value("model", std::string());
    core::Choice choice;
    for (const auto& block : body["content"]) {
      const std::string type = block.value("type", std::string());
      if (type == "text") {
        choice.text += block.value("text", std::string());
      } else if (type == "thinking") {
        choice.thinking += block.value("thinking", std::string());
        choice.thinkingSignature += block.value("signature", std::string());
      } else if (type == "tool_use") {
        choice.toolCalls.push_back({block.value("id", std::string()), block.value("name", std::string()),
                                    block.contains("input") ? block["input"].dump() : "{}"});
      }
    }
    if (auto stop = body.find("stop_reason"); stop != body.end() && stop->is_string()) {
      choice.finish = parseStopReason(stop->get<std::string>());
    }
    response.choices.push_back(std::move(choice));
    if (auto usage = body.find("usage"); usage != body.end()) response.usage = decodeUsage(*usage);
    return response;
  } catch (const json::exception& error) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_response",
                              std::string("upstream message is not valid: ") + error.what());
  }
}

std::optional<GatewayError> decodeEvent(std::string_view name, const json& data, EventDecodeState& state,
                                        std::vector<core::ChatEvent>& out) {
  try {
    if (name == "ping") return std::nullopt;
    if (name == "error") {
      const std::string body = data.dump();
      return decodeError(data.contains("error") && data["error"].value("type", "") == "overloaded_error" ? 529 : 500, body);
    }
    if (name == "message_start") {
      const json& message = data.at("message");
      if (message.contains("usage")) state.usage = decodeUsage(message["usage"]);
      out.push_back(core::ChatEvent::start(message.value("id", std::string()), message.value("model", std::string())));
      return std::nullopt;
    }
    if (name == "content_block_start") {
      const std::size_t index = data.at("index").get<std::size_t>();
      if (state.toolIndexOfBlock.size() <= index) state.toolIndexOfBlock.resize(index + 1, -1);
      const json& block = data.at("content_block");
      if (block.value("type", "") == "tool_use") {
        const int toolIndex = state.toolCalls++;
        state.toolIndexOfBlock[index] = toolIndex;
        out.push_back(core::ChatEvent::toolCallStart(toolIndex, block.value("id", std::string()),
                                                     block.value("name", std::string())));
      }
      return std::nullopt;
    }
    if (name == "content_block_delta") {
      const std::size_t index = data.at("index").get<std::size_t>();
      const json& delta = data.at("delta");
      const std::string type = delta.value("type", std::string());
      core::ChatEvent event;
      if (type == "text_delta") {
        event = core::ChatEvent::textDelta(delta.value("text", std::string()));
      } else if (type == "thinking_delta") {
        event = core::ChatEvent::textDelta(delta.value("thinking", std::string()));
        event.kind = core::EventKind::ThinkingDelta;
      } else if (type == "signature_delta") {
        event = core::ChatEvent::textDelta(delta.value("signature", std::string()));
        event.kind = core::EventKind::SignatureDelta;
      } else if (type == "input_json_delta") {
        const int toolIndex = index < state.toolIndexOfBlock.size() ? state.toolIndexOfBlock[index] : -1;
        if (toolIndex < 0) return std::nullopt;
        event = core::ChatEvent::toolCallDelta(toolIndex, delta.value("partial_json", std::string()));
      } else {
        return std::nullopt;  // citations and future delta types carry nothing the IR maps
      }
      if (!event.text.empty()) out.push_back(std::move(event));
      return std::nullopt;
    }
    if (name == "content_block_stop") {
      const std::size_t index = data.at("index").get<std::size_t>();
      if (index < state.toolIndexOfBlock.size() && state.toolIndexOfBlock[index] >= 0) {
        core::ChatEvent end;
        end.kind = core::EventKind::ToolCallEnd;
        end.toolIndex = state.toolIndexOfBlock[index];
        out.push_back(end);
      }
      return std::nullopt;
    }
    if (name == "message_delta") {
      if (auto usage = data.find("usage"); usage != data.end() && usage->is_object()) {
        // Counts here are cumulative; input counts, when repeated, replace the start's.
        const core::Usage update = decodeUsage(*usage);
        state.usage.outputTokens = update.outputTokens;
        if (usage->contains("input_tokens")) {
          state.usage.inputTokens = update.inputTokens;
          state.usage.cachedInputTokens = update.cachedInputTokens;
          state.usage.cacheCreationInputTokens = update.cacheCreationInputTokens;
        }
        state.usage.present = true;
      }
      if (auto delta = data.find("delta"); delta != data.end() && delta->contains("stop_reason") &&
                                           (*delta)["stop_reason"].is_string()) {
        out.push_back(core::ChatEvent::finished(parseStopReason((*delta)["stop_reason"].get<std::string>())));
      }
      return std::nullopt;
    }
    if (name == "message_stop") {
      state.stopped = true;
      out.push_back(core::ChatEvent::usageReport(state.usage));
      return std::nullopt;
    }
    return std::nullopt;  // unknown event types are to be ignored
  } catch (const json::exception& error) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_event",
                              std::string("upstream event ") + std::string(name) + " is not valid: " + error.what());
  }
}

GatewayError decodeError(int status, std::string_view body) {
  GatewayError error = core::upstreamHttpError(status);
  // Claude's 529 overloaded_error (and 503) mean "come back later", not a broken upstream.
  if (status == 529 || status == 503) error.kind = ErrorKind::Unavailable;
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()) {
    const json& detail = parsed["error"];
    if (const std::string* message = stringField(detail, "message")) error.message = *message;
    if (const std::string* type = stringField(detail, "type")) {
      error.upstreamType = *type;
      error.code = *type;
    }
  }
  return error;
}

}  // namespace llmgate::api::anthropic
