#include "llmgate/api/openai_codec.hpp"

#include <chrono>

#include "../request_fields.hpp"

namespace llmgate::api::openai {
namespace {

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;

// Reads `content`: a string, or an array of typed parts. Text (and refusal) parts become Text
// parts; image parts are accepted only where `allowImages` (user turns).
std::optional<GatewayError> readContentParts(const json& content, const std::string& path, bool allowImages,
                                             std::vector<core::ContentPart>& parts) {
  if (content.is_string()) {
    parts.push_back(core::ContentPart::makeText(content.get<std::string>()));
    return std::nullopt;
  }
  if (!content.is_array()) {
    return fieldError(path, path + ": expected string or array of content parts, got " + typeName(content));
  }
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string partPath = path + "[" + std::to_string(i) + "]";
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      return fieldError(partPath, partPath + ": expected a content part with a string \"type\"");
    }
    const auto& type = part["type"].get_ref<const std::string&>();
    if (type == "text" || type == "refusal") {
      auto it = part.find(type);
      if (it == part.end() || !it->is_string()) return fieldError(partPath, partPath + "." + type + ": expected string");
      parts.push_back(core::ContentPart::makeText(it->get<std::string>()));
    } else if (type == "image_url" && allowImages) {
      auto it = part.find("image_url");
      core::ContentPart image;
      image.kind = core::PartKind::Image;
      if (it != part.end() && it->is_string()) {
        image.imageUrl = it->get<std::string>();
      } else if (it != part.end() && it->is_object() && it->contains("url") && (*it)["url"].is_string()) {
        image.imageUrl = (*it)["url"].get<std::string>();
        if (it->contains("detail") && (*it)["detail"].is_string()) image.imageDetail = (*it)["detail"].get<std::string>();
      } else {
        return fieldError(partPath, partPath + ".image_url: expected {\"url\": string}");
      }
      parts.push_back(std::move(image));
    } else {
      return fieldError(partPath, partPath + ": content part type \"" + type + "\" is not supported here");
    }
  }
  return std::nullopt;
}

// The text of `content` (null counts as empty), for roles that carry text only.
std::optional<GatewayError> readTextContent(const json& content, const std::string& path, std::string& out) {
  if (content.is_null()) return std::nullopt;
  std::vector<core::ContentPart> parts;
  if (auto error = readContentParts(content, path, false, parts)) return error;
  for (const auto& part : parts) out += part.text;
  return std::nullopt;
}

std::optional<GatewayError> readToolCalls(const json& calls, const std::string& path,
                                          std::vector<core::ContentPart>& parts) {
  if (calls.is_null()) return std::nullopt;
  if (!calls.is_array()) return fieldError(path, path + ": expected array");
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const json& call = calls[i];
    const std::string callPath = path + "[" + std::to_string(i) + "]";
    if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) {
      return fieldError(callPath, callPath + ": expected {id, type:\"function\", function:{name, arguments}}");
    }
    const json& function = call["function"];
    std::string id = call.value("id", std::string());
    if (!function.contains("name") || !function["name"].is_string()) {
      return fieldError(callPath, callPath + ".function.name: expected string");
    }
    std::string arguments = "{}";
    if (function.contains("arguments")) {
      if (function["arguments"].is_string()) {
        arguments = function["arguments"].get<std::string>();
      } else if (function["arguments"].is_object()) {
        arguments = function["arguments"].dump();
      } else {
        return fieldError(callPath, callPath + ".function.arguments: expected JSON text");
      }
    }
    parts.push_back(core::ContentPart::makeToolCall(std::move(id), function["name"].get<std::string>(),
                                                    std::move(arguments)));
  }
  return std::nullopt;
}

std::optional<GatewayError> readMessage(const json& message, std::size_t index, core::ChatRequest& request) {
  const std::string path = "messages[" + std::to_string(index) + "]";
  if (!message.is_object()) return fieldError(path, path + ": expected object, got " + typeName(message));
  auto roleIt = message.find("role");
  if (roleIt == message.end() || !roleIt->is_string()) return fieldError(path + ".role", path + ".role: expected string");
  const auto& role = roleIt->get_ref<const std::string&>();
  static const json kNull;
  const json& content = message.contains("content") ? message["content"] : kNull;
  const std::string contentPath = path + ".content";

  if (role == "system" || role == "developer") {
    std::string text;
    if (auto error = readTextContent(content, contentPath, text)) return error;
    request.system.push_back(std::move(text));
    return std::nullopt;
  }
  core::Message out;
  if (message.contains("name") && message["name"].is_string()) out.name = message["name"].get<std::string>();
  if (role == "user") {
    out.role = core::Role::User;
    if (content.is_null()) return fieldError(contentPath, contentPath + ": required for user messages", "missing_field");
    if (auto error = readContentParts(content, contentPath, true, out.content)) return error;
  } else if (role == "assistant") {
    out.role = core::Role::Assistant;
    // DeepSeek-style reasoning sent back by clients that keep it in history.
    if (message.contains("reasoning_content") && message["reasoning_content"].is_string()) {
      core::ContentPart thinking;
      thinking.kind = core::PartKind::Thinking;
      thinking.text = message["reasoning_content"].get<std::string>();
      out.content.push_back(std::move(thinking));
    }
    std::string text;
    if (auto error = readTextContent(content, contentPath, text)) return error;
    if (!text.empty()) out.content.push_back(core::ContentPart::makeText(std::move(text)));
    if (message.contains("tool_calls")) {
      if (auto error = readToolCalls(message["tool_calls"], path + ".tool_calls", out.content)) return error;
    }
  } else if (role == "tool") {
    out.role = core::Role::Tool;
    auto idIt = message.find("tool_call_id");
    if (idIt == message.end() || !idIt->is_string()) {
      return fieldError(path + ".tool_call_id", path + ".tool_call_id: required string", "missing_field");
    }
    std::string text;
    if (auto error = readTextContent(content, contentPath, text)) return error;
    out.content.push_back(core::ContentPart::makeToolResult(idIt->get<std::string>(), std::move(text)));
  } else {
    return fieldError(path + ".role", path + ".role: unsupported role \"" + role + "\"");
  }
  request.messages.push_back(std::move(out));
  return std::nullopt;
}

std::optional<GatewayError> readTools(const json& tools, core::ChatRequest& request) {
  if (!tools.is_array()) return fieldError("tools", "tools: expected array");
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& tool = tools[i];
    const std::string path = "tools[" + std::to_string(i) + "]";
    if (!tool.is_object() || tool.value("type", std::string()) != "function" || !tool.contains("function") ||
        !tool["function"].is_object()) {
      return fieldError(path, path + ": expected {type:\"function\", function:{name, description?, parameters?}}");
    }
    const json& function = tool["function"];
    if (!function.contains("name") || !function["name"].is_string()) {
      return fieldError(path + ".function.name", path + ".function.name: expected string");
    }
    core::Tool out;
    out.name = function["name"].get<std::string>();
    if (function.contains("description") && function["description"].is_string()) {
      out.description = function["description"].get<std::string>();
    }
    if (function.contains("parameters")) {
      if (!function["parameters"].is_object() && !function["parameters"].is_null()) {
        return fieldError(path + ".function.parameters", path + ".function.parameters: expected JSON Schema object");
      }
      out.parameters = function["parameters"];
    }
    if (function.contains("strict") && function["strict"].is_boolean()) out.strict = function["strict"].get<bool>();
    request.tools.push_back(std::move(out));
  }
  return std::nullopt;
}

std::optional<GatewayError> readToolChoice(const json& choice, core::ChatRequest& request) {
  core::ToolChoice out;
  if (choice.is_string()) {
    const auto& mode = choice.get_ref<const std::string&>();
    if (mode == "auto") out.mode = core::ToolChoice::Mode::Auto;
    else if (mode == "none") out.mode = core::ToolChoice::Mode::None;
    else if (mode == "required") out.mode = core::ToolChoice::Mode::Required;
    else return fieldError("tool_choice", "tool_choice: expected none, auto, required or a function");
  } else if (choice.is_object() && choice.contains("function") && choice["function"].is_object() &&
             choice["function"].contains("name") && choice["function"]["name"].is_string()) {
    out.mode = core::ToolChoice::Mode::Function;
    out.functionName = choice["function"]["name"].get<std::string>();
  } else {
    return fieldError("tool_choice", "tool_choice: expected none, auto, required or {type:\"function\", function:{name}}");
  }
  request.toolChoice = out;
  return std::nullopt;
}

const char* errorType(const GatewayError& error) {
  switch (error.kind) {
    case ErrorKind::InvalidRequest:
    case ErrorKind::NotFound:
    case ErrorKind::RequestTooLarge: return "invalid_request_error";
    case ErrorKind::Authentication: return "authentication_error";
    case ErrorKind::PermissionDenied: return "permission_error";
    case ErrorKind::RateLimited: return "rate_limit_error";
    case ErrorKind::Upstream: return "upstream_error";
    case ErrorKind::Connect:
    case ErrorKind::Timeout:
    case ErrorKind::Protocol:
    case ErrorKind::Unavailable:
    case ErrorKind::Cancelled:
    case ErrorKind::Internal: return "server_error";
  }
  return "server_error";
}

void appendUsage(std::string& out, const core::Usage& usage) {
  out += "{\"prompt_tokens\":";
  out += std::to_string(usage.inputTokens);
  out += ",\"completion_tokens\":";
  out += std::to_string(usage.outputTokens);
  out += ",\"total_tokens\":";
  out += std::to_string(usage.inputTokens + usage.outputTokens);
  out += ",\"prompt_tokens_details\":{\"cached_tokens\":";
  out += std::to_string(usage.cachedInputTokens);
  out += "},\"completion_tokens_details\":{\"reasoning_tokens\":";
  out += std::to_string(usage.reasoningTokens);
  out += "}}";
}

// A JSON string, or null when empty.
void appendStringOrNull(std::string& out, std::string_view text) {
  if (text.empty()) {
    out += "null";
  } else {
    core::appendJsonString(out, text);
  }
}

std::int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

// ---- client side -------------------------------------------------------------------------

core::Result<core::ChatRequest> decodeRequest(const json& body) {
  if (!body.is_object()) return fieldError("", "request body must be a JSON object, got " + typeName(body));
  core::ChatRequest request;
  request.sourceDialect = core::Dialect::OpenAi;

  auto model = body.find("model");
  if (model == body.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
    return fieldError("model", "model: required non-empty string", "missing_field");
  }
  request.model = model->get<std::string>();

  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty()) {
    return fieldError("messages", "messages: required non-empty array", "missing_field");
  }
  for (std::size_t i = 0; i < messages->size(); ++i) {
    if (auto error = readMessage((*messages)[i], i, request)) return std::move(*error);
  }

  collectExtras(body, {"model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens",
                       "max_completion_tokens", "temperature", "top_p", "seed", "n", "stop", "response_format", "stream",
                       "stream_options", "user"},
                request.extra);

  if (auto it = body.find("tools"); it != body.end() && !it->is_null()) {
    if (auto error = readTools(*it, request)) return std::move(*error);
  }
  if (auto it = body.find("tool_choice"); it != body.end() && !it->is_null()) {
    if (auto error = readToolChoice(*it, request)) return std::move(*error);
  }
  if (auto it = body.find("parallel_tool_calls"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return fieldError("parallel_tool_calls", "parallel_tool_calls: expected boolean");
    request.parallelToolCalls = it->get<bool>();
  }
  std::optional<std::int64_t> maxTokens;
  if (auto error = readNumber(body, "max_completion_tokens", request.maxTokens)) return std::move(*error);
  if (auto error = readNumber(body, "max_tokens", maxTokens)) return std::move(*error);
  if (!request.maxTokens) request.maxTokens = maxTokens;  // max_completion_tokens wins
  if (request.maxTokens && *request.maxTokens < 1) {
    return fieldError("max_tokens", "max_tokens: must be at least 1");
  }
  if (auto error = readNumber(body, "temperature", request.temperature)) return std::move(*error);
  if (auto error = readNumber(body, "top_p", request.topP)) return std::move(*error);
  if (auto error = readNumber(body, "seed", request.seed)) return std::move(*error);
  if (auto error = readNumber(body, "n", request.n)) return std::move(*error);
  if (request.n && (*request.n < 1 || *request.n > 128)) return fieldError("n", "n: must be between 1 and 128");
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      request.stop.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const auto& item : *it) {
        if (!item.is_string()) return fieldError("stop", "stop: expected string or array of strings");
        request.stop.push_back(item.get<std::string>());
      }
    } else {
      return fieldError("stop", "stop: expected string or array of strings");
    }
  }
  if (auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
    if (!it->is_object() || !it->contains("type") || !(*it)["type"].is_string()) {
      return fieldError("response_format", "response_format: expected {type: text|json_object|json_schema}");
    }
    request.responseFormat = *it;
  }
  if (auto it = body.find("stream"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return fieldError("stream", "stream: expected boolean");
    request.stream = it->get<bool>();
  }
  if (auto it = body.find("stream_options"); it != body.end() && it->is_object()) {
    auto usage = it->find("include_usage");
    request.includeUsage = usage != it->end() && usage->is_boolean() && usage->get<bool>();
  }
  if (auto it = body.find("user"); it != body.end() && it->is_string()) request.user = it->get<std::string>();
  if (auto it = body.find("reasoning_effort"); it != body.end() && !it->is_null()) {
    // Kept in `extra` for OpenAI-compatible upstreams; other providers get a thinking budget.
    if (!it->is_string()) return fieldError("reasoning_effort", "reasoning_effort: expected string");
    const std::string& effort = it->get_ref<const std::string&>();
    if (effort == "none") {
      request.thinking = core::ThinkingConfig{false, std::nullopt};
    } else {
      const std::int64_t budget = effort == "minimal" ? 512 : effort == "low" ? 1024 : effort == "high" ? 24576 : 8192;
      request.thinking = core::ThinkingConfig{true, budget};
    }
  }
  return request;
}

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

std::string encodeResponse(const core::ChatResponse& response) {
  // Written as text like the stream chunks: a DOM built only to be dumped cost more than the
  // rest of the translated answer's path.
  std::string out;
  out.reserve(256);
  out += "{\"id\":";
  core::appendJsonString(out, response.id);
  out += ",\"object\":\"chat.completion\",\"created\":";
  out += std::to_string(response.created != 0 ? response.created : nowSeconds());
  out += ",\"model\":";
  core::appendJsonString(out, response.model);
  out += ",\"choices\":[";
  for (std::size_t i = 0; i < response.choices.size(); ++i) {
    const auto& choice = response.choices[i];
    if (i > 0) out.push_back(',');
    out += "{\"index\":";
    out += std::to_string(choice.index);
    out += ",\"message\":{\"role\":\"assistant\",\"content\":";
    if (choice.text.empty() && !choice.toolCalls.empty()) {
      out += "null";
    } else {
      core::appendJsonString(out, choice.text);
    }
    if (!choice.thinking.empty()) {
      out += ",\"reasoning_content\":";
      core::appendJsonString(out, choice.thinking);
    }
    out += ",\"refusal\":";
    appendStringOrNull(out, choice.refusal);
    if (!choice.toolCalls.empty()) {
      out += ",\"tool_calls\":[";
      for (std::size_t c = 0; c < choice.toolCalls.size(); ++c) {
        const auto& call = choice.toolCalls[c];
        if (c > 0) out.push_back(',');
        out += "{\"id\":";
        core::appendJsonString(out, call.id);
        out += ",\"type\":\"function\",\"function\":{\"name\":";
        core::appendJsonString(out, call.name);
        out += ",\"arguments\":";
        core::appendJsonString(out, call.arguments);
        out += "}}";
      }
      out.push_back(']');
    }
    out += "},\"logprobs\":null,\"finish_reason\":";
    appendStringOrNull(out, finishReasonName(choice.finish));
    out.push_back('}');
  }
  out.push_back(']');
  if (response.usage.present) {
    out += ",\"usage\":";
    appendUsage(out, response.usage);
  }
  out.push_back('}');
  return out;
}

std::string encodeError(const GatewayError& error) {
  json body{{"error",
             {{"message", error.message},
              {"type", error.upstreamType.empty() ? errorType(error) : error.upstreamType},
              {"param", error.param.empty() ? json(nullptr) : json(error.param)},
              {"code", error.code.empty() ? json(nullptr) : json(error.code)}}}};
  return body.dump();
}

// ---- stream encoder ----------------------------------------------------------------------

StreamEncoder::StreamEncoder(std::string id, std::string model, std::int64_t created, bool includeUsage)
    : includeUsage_(includeUsage) {
  prefix_ = "data: {\"id\":";
  core::appendJsonString(prefix_, id);
  prefix_ += ",\"object\":\"chat.completion.chunk\",\"created\":";
  prefix_ += std::to_string(created != 0 ? created : nowSeconds());
  prefix_ += ",\"model\":";
  core::appendJsonString(prefix_, model);
  prefix_ += ",\"choices\":[";
}

void StreamEncoder::beginChunk(std::string& out, int choice) {
  out += prefix_;
  out += "{\"index\":";
  out += std::to_string(choice);
  out += ",\"delta\":{";
}

void StreamEncoder::endChunk(std::string& out, std::string_view finishReason) {
  out += "},\"logprobs\":null,\"finish_reason\":";
  if (finishReason.empty()) {
    out += "null";
  } else {
    out.push_back('"');
    out += finishReason;
    out.push_back('"');
  }
  out += "}]}\n\n";
}

void StreamEncoder::ensureRole(int choice, std::string& out) {
  if (choice < 0) return;
  if (roleSent_.size() <= static_cast<std::size_t>(choice)) roleSent_.resize(choice + 1, false);
  if (roleSent_[choice]) return;
  roleSent_[choice] = true;
  beginChunk(out, choice);
  out += "\"role\":\"assistant\",\"content\":\"\"";
  endChunk(out);
}

void StreamEncoder::encode(const core::ChatEvent& event, std::string& out) {
  switch (event.kind) {
    case core::EventKind::Start:
      ensureRole(event.choice, out);
      return;
    case core::EventKind::TextDelta:
    case core::EventKind::ThinkingDelta:
    case core::EventKind::RefusalDelta: {
      if (event.text.empty()) return;
      ensureRole(event.choice, out);
      beginChunk(out, event.choice);
      out += event.kind == core::EventKind::TextDelta      ? "\"content\":"
             : event.kind == core::EventKind::ThinkingDelta ? "\"reasoning_content\":"
                                                            : "\"refusal\":";
      core::appendJsonString(out, event.text);
      endChunk(out);
      return;
    }
    case core::EventKind::ToolCallStart:
      ensureRole(event.choice, out);
      beginChunk(out, event.choice);
      out += "\"tool_calls\":[{\"index\":";
      out += std::to_string(event.toolIndex);
      out += ",\"id\":";
      core::appendJsonString(out, event.id);
      out += ",\"type\":\"function\",\"function\":{\"name\":";
      core::appendJsonString(out, event.name);
      out += ",\"arguments\":\"\"}}]";
      endChunk(out);
      return;
    case core::EventKind::ToolCallDelta:
      if (event.text.empty()) return;
      beginChunk(out, event.choice);
      out += "\"tool_calls\":[{\"index\":";
      out += std::to_string(event.toolIndex);
      out += ",\"function\":{\"arguments\":";
      core::appendJsonString(out, event.text);
      out += "}}]";
      endChunk(out);
      return;
    case core::EventKind::ToolCallEnd:
    case core::EventKind::SignatureDelta:  // OpenAI has no place for it
      return;
    case core::EventKind::Finish:
      ensureRole(event.choice, out);
      beginChunk(out, event.choice);
      endChunk(out, finishReasonName(event.finish));
      return;
    case core::EventKind::UsageReport:
      usage_ = event.usage;
      usage_.present = true;
      return;
  }
}

void StreamEncoder::finish(std::string& out) {
  if (includeUsage_ && usage_.present) {
    // The usage chunk carries an empty choices array.
    out += prefix_;
    out += "],\"usage\":";
    appendUsage(out, usage_);
    out += "}\n\n";
  }
  out += "data: [DONE]\n\n";
}

void StreamEncoder::encodeError(const GatewayError& error, std::string& out) {
  out += "data: ";
  out += openai::encodeError(error);
  out += "\n\n";
}

// ---- upstream side -----------------------------------------------------------------------

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

core::Usage decodeUsage(const json& usage) {
  core::Usage out;
  if (!usage.is_object()) return out;
  out.present = true;
  out.inputTokens = usage.value("prompt_tokens", std::int64_t{0});
  out.outputTokens = usage.value("completion_tokens", std::int64_t{0});
  if (auto it = usage.find("prompt_tokens_details"); it != usage.end() && it->is_object()) {
    out.cachedInputTokens = it->value("cached_tokens", std::int64_t{0});
  }
  if (auto it = usage.find("completion_tokens_details"); it != usage.end() && it->is_object()) {
    out.reasoningTokens = it->value("reasoning_tokens", std::int64_t{0});
  }
  return out;
}

core::Result<core::ChatResponse> decodeResponse(const json& body) {
  try {
    if (!body.is_object() || !body.contains("choices") || !body["choices"].is_array()) {
      return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_response",
                                "upstream response has no choices array");
    }
    core::ChatResponse response;
    response.id = body.value("id", std::string());
    response.model = body.value("model", std::string());
    response.created = body.value("created", std::int64_t{0});
    for (const auto& item : body["choices"]) {
      core::Choice choice;
      choice.index = item.value("index", 0);
      if (auto finish = item.find("finish_reason"); finish != item.end() && finish->is_string()) {
        choice.finish = parseFinishReason(finish->get<std::string>());
      }
      const json& message = item.at("message");
      if (auto content = message.find("content"); content != message.end() && content->is_string()) {
        choice.text = content->get<std::string>();
      }
      if (auto reasoning = message.find("reasoning_content"); reasoning != message.end() && reasoning->is_string()) {
        choice.thinking = reasoning->get<std::string>();
      }
      if (auto refusal = message.find("refusal"); refusal != message.end() && refusal->is_string()) {
        choice.refusal = refusal->get<std::string>();
      }
      if (auto calls = message.find("tool_calls"); calls != message.end() && calls->is_array()) {
        for (const auto& call : *calls) {
          const json& function = call.at("function");
          choice.toolCalls.push_back({call.value("id", std::string()), function.value("name", std::string()),
                                      function.value("arguments", std::string())});
        }
      }
      response.choices.push_back(std::move(choice));
    }
    if (auto usage = body.find("usage"); usage != body.end()) response.usage = decodeUsage(*usage);
    return response;
  } catch (const json::exception& error) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_response",
                              std::string("upstream response is not a valid chat.completion: ") + error.what());
  }
}

std::optional<GatewayError> decodeChunk(const json& chunk, ChunkDecodeState& state,
                                        std::vector<core::ChatEvent>& out) {
  try {
    if (!chunk.is_object()) {
      return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_chunk", "stream chunk is not an object");
    }
    if (auto error = chunk.find("error"); error != chunk.end() && !error->is_null()) {
      GatewayError result = decodeError(502, chunk.dump());
      result.kind = ErrorKind::Upstream;
      return result;
    }
    if (!state.started) {
      state.started = true;
      out.push_back(core::ChatEvent::start(chunk.value("id", std::string()), chunk.value("model", std::string())));
    }
    if (auto choices = chunk.find("choices"); choices != chunk.end() && choices->is_array()) {
      for (const auto& item : *choices) {
        const int index = item.value("index", 0);
        if (auto delta = item.find("delta"); delta != item.end() && delta->is_object()) {
          if (auto reasoning = delta->find("reasoning_content"); reasoning != delta->end() && reasoning->is_string()) {
            core::ChatEvent event = core::ChatEvent::textDelta(reasoning->get<std::string>(), index);
            event.kind = core::EventKind::ThinkingDelta;
            if (!event.text.empty()) out.push_back(std::move(event));
          }
          if (auto content = delta->find("content"); content != delta->end() && content->is_string()) {
            if (!content->get_ref<const std::string&>().empty()) {
              out.push_back(core::ChatEvent::textDelta(content->get<std::string>(), index));
            }
          }
          if (auto refusal = delta->find("refusal"); refusal != delta->end() && refusal->is_string()) {
            core::ChatEvent event = core::ChatEvent::textDelta(refusal->get<std::string>(), index);
            event.kind = core::EventKind::RefusalDelta;
            if (!event.text.empty()) out.push_back(std::move(event));
          }
          if (auto calls = delta->find("tool_calls"); calls != delta->end() && calls->is_array()) {
            for (const auto& call : *calls) {
              const int toolIndex = call.value("index", 0);
              auto& open = state.toolCallsOpen[{index, toolIndex}];
              const json* function = call.contains("function") ? &call["function"] : nullptr;
              if (!open) {
                open = true;
                std::string name = function != nullptr ? function->value("name", std::string()) : std::string();
                out.push_back(core::ChatEvent::toolCallStart(toolIndex, call.value("id", std::string()),
                                                             std::move(name), index));
              }
              if (function != nullptr) {
                if (auto args = function->find("arguments"); args != function->end() && args->is_string() &&
                                                             !args->get_ref<const std::string&>().empty()) {
                  out.push_back(core::ChatEvent::toolCallDelta(toolIndex, args->get<std::string>(), index));
                }
              }
            }
          }
        }
        if (auto finish = item.find("finish_reason"); finish != item.end() && finish->is_string()) {
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
          out.push_back(core::ChatEvent::finished(parseFinishReason(finish->get<std::string>()), index));
        }
      }
    }
    if (auto usage = chunk.find("usage"); usage != chunk.end() && usage->is_object()) {
      out.push_back(core::ChatEvent::usageReport(decodeUsage(*usage)));
    }
    return std::nullopt;
  } catch (const json::exception& error) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_chunk",
                              std::string("stream chunk is not a valid chat.completion.chunk: ") + error.what());
  }
}

GatewayError decodeError(int status, std::string_view body) {
  GatewayError error = core::upstreamHttpError(status);
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_object()) {
    const json& detail = parsed.contains("error") ? parsed["error"] : parsed;
    if (detail.is_object()) {
      if (detail.contains("message") && detail["message"].is_string()) error.message = detail["message"].get<std::string>();
      if (detail.contains("type") && detail["type"].is_string()) error.upstreamType = detail["type"].get<std::string>();
      // The upstream's own code, null included, is what its SDK users expect to see.
      if (detail.contains("code")) error.code = detail["code"].is_string() ? detail["code"].get<std::string>() : "";
      if (detail.contains("param") && detail["param"].is_string()) error.param = detail["param"].get<std::string>();
    } else if (detail.is_string()) {
      error.message = detail.get<std::string>();
    }
  }
  return error;
}

}  // namespace llmgate::api::openai
