#include "llmgate/api/openai_codec.hpp"

#include <chrono>

#include "../request_fields.hpp"
#include "llmgate/wire/wire.hpp"

namespace llmgate::api::openai {
namespace {

using wire::openai::finishReasonName;

using core::ErrorKind;
using core::FieldReader;
using core::GatewayError;
using nlohmann::json;


// Reads `content`: a string, or an array of typed parts. Text (and refusal) parts become Text
// parts; image parts are accepted only where `allowImages` (user turns).
std::optional<GatewayError> readContentParts(const json& content, const std::string& path, bool allowImages,
                                             std::vector<core::ContentPart>& parts) {
  return readTypedParts(content, path, parts, [&](const FieldReader& fields, const std::string& type,
                                                  std::optional<core::TypeMismatch>& mismatch)
                                                  -> std::optional<GatewayError> {
    if (type == "text" || type == "refusal") {
      const std::string* text = fields.string(type);
      if (text == nullptr) return requiredError(mismatch, fields, type);
      parts.push_back(core::ContentPart::makeText(*text));
      return std::nullopt;
    }
    if (type != "image_url" || !allowImages) return unsupportedPart(fields, type);
    core::ContentPart image;
    image.kind = core::PartKind::Image;
    const json* url = fields.member("image_url");
    if (url != nullptr && url->is_string()) {
      image.imageUrl = url->get_ref<const std::string&>();
    } else if (url != nullptr && url->is_object()) {
      const std::string urlPath = fields.pathOf("image_url");
      FieldReader imageFields(*url, urlPath, mismatch);
      const std::string* address = imageFields.string("url");
      if (address == nullptr) return requiredError(mismatch, imageFields, "url");
      image.imageUrl = *address;
      image.imageDetail = imageFields.stringOr("detail");
      if (mismatch) return mismatchError(*mismatch);
    } else {
      return fieldError(fields.pathOf("image_url"), fields.pathOf("image_url") + ": expected {\"url\": string}");
    }
    parts.push_back(std::move(image));
    return std::nullopt;
  });
}

// The text of `content` (null counts as empty), for roles that carry text only.
std::optional<GatewayError> readTextContent(const json* content, const std::string& path, std::string& out) {
  if (content == nullptr) return std::nullopt;
  std::vector<core::ContentPart> parts;
  if (auto error = readContentParts(*content, path, false, parts)) return error;
  for (const auto& part : parts) out += part.text;
  return std::nullopt;
}

std::optional<GatewayError> readToolCalls(const json& calls, const std::string& path,
                                          std::vector<core::ContentPart>& parts) {
  std::optional<core::TypeMismatch> mismatch;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const json& call = calls[i];
    const std::string callPath = path + "[" + std::to_string(i) + "]";
    if (!call.is_object()) return fieldError(callPath, callPath + ": expected {id, type:\"function\", function:{name, arguments}}");
    FieldReader fields(call, callPath, mismatch);
    std::string id = fields.stringOr("id");
    const json* function = fields.object("function");
    if (function == nullptr) return requiredError(mismatch, fields, "function");
    const std::string functionPath = fields.pathOf("function");
    FieldReader functionFields(*function, functionPath, mismatch);
    const std::string* name = functionFields.string("name");
    if (name == nullptr) return requiredError(mismatch, functionFields, "name");
    std::string arguments = "{}";
    if (const json* given = functionFields.member("arguments")) {
      if (given->is_string()) {
        arguments = given->get_ref<const std::string&>();
      } else if (given->is_object()) {
        arguments = given->dump();
      } else {
        functionFields.mismatch("arguments", "JSON text (a string)");
      }
    }
    if (mismatch) return mismatchError(*mismatch);
    parts.push_back(core::ContentPart::makeToolCall(std::move(id), *name, std::move(arguments)));
  }
  return std::nullopt;
}

std::optional<GatewayError> readMessage(const json& message, std::size_t index, core::ChatRequest& request) {
  const std::string path = "messages[" + std::to_string(index) + "]";
  if (!message.is_object()) return fieldError(path, path + ": expected object, got " + typeName(message));
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(message, path, mismatch);
  const std::string* role = fields.string("role");
  if (role == nullptr) return requiredError(mismatch, fields, "role");
  const json* content = fields.member("content");
  const std::string contentPath = fields.pathOf("content");

  if (*role == "system" || *role == "developer") {
    std::string text;
    if (auto error = readTextContent(content, contentPath, text)) return error;
    request.system.push_back(std::move(text));
    return std::nullopt;
  }
  core::Message out;
  out.name = fields.stringOr("name");
  if (*role == "user") {
    out.role = core::Role::User;
    if (content == nullptr) return missingField(contentPath);
    if (auto error = readContentParts(*content, contentPath, true, out.content)) return error;
  } else if (*role == "assistant") {
    out.role = core::Role::Assistant;
    // DeepSeek-style reasoning sent back by clients that keep it in history.
    if (const std::string* reasoning = fields.string("reasoning_content")) {
      core::ContentPart thinking;
      thinking.kind = core::PartKind::Thinking;
      thinking.text = *reasoning;
      out.content.push_back(std::move(thinking));
    }
    std::string text;
    if (auto error = readTextContent(content, contentPath, text)) return error;
    if (!text.empty()) out.content.push_back(core::ContentPart::makeText(std::move(text)));
    if (const json* calls = fields.array("tool_calls")) {
      if (auto error = readToolCalls(*calls, fields.pathOf("tool_calls"), out.content)) return error;
    }
  } else if (*role == "tool") {
    out.role = core::Role::Tool;
    const std::string* id = fields.string("tool_call_id");
    if (id == nullptr) return requiredError(mismatch, fields, "tool_call_id");
    std::string text;
    if (auto error = readTextContent(content, contentPath, text)) return error;
    out.content.push_back(core::ContentPart::makeToolResult(*id, std::move(text)));
  } else {
    return fieldError(fields.pathOf("role"), fields.pathOf("role") + ": unsupported role \"" + core::clipped(*role) + "\"");
  }
  if (mismatch) return mismatchError(*mismatch);
  request.messages.push_back(std::move(out));
  return std::nullopt;
}

std::optional<GatewayError> readTools(const json& tools, core::ChatRequest& request) {
  std::optional<core::TypeMismatch> mismatch;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& tool = tools[i];
    const std::string path = "tools[" + std::to_string(i) + "]";
    if (!tool.is_object()) return fieldError(path, path + ": expected {type:\"function\", function:{name, description?, parameters?}}");
    FieldReader fields(tool, path, mismatch);
    const std::string* type = fields.string("type");
    if (type != nullptr && *type != "function") {
      return fieldError(fields.pathOf("type"), fields.pathOf("type") + ": tool type \"" + core::clipped(*type) + "\" is not supported here");
    }
    const json* function = fields.object("function");
    if (function == nullptr) return requiredError(mismatch, fields, "function");
    const std::string functionPath = fields.pathOf("function");
    if (auto error = readFunctionTool(FieldReader(*function, functionPath, mismatch), mismatch, request)) return error;
  }
  return std::nullopt;
}

std::optional<GatewayError> readToolChoice(const json& choice, core::ChatRequest& request) {
  core::ToolChoice out;
  if (choice.is_string()) {
    const auto mode = toolChoiceMode(choice.get_ref<const std::string&>());
    if (!mode) return fieldError("tool_choice", "tool_choice: expected none, auto, required or a function");
    out.mode = *mode;
    request.toolChoice = out;
    return std::nullopt;
  }
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(choice, "tool_choice", mismatch);
  const json* function = fields.object("function");
  const std::string* name = function != nullptr ? FieldReader(*function, "tool_choice.function", mismatch).string("name") : nullptr;
  if (mismatch) return mismatchError(*mismatch);
  if (!choice.is_object() || name == nullptr) {
    return fieldError("tool_choice", "tool_choice: expected none, auto, required or {type:\"function\", function:{name}}");
  }
  out.mode = core::ToolChoice::Mode::Function;
  out.functionName = *name;
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
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(body, "", mismatch);

  const std::string* model = fields.string("model");
  if (mismatch) return mismatchError(*mismatch);
  if (model == nullptr || model->empty()) return fieldError("model", "model: required non-empty string", "missing_field");
  request.model = *model;

  const json* messages = fields.array("messages");
  if (mismatch) return mismatchError(*mismatch);
  if (messages == nullptr || messages->empty()) {
    return fieldError("messages", "messages: required non-empty array", "missing_field");
  }
  for (std::size_t i = 0; i < messages->size(); ++i) {
    if (auto error = readMessage((*messages)[i], i, request)) return std::move(*error);
  }

  collectExtras(body, {"model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens",
                       "max_completion_tokens", "temperature", "top_p", "seed", "n", "stop", "response_format", "stream",
                       "stream_options", "user"},
                request.extra);

  if (const json* tools = fields.array("tools")) {
    if (auto error = readTools(*tools, request)) return std::move(*error);
  }
  if (const json* choice = fields.member("tool_choice")) {
    if (auto error = readToolChoice(*choice, request)) return std::move(*error);
  }
  request.parallelToolCalls = fields.boolean("parallel_tool_calls");
  request.maxTokens = fields.integer("max_completion_tokens");
  if (auto maxTokens = fields.integer("max_tokens"); !request.maxTokens) request.maxTokens = maxTokens;  // max_completion_tokens wins
  request.temperature = fields.number("temperature");
  request.topP = fields.number("top_p");
  request.seed = fields.integer("seed");
  request.n = fields.integer("n");
  if (mismatch) return mismatchError(*mismatch);
  if (request.maxTokens && *request.maxTokens < 1) {
    return fieldError("max_tokens", "max_tokens: must be at least 1");
  }
  if (request.n && (*request.n < 1 || *request.n > 128)) return fieldError("n", "n: must be between 1 and 128");
  if (const json* stop = fields.member("stop")) {
    if (stop->is_string()) {
      request.stop.push_back(stop->get_ref<const std::string&>());
    } else if (stop->is_array()) {
      for (const auto& item : *stop) {
        if (!item.is_string()) return fieldError("stop", "stop: expected string or array of strings");
        request.stop.push_back(item.get_ref<const std::string&>());
      }
    } else {
      return fieldError("stop", "stop: expected string or array of strings, got " + typeName(*stop));
    }
  }
  if (const json* format = fields.object("response_format")) {
    std::optional<core::TypeMismatch> formatMismatch;
    if (FieldReader(*format, "response_format", formatMismatch).string("type") == nullptr) {
      return fieldError("response_format", "response_format: expected {type: text|json_object|json_schema}");
    }
    request.responseFormat = *format;
  }
  request.stream = fields.boolean("stream").value_or(false);
  if (const json* options = fields.object("stream_options")) {
    request.includeUsage = FieldReader(*options, "stream_options", mismatch).boolean("include_usage").value_or(false);
  }
  request.user = fields.stringOr("user");
  // Also kept in `extra` for OpenAI-compatible upstreams.
  if (const std::string* effort = fields.string("reasoning_effort")) applyReasoningEffort(*effort, request);
  if (mismatch) return mismatchError(*mismatch);
  return request;
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
  return core::dumpJson(body);
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

}  // namespace llmgate::api::openai
