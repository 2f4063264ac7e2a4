#include "llmgate/api/responses_codec.hpp"

#include <chrono>

#include "../request_fields.hpp"
#include "llmgate/core/json_text.hpp"

namespace llmgate::api::responses {
namespace {

using core::FieldReader;
using core::GatewayError;
using nlohmann::json;

std::int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Responses ids carry their kind as a prefix (resp_, msg_, fc_, rs_); an upstream's own id is
// kept after it so that logs can be matched.
std::string withPrefix(std::string_view prefix, const std::string& id) {
  if (id.rfind(prefix, 0) == 0) return id;
  return std::string(prefix) + id;
}

// A message's (or a function output's) content: a string, or input_text / output_text /
// refusal parts, and input_image parts in user turns.
std::optional<GatewayError> readParts(const json& content, const std::string& path, core::Role role,
                                      std::vector<core::ContentPart>& parts) {
  return readTypedParts(content, path, parts, [&](const FieldReader& fields, const std::string& type,
                                                  const std::optional<core::TypeMismatch>& mismatch)
                                                  -> std::optional<GatewayError> {
    if (type == "input_text" || type == "output_text" || type == "refusal") {
      const char* member = type == "refusal" ? "refusal" : "text";
      const std::string* text = fields.string(member);
      if (text == nullptr) return requiredError(mismatch, fields, member);
      parts.push_back(core::ContentPart::makeText(*text));
      return std::nullopt;
    }
    if (type != "input_image" || role != core::Role::User) return unsupportedPart(fields, type);
    const std::string* url = fields.string("image_url");
    if (url == nullptr) {
      if (mismatch) return mismatchError(*mismatch);
      return fieldError(fields.pathOf("image_url"),
                        fields.pathOf("image_url") + ": required (an https URL or a data: URI; file_id is not supported)");
    }
    core::ContentPart image;
    image.kind = core::PartKind::Image;
    image.imageUrl = *url;
    image.imageDetail = fields.stringOr("detail");
    if (mismatch) return mismatchError(*mismatch);
    parts.push_back(std::move(image));
    return std::nullopt;
  });
}

// The assistant turn that function calls join: the last message when it is one, else a new one.
core::Message& assistantTurn(core::ChatRequest& request) {
  if (request.messages.empty() || request.messages.back().role != core::Role::Assistant) {
    core::Message turn;
    turn.role = core::Role::Assistant;
    request.messages.push_back(std::move(turn));
  }
  return request.messages.back();
}

std::optional<GatewayError> readItem(const json& item, std::size_t index, core::ChatRequest& request) {
  const std::string path = "input[" + std::to_string(index) + "]";
  if (!item.is_object()) return fieldError(path, path + ": expected an input item object, got " + typeName(item));
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(item, path, mismatch);
  const std::string type = fields.stringOr("type", "message");
  if (mismatch) return mismatchError(*mismatch);

  if (type == "message") {
    const std::string* role = fields.string("role");
    if (role == nullptr) return requiredError(mismatch, fields, "role");
    const json* content = fields.member("content");
    const std::string contentPath = fields.pathOf("content");
    if (content == nullptr) return missingField(contentPath);
    if (*role == "system" || *role == "developer") {
      std::vector<core::ContentPart> parts;
      if (auto error = readParts(*content, contentPath, core::Role::System, parts)) return error;
      std::string text;
      for (const auto& part : parts) text += part.text;
      if (request.messages.empty()) {
        request.system.push_back(std::move(text));
      } else {  // between the turns: kept at its place
        core::Message turn;
        turn.role = core::Role::System;
        turn.content.push_back(core::ContentPart::makeText(std::move(text)));
        request.messages.push_back(std::move(turn));
      }
      return std::nullopt;
    }
    if (*role != "user" && *role != "assistant") {
      return fieldError(fields.pathOf("role"), fields.pathOf("role") + ": unsupported role \"" + core::clipped(*role) + "\"");
    }
    const core::Role turnRole = *role == "user" ? core::Role::User : core::Role::Assistant;
    core::Message turn;
    turn.role = turnRole;
    if (auto error = readParts(*content, contentPath, turnRole, turn.content)) return error;
    request.messages.push_back(std::move(turn));
    return std::nullopt;
  }
  if (type == "function_call") {
    const std::string* callId = fields.string("call_id");
    const std::string* name = fields.string("name");
    const std::string* arguments = fields.string("arguments");
    if (callId == nullptr) return requiredError(mismatch, fields, "call_id");
    if (name == nullptr) return requiredError(mismatch, fields, "name");
    if (arguments == nullptr) return requiredError(mismatch, fields, "arguments");
    assistantTurn(request).content.push_back(core::ContentPart::makeToolCall(*callId, *name, *arguments));
    return std::nullopt;
  }
  if (type == "function_call_output") {
    const std::string* callId = fields.string("call_id");
    if (callId == nullptr) return requiredError(mismatch, fields, "call_id");
    const json* output = fields.member("output");
    const std::string outputPath = fields.pathOf("output");
    if (output == nullptr) return missingField(outputPath);
    std::vector<core::ContentPart> parts;
    if (auto error = readParts(*output, outputPath, core::Role::Tool, parts)) return error;
    std::string text;
    for (const auto& part : parts) text += part.text;
    core::Message result;
    result.role = core::Role::Tool;
    result.content.push_back(core::ContentPart::makeToolResult(*callId, std::move(text)));
    request.messages.push_back(std::move(result));
    return std::nullopt;
  }
  if (type == "reasoning") {
    // A reasoning item handed back (its summary, or content encrypted by OpenAI): no other
    // upstream can read it, and none needs it to continue.
    return std::nullopt;
  }
  return fieldError(fields.pathOf("type"),
                    fields.pathOf("type") + ": input item type \"" + core::clipped(type) + "\" is not supported here");
}

std::optional<GatewayError> readTools(const json& tools, core::ChatRequest& request) {
  std::optional<core::TypeMismatch> mismatch;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& tool = tools[i];
    const std::string path = "tools[" + std::to_string(i) + "]";
    if (!tool.is_object()) return fieldError(path, path + ": expected {type:\"function\", name, parameters?}");
    FieldReader fields(tool, path, mismatch);
    const std::string* type = fields.string("type");
    if (type == nullptr) return requiredError(mismatch, fields, "type");
    if (*type != "function") {
      // A hosted tool (web_search, file_search, code_interpreter, ...) or a namespace of tools:
      // clients such as Codex offer them by default, and no upstream behind the IR runs them.
      // Left out rather than failing a request that can be served without them.
      const std::string* name = fields.string("name");
      request.droppedTools.push_back(core::clipped(name != nullptr ? *type + " " + *name : *type, 80));
      if (mismatch) return mismatchError(*mismatch);
      continue;
    }
    if (auto error = readFunctionTool(fields, mismatch, request)) return error;
  }
  return std::nullopt;
}

std::optional<GatewayError> readToolChoice(const json& choice, core::ChatRequest& request) {
  core::ToolChoice out;
  if (choice.is_string()) {
    const auto mode = toolChoiceMode(choice.get_ref<const std::string&>());
    if (!mode) return fieldError("tool_choice", "tool_choice: expected none, auto, required or {type:\"function\", name}");
    out.mode = *mode;
    request.toolChoice = out;
    return std::nullopt;
  }
  std::optional<core::TypeMismatch> mismatch;
  const std::string* name = nullptr;
  const std::string* type = nullptr;
  if (choice.is_object()) {
    FieldReader fields(choice, "tool_choice", mismatch);
    type = fields.string("type");
    name = fields.string("name");
  }
  if (mismatch) return mismatchError(*mismatch);
  if (type == nullptr || *type != "function" || name == nullptr) {
    return fieldError("tool_choice", "tool_choice: expected none, auto, required or {type:\"function\", name}");
  }
  out.mode = core::ToolChoice::Mode::Function;
  out.functionName = *name;
  request.toolChoice = out;
  return std::nullopt;
}

// text.format as Chat Completions' response_format, which the upstream codecs map.
std::optional<GatewayError> readTextFormat(const json& text, core::ChatRequest& request) {
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(text, "text", mismatch);
  const json* format = fields.object("format");
  if (mismatch) return mismatchError(*mismatch);
  if (format == nullptr) return std::nullopt;
  FieldReader formatFields(*format, "text.format", mismatch);
  const std::string* type = formatFields.string("type");
  if (type == nullptr) return requiredError(mismatch, formatFields, "type");
  if (*type == "text") return std::nullopt;
  if (*type == "json_object") {
    request.responseFormat = json{{"type", "json_object"}};
    return std::nullopt;
  }
  if (*type != "json_schema") {
    return fieldError("text.format.type", "text.format.type: expected text, json_object or json_schema");
  }
  const json* schema = formatFields.object("schema");
  if (schema == nullptr) return requiredError(mismatch, formatFields, "schema");
  json jsonSchema{{"name", formatFields.stringOr("name", "response")}, {"schema", *schema}};
  if (auto strict = formatFields.boolean("strict")) jsonSchema["strict"] = *strict;
  if (const std::string* description = formatFields.string("description")) jsonSchema["description"] = *description;
  if (mismatch) return mismatchError(*mismatch);
  request.responseFormat = json{{"type", "json_schema"}, {"json_schema", std::move(jsonSchema)}};
  return std::nullopt;
}

// An output item's id: its kind, its position in the output and the response's own suffix.
std::string itemIdFor(std::string_view prefix, std::size_t outputIndex, std::string_view responseId) {
  return std::string(prefix) + std::to_string(outputIndex) + "_" + std::string(responseId.substr(5));
}

json usageJson(const core::Usage& usage) {
  return json{{"input_tokens", usage.inputTokens},
              {"input_tokens_details", {{"cached_tokens", usage.cachedInputTokens}}},
              {"output_tokens", usage.outputTokens},
              {"output_tokens_details", {{"reasoning_tokens", usage.reasoningTokens}}},
              {"total_tokens", usage.inputTokens + usage.outputTokens}};
}

// What a finished answer's status is, and why it is incomplete when it is.
std::pair<const char*, const char*> statusOf(core::FinishReason finish) {
  switch (finish) {
    case core::FinishReason::Length: return {"incomplete", "max_output_tokens"};
    case core::FinishReason::ContentFilter: return {"incomplete", "content_filter"};
    case core::FinishReason::Error: return {"failed", nullptr};  // the upstream cut its answer (GLM, DeepSeek)
    default: return {"completed", nullptr};
  }
}

// The Responses API's error codes are its own: what is not a rate limit is a server error.
json responseError(core::ErrorKind kind, const std::string& message) {
  return json{{"code", kind == core::ErrorKind::RateLimited ? "rate_limit_exceeded" : "server_error"}, {"message", message}};
}

json responseObject(const std::string& id, const std::string& model, std::int64_t createdAt, std::string_view status,
                    const char* incompleteReason, json output, const core::Usage* usage, const json& echo) {
  json object{{"id", id},
              {"object", "response"},
              {"created_at", createdAt},
              {"status", status},
              {"error", status == "failed" ? responseError(core::ErrorKind::Upstream, "the upstream ended the answer with an error")
                                           : json(nullptr)},
              {"incomplete_details", incompleteReason == nullptr ? json(nullptr) : json{{"reason", incompleteReason}}},
              {"instructions", nullptr},
              {"model", model},
              {"output", std::move(output)},
              {"parallel_tool_calls", true},
              {"tool_choice", "auto"},
              {"tools", json::array()},
              {"temperature", nullptr},
              {"top_p", nullptr},
              {"metadata", json::object()},
              {"previous_response_id", nullptr},
              {"store", true},
              {"usage", usage == nullptr ? json(nullptr) : usageJson(*usage)}};
  if (echo.is_object()) {
    for (const auto& [member, value] : echo.items()) object[member] = value;
  }
  return object;
}

json messageItem(const std::string& id, const std::string& text, const std::string& refusal, std::string_view status,
                 bool refusalFirst = false) {
  json content = json::array();
  const json textPart{{"type", "output_text"}, {"text", text}, {"annotations", json::array()}};
  const json refusalPart{{"type", "refusal"}, {"refusal", refusal}};
  if (refusalFirst && !refusal.empty()) content.push_back(refusalPart);
  if (!text.empty() || refusal.empty()) content.push_back(textPart);
  if (!refusalFirst && !refusal.empty()) content.push_back(refusalPart);
  return json{{"id", id}, {"type", "message"}, {"status", status}, {"role", "assistant"}, {"content", std::move(content)}};
}

json reasoningItem(const std::string& id, const std::string& summary) {
  json parts = json::array();
  if (!summary.empty()) parts.push_back({{"type", "summary_text"}, {"text", summary}});
  return json{{"id", id}, {"type", "reasoning"}, {"summary", std::move(parts)}};
}

json functionCallItem(const std::string& id, const std::string& callId, const std::string& name,
                      const std::string& arguments, std::string_view status) {
  return json{{"id", id},          {"type", "function_call"}, {"status", status},
              {"call_id", callId}, {"name", name},            {"arguments", arguments}};
}

}  // namespace

core::Result<core::ChatRequest> decodeRequest(const json& body) {
  if (!body.is_object()) return fieldError("", "request body must be a JSON object, got " + typeName(body));
  core::ChatRequest request;
  request.sourceDialect = core::Dialect::OpenAiResponses;
  request.includeUsage = true;  // a Responses answer always carries its usage
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(body, "", mismatch);

  const std::string* model = fields.string("model");
  if (mismatch) return mismatchError(*mismatch);
  if (model == nullptr || model->empty()) return fieldError("model", "model: required non-empty string", "missing_field");
  request.model = *model;

  // State the gateway does not keep: refused, not silently ignored.
  for (const char* stateful : {"conversation", "prompt", "background"}) {
    if (fields.member(stateful) != nullptr && !(std::string_view(stateful) == "background" && fields.boolean(stateful) == false)) {
      return fieldError(stateful, std::string(stateful) +
                                      ": this gateway does not keep conversation objects, prompts or background "
                                      "responses; continue with previous_response_id or send the whole conversation "
                                      "in input");
    }
  }
  if (const std::string* previous = fields.string("previous_response_id")) request.previousResponseId = *previous;
  if (const std::string* instructions = fields.string("instructions")) request.system.push_back(*instructions);
  const json* input = fields.member("input");
  if (mismatch) return mismatchError(*mismatch);
  if (input == nullptr) return fieldError("input", "input: required (a string or an array of input items)", "missing_field");
  if (input->is_string()) {
    core::Message turn;
    turn.content.push_back(core::ContentPart::makeText(input->get_ref<const std::string&>()));
    request.messages.push_back(std::move(turn));
  } else if (input->is_array()) {
    for (std::size_t i = 0; i < input->size(); ++i) {
      if (auto error = readItem((*input)[i], i, request)) return std::move(*error);
    }
  } else {
    return fieldError("input", "input: expected a string or an array of input items, got " + typeName(*input),
                      "invalid_type");
  }
  if (request.messages.empty()) return fieldError("input", "input: holds no message", "missing_field");

  collectExtras(body, {"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
                       "max_output_tokens", "temperature", "top_p", "stream", "user", "reasoning", "text", "store",
                       "previous_response_id"},
                request.extra);

  if (const json* tools = fields.array("tools")) {
    if (auto error = readTools(*tools, request)) return std::move(*error);
  }
  if (const json* choice = fields.member("tool_choice")) {
    if (auto error = readToolChoice(*choice, request)) return std::move(*error);
  }
  if (const json* text = fields.object("text")) {
    if (auto error = readTextFormat(*text, request)) return std::move(*error);
  }
  request.parallelToolCalls = fields.boolean("parallel_tool_calls");
  request.maxTokens = fields.integer("max_output_tokens");
  request.temperature = fields.number("temperature");
  request.topP = fields.number("top_p");
  request.stream = fields.boolean("stream").value_or(false);
  request.user = fields.stringOr("user");
  request.store = fields.boolean("store").value_or(true);
  if (const json* reasoning = fields.object("reasoning")) {
    if (const std::string* effort = FieldReader(*reasoning, "reasoning", mismatch).string("effort")) {
      applyReasoningEffort(*effort, request);
    }
  }
  if (mismatch) return mismatchError(*mismatch);
  if (request.maxTokens && *request.maxTokens < 1) {
    return fieldError("max_output_tokens", "max_output_tokens: must be at least 1");
  }
  return request;
}

json requestEcho(const json& body) {
  json echo = json::object();
  if (!body.is_object()) return echo;
  // Members the decoder type-checked, and the two it leaves to the client (metadata, truncation)
  // when they have their documented types.
  for (const char* member : {"instructions", "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p",
                             "max_output_tokens", "previous_response_id", "store", "reasoning", "text", "user"}) {
    if (auto it = body.find(member); it != body.end() && !it->is_null()) echo[member] = *it;
  }
  if (auto it = body.find("metadata"); it != body.end() && it->is_object()) echo["metadata"] = *it;
  if (auto it = body.find("truncation"); it != body.end() && it->is_string()) echo["truncation"] = *it;
  return echo;
}

std::string encodeResponse(const core::ChatResponse& response, const json& echo) {
  json output = json::array();
  const std::string id = withPrefix("resp_", response.id);
  // Item ids as the stream encoder gives them, so that a streamed response read back later
  // (GET /v1/responses/{id}) names its items as the stream did.
  const auto itemId = [&](std::string_view prefix) { return itemIdFor(prefix, output.size(), id); };
  core::FinishReason finish = core::FinishReason::Stop;
  if (!response.choices.empty()) {
    const auto& choice = response.choices.front();
    finish = choice.finish;
    if (!choice.thinking.empty()) output.push_back(reasoningItem(itemId("rs_"), choice.thinking));
    if (!choice.text.empty() || !choice.refusal.empty() || choice.toolCalls.empty()) {
      output.push_back(messageItem(itemId("msg_"), choice.text, choice.refusal, "completed"));
    }
    for (const auto& call : choice.toolCalls) {
      output.push_back(functionCallItem(itemId("fc_"), call.id, call.name, call.arguments, "completed"));
    }
  }
  const auto [status, reason] = statusOf(finish);
  return core::dumpJson(responseObject(id, response.model, response.created != 0 ? response.created : nowSeconds(),
                                       status, reason, std::move(output), response.usage.present ? &response.usage : nullptr,
                                       echo));
}

// ---- stream encoder ----------------------------------------------------------------------

StreamEncoder::StreamEncoder(std::string id, std::string model, json echo)
    : id_(withPrefix("resp_", id)), model_(std::move(model)), echo_(std::move(echo)), createdAt_(nowSeconds()) {}

void StreamEncoder::emit(std::string_view type, json data, std::string& out) {
  data["type"] = type;
  data["sequence_number"] = sequence_++;
  out += "event: ";
  out += type;
  out += "\ndata: ";
  out += core::dumpJson(data);
  out += "\n\n";
}

void StreamEncoder::emitDelta(std::string_view type, const Item& item, const char* indexName, std::size_t index,
                              std::string_view delta, std::string& out) {
  // One per relayed chunk: written as text, as the other dialects' chunks are, not built as a
  // document to be dumped.
  out += "event: ";
  out += type;
  out += "\ndata: {\"type\":\"";
  out += type;
  out += "\",\"sequence_number\":";
  out += std::to_string(sequence_++);
  out += ",\"item_id\":";
  core::appendJsonString(out, item.id);
  out += ",\"output_index\":";
  out += std::to_string(item.outputIndex);
  if (indexName != nullptr) {
    out += ",\"";
    out += indexName;
    out += "\":";
    out += std::to_string(index);
  }
  out += ",\"delta\":";
  core::appendJsonString(out, delta);
  if (type == "response.output_text.delta") out += ",\"logprobs\":[]";
  out += "}\n\n";
}

void StreamEncoder::begin(std::string& out) {
  if (begun_) return;
  begun_ = true;
  emit("response.created", json{{"response", responseJson("in_progress")}}, out);
  emit("response.in_progress", json{{"response", responseJson("in_progress")}}, out);
}

json StreamEncoder::itemJson(const Item& item) const {
  const std::string_view status = item.open ? "in_progress" : "completed";
  switch (item.kind) {
    case ItemKind::Reasoning: return reasoningItem(item.id, item.text);
    case ItemKind::Message: return messageItem(item.id, item.text, item.refusal, status, item.refusalFirst);
    case ItemKind::FunctionCall: return functionCallItem(item.id, item.callId, item.name, item.text, status);
  }
  return json::object();
}

json StreamEncoder::responseJson(std::string_view status) const {
  json output = json::array();
  for (const auto& item : items_) {
    if (!item.open) output.push_back(itemJson(item));
  }
  const auto [finalStatus, reason] = statusOf(finish_);
  const bool done = status != "in_progress";
  return responseObject(id_, model_, createdAt_, status, done ? reason : nullptr, std::move(output),
                        done && usage_.present ? &usage_ : nullptr, echo_);
}

StreamEncoder::Item& StreamEncoder::openItem(ItemKind kind, std::string& out) {
  begin(out);
  Item item{kind, items_.size()};
  item.id = itemIdFor(kind == ItemKind::Reasoning ? "rs_" : kind == ItemKind::Message ? "msg_" : "fc_", items_.size(), id_);
  items_.push_back(std::move(item));
  Item& added = items_.back();
  if (kind == ItemKind::Message) {
    // An empty message item: the first delta says whether a text or a refusal part opens.
    json shell = itemJson(added);
    shell["content"] = json::array();
    emit("response.output_item.added", json{{"output_index", added.outputIndex}, {"item", std::move(shell)}}, out);
  } else {
    emit("response.output_item.added", json{{"output_index", added.outputIndex}, {"item", itemJson(added)}}, out);
  }
  return added;
}

void StreamEncoder::closeItem(Item& item, std::string& out) {
  if (!item.open) return;
  item.open = false;
  const json ids{{"item_id", item.id}, {"output_index", item.outputIndex}};
  switch (item.kind) {
    case ItemKind::Reasoning: {
      json part{{"type", "summary_text"}, {"text", item.text}};
      json done = ids;
      done["summary_index"] = 0;
      done["text"] = item.text;
      emit("response.reasoning_summary_text.done", done, out);
      done.erase("text");
      done["part"] = std::move(part);
      emit("response.reasoning_summary_part.done", std::move(done), out);
      break;
    }
    case ItemKind::Message: {
      if (item.text.empty() && item.refusal.empty()) {  // an empty answer: its part opens here
        json added = ids;
        added["content_index"] = 0;
        added["part"] = {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}};
        emit("response.content_part.added", std::move(added), out);
      }
      const auto textDone = [&](std::size_t contentIndex) {
        json done = ids;
        done["content_index"] = contentIndex;
        done["text"] = item.text;
        done["logprobs"] = json::array();
        emit("response.output_text.done", done, out);
        done.erase("text");
        done.erase("logprobs");
        done["part"] = {{"type", "output_text"}, {"text", item.text}, {"annotations", json::array()}};
        emit("response.content_part.done", std::move(done), out);
      };
      const auto refusalDone = [&](std::size_t contentIndex) {
        json done = ids;
        done["content_index"] = contentIndex;
        done["refusal"] = item.refusal;
        emit("response.refusal.done", done, out);
        done.erase("refusal");
        done["part"] = {{"type", "refusal"}, {"refusal", item.refusal}};
        emit("response.content_part.done", std::move(done), out);
      };
      const bool hasText = !item.text.empty() || item.refusal.empty();
      if (item.refusalFirst) {
        refusalDone(0);
        if (hasText) textDone(1);
      } else {
        if (hasText) textDone(0);
        if (!item.refusal.empty()) refusalDone(hasText ? 1 : 0);
      }
      break;
    }
    case ItemKind::FunctionCall: {
      json done = ids;
      done["name"] = item.name;
      done["arguments"] = item.text;
      emit("response.function_call_arguments.done", std::move(done), out);
      break;
    }
  }
  emit("response.output_item.done", json{{"output_index", item.outputIndex}, {"item", itemJson(item)}}, out);
}

void StreamEncoder::closeOpenItems(std::string& out) {
  for (auto& item : items_) closeItem(item, out);
  textItem_.reset();
  reasoningItem_.reset();
}

void StreamEncoder::encode(const core::ChatEvent& event, std::string& out) {
  if (event.choice != 0) return;  // the Responses API has one output per response
  switch (event.kind) {
    case core::EventKind::Start:
      begin(out);
      return;
    case core::EventKind::ThinkingDelta: {
      if (event.text.empty()) return;
      if (!reasoningItem_) {
        // A message being written ends here; a tool call still taking arguments does not.
        if (textItem_) closeItem(items_[*textItem_], out);
        textItem_.reset();
        reasoningItem_ = openItem(ItemKind::Reasoning, out).outputIndex;
        const Item& item = items_[*reasoningItem_];
        emit("response.reasoning_summary_part.added",
             json{{"item_id", item.id}, {"output_index", item.outputIndex}, {"summary_index", 0},
                  {"part", {{"type", "summary_text"}, {"text", ""}}}},
             out);
      }
      Item& item = items_[*reasoningItem_];
      item.text += event.text;
      emitDelta("response.reasoning_summary_text.delta", item, "summary_index", 0, event.text, out);
      return;
    }
    case core::EventKind::TextDelta:
    case core::EventKind::RefusalDelta: {
      if (event.text.empty()) return;
      const bool refusal = event.kind == core::EventKind::RefusalDelta;
      if (!textItem_) {
        if (reasoningItem_) closeItem(items_[*reasoningItem_], out);
        reasoningItem_.reset();
        textItem_ = openItem(ItemKind::Message, out).outputIndex;
      }
      Item& item = items_[*textItem_];
      std::string& collected = refusal ? item.refusal : item.text;
      if (item.text.empty() && item.refusal.empty()) item.refusalFirst = refusal;
      // Parts are numbered in the order they opened.
      const std::size_t contentIndex = refusal == item.refusalFirst ? 0 : 1;
      if (collected.empty()) {
        json part = refusal ? json{{"type", "refusal"}, {"refusal", ""}}
                            : json{{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}};
        emit("response.content_part.added",
             json{{"item_id", item.id}, {"output_index", item.outputIndex}, {"content_index", contentIndex},
                  {"part", std::move(part)}},
             out);
      }
      collected += event.text;
      emitDelta(refusal ? "response.refusal.delta" : "response.output_text.delta", item, "content_index", contentIndex,
                event.text, out);
      return;
    }
    case core::EventKind::ToolCallStart: {
      if (textItem_) closeItem(items_[*textItem_], out);
      if (reasoningItem_) closeItem(items_[*reasoningItem_], out);
      textItem_.reset();
      reasoningItem_.reset();
      begin(out);
      Item item{ItemKind::FunctionCall, items_.size(), "", "", "", event.id, event.name, true};
      item.id = itemIdFor("fc_", items_.size(), id_);
      items_.push_back(std::move(item));
      toolItems_[event.toolIndex] = items_.size() - 1;
      const Item& added = items_.back();
      emit("response.output_item.added", json{{"output_index", added.outputIndex}, {"item", itemJson(added)}}, out);
      return;
    }
    case core::EventKind::ToolCallDelta: {
      auto found = toolItems_.find(event.toolIndex);
      if (found == toolItems_.end() || event.text.empty() || !items_[found->second].open) return;
      Item& item = items_[found->second];
      item.text += event.text;
      emitDelta("response.function_call_arguments.delta", item, nullptr, 0, event.text, out);
      return;
    }
    case core::EventKind::ToolCallEnd: {
      if (auto found = toolItems_.find(event.toolIndex); found != toolItems_.end()) closeItem(items_[found->second], out);
      return;
    }
    case core::EventKind::SignatureDelta:  // no place for it in a summary
      return;
    case core::EventKind::Finish:
      finish_ = event.finish;
      return;
    case core::EventKind::UsageReport:
      usage_ = event.usage;
      usage_.present = true;
      return;
  }
}

void StreamEncoder::finish(std::string& out) {
  begin(out);
  if (items_.empty()) openItem(ItemKind::Message, out);  // an empty answer is still a message
  closeOpenItems(out);
  const auto [status, reason] = statusOf(finish_);
  answered_ = responseJson(status);
  emit(std::string("response.") + status, json{{"response", answered_}}, out);
}

std::string StreamEncoder::answeredDocument() const { return answered_.is_null() ? std::string() : core::dumpJson(answered_); }

void StreamEncoder::encodeError(const GatewayError& error, std::string& out) {
  // Opened and closed as a stream is, so that an SDK reading it reaches the error.
  begin(out);
  closeOpenItems(out);
  emit("error",
       json{{"code", error.code.empty() ? json(nullptr) : json(error.code)},
            {"message", error.message},
            {"param", error.param.empty() ? json(nullptr) : json(error.param)}},
       out);
  json failed = responseJson("failed");
  failed["error"] = responseError(error.kind, error.message);
  emit("response.failed", json{{"response", std::move(failed)}}, out);
}

}  // namespace llmgate::api::responses
