#include "providers/gemini/gemini_codec.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <random>

namespace llmgate::providers::gemini {
namespace {

using core::ErrorKind;
using core::GatewayError;
using nlohmann::json;

// Schema keywords Gemini's OpenAPI subset knows; everything else is dropped.
constexpr const char* kSchemaKeys[] = {"type",     "format",    "title",      "description", "nullable",
                                       "enum",     "maxItems",  "minItems",   "properties",  "required",
                                       "minProperties", "maxProperties", "minLength", "maxLength", "pattern",
                                       "example",  "anyOf",     "propertyOrdering", "default", "items",
                                       "minimum",  "maximum"};

std::string upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// A part for an image: inline bytes for a data: URI, a file reference otherwise.
json imagePart(const std::string& url) {
  if (url.rfind("data:", 0) == 0) {
    const auto semicolon = url.find(';');
    const auto comma = url.find(',');
    if (semicolon != std::string::npos && comma != std::string::npos && semicolon < comma) {
      return {{"inlineData", {{"mimeType", url.substr(5, semicolon - 5)}, {"data", url.substr(comma + 1)}}}};
    }
  }
  std::string extension = url.substr(url.find_last_of('.') + 1);
  extension = extension.substr(0, extension.find_first_of("?#"));
  for (auto& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string mime = extension == "png" ? "image/png" : extension == "webp" ? "image/webp"
                          : extension == "gif" ? "image/gif" : extension == "heic" ? "image/heic" : "image/jpeg";
  return {{"fileData", {{"mimeType", mime}, {"fileUri", url}}}};
}

// A tool's result as the Struct Gemini wants: a JSON object as is, anything else wrapped.
json functionResponse(const core::ContentPart& part, const std::string& name) {
  json value = json::parse(part.text, nullptr, false);
  json response;
  if (part.isError) {
    response = {{"error", value.is_discarded() ? json(part.text) : value}};
  } else if (value.is_object()) {
    response = std::move(value);
  } else {
    response = {{"result", value.is_discarded() ? json(part.text) : value}};
  }
  return {{"functionResponse", {{"name", name}, {"response", std::move(response)}}}};
}

// Appends a turn, merging it into the previous one when the role repeats (Gemini wants turns
// to alternate; tool results and a user's words become one user turn).
void appendTurn(json& contents, const char* role, json parts) {
  if (parts.empty()) return;
  if (!contents.empty() && contents.back()["role"] == role) {
    for (auto& part : parts) contents.back()["parts"].push_back(std::move(part));
    return;
  }
  contents.push_back({{"role", role}, {"parts", std::move(parts)}});
}

std::string randomSuffix() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out(12, ' ');
  for (auto& c : out) c = kAlphabet[random() % (sizeof kAlphabet - 1)];
  return out;
}

// Gemini rarely sends call ids: one is made from the response id, unique within the answer.
std::string callId(const json& call, const std::string& responseId, int index) {
  if (auto id = call.find("id"); id != call.end() && id->is_string() && !id->get_ref<const std::string&>().empty()) {
    return id->get<std::string>();
  }
  return "call_" + (responseId.empty() ? randomSuffix() : responseId) + "_" + std::to_string(index);
}

const json* candidatesOf(const json& body) {
  auto it = body.find("candidates");
  return it != body.end() && it->is_array() ? &*it : nullptr;
}

// A prompt blocked before any candidate: the answer is an empty, filtered one.
bool promptBlocked(const json& body) {
  auto feedback = body.find("promptFeedback");
  return feedback != body.end() && feedback->is_object() && feedback->contains("blockReason");
}

}  // namespace

json cleanSchema(const json& schema) {
  if (!schema.is_object()) return schema;
  json out = json::object();
  for (const char* key : kSchemaKeys) {
    auto it = schema.find(key);
    if (it == schema.end()) continue;
    const std::string name = key;
    if (name == "type") {
      if (it->is_string()) {
        out["type"] = upper(it->get<std::string>());
      } else if (it->is_array()) {
        // ["string","null"]: the one real type, nullable.
        for (const auto& type : *it) {
          if (type == "null") {
            out["nullable"] = true;
          } else if (type.is_string() && !out.contains("type")) {
            out["type"] = upper(type.get<std::string>());
          }
        }
      }
    } else if (name == "properties" && it->is_object()) {
      json properties = json::object();
      for (const auto& [property, value] : it->items()) properties[property] = cleanSchema(value);
      out["properties"] = std::move(properties);
    } else if (name == "items") {
      out["items"] = cleanSchema(*it);
    } else if (name == "anyOf" && it->is_array()) {
      json options = json::array();
      for (const auto& option : *it) options.push_back(cleanSchema(option));
      out["anyOf"] = std::move(options);
    } else if (name == "enum" && it->is_array()) {
      // Gemini's enums are strings.
      json values = json::array();
      for (const auto& value : *it) values.push_back(value.is_string() ? value : json(value.dump()));
      out["enum"] = std::move(values);
      if (!out.contains("type")) out["type"] = "STRING";
    } else {
      out[name] = *it;
    }
  }
  if (auto it = schema.find("const"); it != schema.end() && !out.contains("enum")) {
    out["enum"] = json::array({it->is_string() ? *it : json(it->dump())});
    if (!out.contains("type")) out["type"] = "STRING";
  }
  return out;
}

core::Result<json> encodeRequest(const core::ChatRequest& request) {
  std::map<std::string, std::string> toolNames;  // call id -> function name, for the results
  std::string system;
  for (const auto& text : request.system) system += (system.empty() ? "" : "\n\n") + text;
  json contents = json::array();
  for (const auto& message : request.messages) {
    json parts = json::array();
    switch (message.role) {
      case core::Role::System:
        system += (system.empty() ? "" : "\n\n") + message.joinedText();
        break;
      case core::Role::Assistant: {
        std::string signature;
        for (const auto& part : message.content) {
          if (part.kind == core::PartKind::Thinking && !part.signature.empty() && signature.empty()) {
            signature = part.signature;
          } else if (part.kind == core::PartKind::Text && !part.text.empty()) {
            parts.push_back({{"text", part.text}});
          } else if (part.kind == core::PartKind::ToolCall) {
            toolNames[part.toolCallId] = part.toolName;
            json args = json::parse(part.arguments.empty() ? "{}" : part.arguments, nullptr, false);
            if (!args.is_object()) args = json::object();
            parts.push_back({{"functionCall", {{"name", part.toolName}, {"args", std::move(args)}}}});
          }
        }
        if (!signature.empty() && !parts.empty()) {
          // The signature belongs on the turn's first function call (else its first part).
          auto target = std::find_if(parts.begin(), parts.end(), [](const json& p) { return p.contains("functionCall"); });
          (target != parts.end() ? *target : parts.front())["thoughtSignature"] = signature;
        }
        appendTurn(contents, "model", std::move(parts));
        break;
      }
      case core::Role::User:
      case core::Role::Tool:
        for (const auto& part : message.content) {
          if (part.kind == core::PartKind::Text) {
            parts.push_back({{"text", part.text}});
          } else if (part.kind == core::PartKind::Image) {
            parts.push_back(imagePart(part.imageUrl));
          } else if (part.kind == core::PartKind::ToolResult) {
            auto name = toolNames.find(part.toolCallId);
            if (name == toolNames.end()) {
              GatewayError error = GatewayError::make(
                  ErrorKind::InvalidRequest, "invalid_request",
                  "tool result for call " + part.toolCallId + " has no matching tool call earlier in the conversation");
              error.param = "messages";
              return error;
            }
            parts.push_back(functionResponse(part, name->second));
          }
        }
        appendTurn(contents, "user", std::move(parts));
        break;
    }
  }
  json body{{"contents", std::move(contents)}};
  if (!system.empty()) body["systemInstruction"] = {{"parts", {{{"text", system}}}}};

  json generation = json::object();
  if (request.temperature) generation["temperature"] = *request.temperature;
  if (request.topP) generation["topP"] = *request.topP;
  if (request.topK) generation["topK"] = *request.topK;
  if (request.maxTokens) generation["maxOutputTokens"] = *request.maxTokens;
  if (!request.stop.empty()) generation["stopSequences"] = request.stop;
  if (request.n) generation["candidateCount"] = *request.n;
  if (request.seed) generation["seed"] = *request.seed;
  if (request.responseFormat.is_object()) {
    const std::string type = request.responseFormat.value("type", std::string());
    if (type == "json_object" || type == "json_schema") generation["responseMimeType"] = "application/json";
    if (type == "json_schema") {
      const json& spec = request.responseFormat.contains("json_schema") ? request.responseFormat["json_schema"] : json();
      if (spec.is_object() && spec.contains("schema")) generation["responseSchema"] = cleanSchema(spec["schema"]);
    }
  }
  if (request.thinking) {
    json thinking{{"includeThoughts", request.thinking->enabled}};
    if (!request.thinking->enabled) thinking["thinkingBudget"] = 0;
    if (request.thinking->enabled && request.thinking->budgetTokens) thinking["thinkingBudget"] = *request.thinking->budgetTokens;
    generation["thinkingConfig"] = std::move(thinking);
  }
  if (!generation.empty()) body["generationConfig"] = std::move(generation);

  if (!request.tools.empty()) {
    json declarations = json::array();
    for (const auto& tool : request.tools) {
      json declaration{{"name", tool.name}};
      if (!tool.description.empty()) declaration["description"] = tool.description;
      json parameters = cleanSchema(tool.parameters);
      // Gemini rejects an OBJECT without properties: a function without arguments has none.
      const bool empty = !parameters.is_object() || (parameters.value("type", std::string()) == "OBJECT" &&
                                                     (!parameters.contains("properties") || parameters["properties"].empty()));
      if (!empty) declaration["parameters"] = std::move(parameters);
      declarations.push_back(std::move(declaration));
    }
    body["tools"] = json::array({{{"functionDeclarations", std::move(declarations)}}});
    if (request.toolChoice) {
      json config;
      switch (request.toolChoice->mode) {
        case core::ToolChoice::Mode::Auto: config = {{"mode", "AUTO"}}; break;
        case core::ToolChoice::Mode::None: config = {{"mode", "NONE"}}; break;
        case core::ToolChoice::Mode::Required: config = {{"mode", "ANY"}}; break;
        case core::ToolChoice::Mode::Function:
          config = {{"mode", "ANY"}, {"allowedFunctionNames", {request.toolChoice->functionName}}};
          break;
      }
      body["toolConfig"] = {{"functionCallingConfig", std::move(config)}};
    }
  }
  return body;
}

core::FinishReason parseFinishReason(std::string_view reason) {
  if (reason == "MAX_TOKENS") return core::FinishReason::Length;
  if (reason == "SAFETY" || reason == "RECITATION" || reason == "LANGUAGE" || reason == "BLOCKLIST" ||
      reason == "PROHIBITED_CONTENT" || reason == "SPII" || reason == "IMAGE_SAFETY" ||
      reason == "IMAGE_PROHIBITED_CONTENT" || reason == "IMAGE_RECITATION") {
    return core::FinishReason::ContentFilter;
  }
  return core::FinishReason::Stop;  // STOP, OTHER, MALFORMED_FUNCTION_CALL, ...
}

core::Usage decodeUsage(const json& usage) {
  core::Usage out;
  if (!usage.is_object() || !usage.contains("promptTokenCount")) return out;
  out.present = true;
  out.inputTokens = usage.value("promptTokenCount", std::int64_t{0});
  out.reasoningTokens = usage.value("thoughtsTokenCount", std::int64_t{0});
  // Output as OpenAI counts it: thoughts included.
  out.outputTokens = usage.value("candidatesTokenCount", std::int64_t{0}) + out.reasoningTokens;
  out.cachedInputTokens = usage.value("cachedContentTokenCount", std::int64_t{0});
  return out;
}

namespace {

core::Result<core::ChatResponse> decodeResponseUnchecked(const json& body) {
  if (!body.is_object()) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_response", "upstream response is not an object");
  }
  core::ChatResponse response;
  response.id = body.value("responseId", std::string());
  response.model = body.value("modelVersion", std::string());
  if (const json* candidates = candidatesOf(body)) {
    int calls = 0;
    for (const auto& candidate : *candidates) {
      core::Choice choice;
      choice.index = candidate.value("index", static_cast<int>(response.choices.size()));
      const json* parts = nullptr;
      if (auto content = candidate.find("content"); content != candidate.end() && content->is_object()) {
        if (auto it = content->find("parts"); it != content->end() && it->is_array()) parts = &*it;
      }
      for (const auto& part : parts != nullptr ? *parts : json::array()) {
        if (auto signature = part.find("thoughtSignature"); signature != part.end() && signature->is_string() &&
                                                            choice.thinkingSignature.empty()) {
          choice.thinkingSignature = signature->get<std::string>();
        }
        if (auto call = part.find("functionCall"); call != part.end() && call->is_object()) {
          const json args = call->contains("args") ? (*call)["args"] : json::object();
          choice.toolCalls.push_back({callId(*call, response.id, calls++), call->value("name", std::string()), args.dump()});
        } else if (auto text = part.find("text"); text != part.end() && text->is_string()) {
          (part.value("thought", false) ? choice.thinking : choice.text) += text->get<std::string>();
        }
      }
      if (auto reason = candidate.find("finishReason"); reason != candidate.end() && reason->is_string()) {
        choice.finish = parseFinishReason(reason->get<std::string>());
      }
      if (!choice.toolCalls.empty() && choice.finish == core::FinishReason::Stop) choice.finish = core::FinishReason::ToolCalls;
      response.choices.push_back(std::move(choice));
    }
  }
  if (response.choices.empty()) {
    if (!promptBlocked(body)) {
      return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_response", "upstream response has no candidates");
    }
    core::Choice blocked;
    blocked.finish = core::FinishReason::ContentFilter;
    response.choices.push_back(blocked);
  }
  if (auto usage = body.find("usageMetadata"); usage != body.end()) response.usage = decodeUsage(*usage);
  return response;
}

std::optional<GatewayError> decodeChunkUnchecked(const json& chunk, StreamState& state, std::vector<core::ChatEvent>& out) {
  if (!chunk.is_object()) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_chunk", "stream chunk is not an object");
  }
  if (auto error = chunk.find("error"); error != chunk.end() && error->is_object()) {
    GatewayError failure = decodeError(error->value("code", 502), json{{"error", *error}}.dump());
    if (failure.kind != ErrorKind::RateLimited) failure.kind = ErrorKind::Upstream;
    return failure;
  }
  if (!state.started) {
    state.started = true;
    state.responseId = chunk.value("responseId", std::string());
    out.push_back(core::ChatEvent::start(state.responseId, chunk.value("modelVersion", std::string())));
  }
  if (auto usage = chunk.find("usageMetadata"); usage != chunk.end()) {
    // Cumulative: the last one counts.
    if (auto decoded = decodeUsage(*usage); decoded.present) state.usage = decoded;
  }
  const json* candidates = candidatesOf(chunk);
  if (candidates == nullptr) {
    if (promptBlocked(chunk)) {
      state.finished = true;
      out.push_back(core::ChatEvent::finished(core::FinishReason::ContentFilter));
    }
    return std::nullopt;
  }
  for (const auto& candidate : *candidates) {
    const int index = candidate.value("index", 0);
    if (index < 0 || index > 127) continue;
    const auto slot = static_cast<std::size_t>(index);
    if (state.candidates.size() <= slot) state.candidates.resize(slot + 1);
    auto& sent = state.candidates[slot];
    const json* parts = nullptr;
    if (auto content = candidate.find("content"); content != candidate.end() && content->is_object()) {
      if (auto it = content->find("parts"); it != content->end() && it->is_array()) parts = &*it;
    }
    for (const auto& part : parts != nullptr ? *parts : json::array()) {
      if (auto signature = part.find("thoughtSignature"); signature != part.end() && signature->is_string() &&
                                                          !sent.signatureSent) {
        sent.signatureSent = true;
        core::ChatEvent event = core::ChatEvent::textDelta(signature->get<std::string>(), index);
        event.kind = core::EventKind::SignatureDelta;
        out.push_back(std::move(event));
      }
      if (auto call = part.find("functionCall"); call != part.end() && call->is_object()) {
        // Calls arrive whole: start, all arguments at once, end.
        const int toolIndex = sent.toolCalls++;
        const json args = call->contains("args") ? (*call)["args"] : json::object();
        out.push_back(core::ChatEvent::toolCallStart(toolIndex, callId(*call, state.responseId, toolIndex),
                                                     call->value("name", std::string()), index));
        out.push_back(core::ChatEvent::toolCallDelta(toolIndex, args.dump(), index));
        core::ChatEvent end;
        end.kind = core::EventKind::ToolCallEnd;
        end.choice = index;
        end.toolIndex = toolIndex;
        out.push_back(end);
      } else if (auto text = part.find("text"); text != part.end() && text->is_string() &&
                                                !text->get_ref<const std::string&>().empty()) {
        core::ChatEvent event = core::ChatEvent::textDelta(text->get<std::string>(), index);
        if (part.value("thought", false)) event.kind = core::EventKind::ThinkingDelta;
        out.push_back(std::move(event));
      }
    }
    if (auto reason = candidate.find("finishReason"); reason != candidate.end() && reason->is_string()) {
      auto finish = parseFinishReason(reason->get<std::string>());
      if (finish == core::FinishReason::Stop && sent.toolCalls > 0) finish = core::FinishReason::ToolCalls;
      state.finished = true;
      out.push_back(core::ChatEvent::finished(finish, index));
    }
  }
  return std::nullopt;
}

}  // namespace

// Upstream bytes may have any shape: a member of an unexpected type is a malformed answer, not a crash.
core::Result<core::ChatResponse> decodeResponse(const json& body) {
  try {
    return decodeResponseUnchecked(body);
  } catch (const json::exception& error) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_response",
                              std::string("upstream response is not a valid GenerateContentResponse: ") + error.what());
  }
}

std::optional<GatewayError> decodeChunk(const json& chunk, StreamState& state, std::vector<core::ChatEvent>& out) {
  try {
    return decodeChunkUnchecked(chunk, state, out);
  } catch (const json::exception& error) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_chunk",
                              std::string("stream chunk is not a valid GenerateContentResponse: ") + error.what());
  }
}

std::optional<GatewayError> finishStream(StreamState& state, std::vector<core::ChatEvent>& out) {
  if (!state.started) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_empty_stream", "upstream stream ended without any chunk");
  }
  // The last chunk carries the finishReason; without it the stream was cut.
  if (!state.finished) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_disconnected", "upstream stream ended before a finishReason");
  }
  if (state.usage.present) out.push_back(core::ChatEvent::usageReport(state.usage));
  return std::nullopt;
}

namespace {
void refineError(std::string_view body, GatewayError& error);
}  // namespace

GatewayError decodeError(int status, std::string_view body) {
  GatewayError error = core::upstreamHttpError(status);
  try {
    refineError(body, error);
  } catch (const json::exception&) {
    // An error body of an unexpected shape: the status says enough.
  }
  return error;
}

namespace {

void refineError(std::string_view body, GatewayError& error) {
  json parsed = json::parse(body, nullptr, false);
  // streamGenerateContent may wrap the error in an array.
  if (parsed.is_array() && !parsed.empty()) parsed = parsed.front();
  if (!parsed.is_object() || !parsed.contains("error") || !parsed["error"].is_object()) return;
  const json& detail = parsed["error"];
  if (auto message = detail.find("message"); message != detail.end() && message->is_string()) {
    error.message = message->get<std::string>();
  }
  if (auto rpcStatus = detail.find("status"); rpcStatus != detail.end() && rpcStatus->is_string()) {
    std::string code = rpcStatus->get<std::string>();
    for (auto& c : code) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    error.code = code;
  }
  if (auto details = detail.find("details"); details != detail.end() && details->is_array()) {
    for (const auto& item : *details) {
      if (!item.is_object() || item.value("@type", std::string()).find("google.rpc.RetryInfo") == std::string::npos) continue;
      // A protobuf Duration: "45.837906927s".
      const std::string delay = item.value("retryDelay", std::string());
      char* end = nullptr;
      const double seconds = std::strtod(delay.c_str(), &end);
      if (end != delay.c_str() && *end == 's' && seconds >= 0) {
        error.retryAfter = std::to_string(static_cast<std::int64_t>(std::ceil(seconds)));
      }
    }
  }
}

}  // namespace

}  // namespace llmgate::providers::gemini
