#include "providers/gemini/gemini_codec.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <random>

#include "llmgate/core/json_read.hpp"

namespace llmgate::providers::gemini {
namespace {

using core::ErrorKind;
using core::FieldReader;
using core::GatewayError;
using nlohmann::json;

// Candidates a response may carry (candidateCount is at most 8); a larger index is skipped.
constexpr std::int64_t kMaxCandidateIndex = 127;
// A RetryInfo delay longer than this (a day) is not a delay anyone waits for.
constexpr double kMaxRetryDelaySeconds = 86400;

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
  json value = core::parseJson(part.text);
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
std::string callId(const FieldReader& call, const std::string& responseId, int index) {
  if (const std::string* id = call.string("id"); id != nullptr && !id->empty()) return *id;
  return "call_" + (responseId.empty() ? randomSuffix() : responseId) + "_" + std::to_string(index);
}

// A prompt blocked before any candidate: the answer is an empty, filtered one.
bool promptBlocked(const FieldReader& body) {
  const json* feedback = body.object("promptFeedback");
  return feedback != nullptr && feedback->contains("blockReason");
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
        out["type"] = upper(it->get_ref<const std::string&>());
      } else if (it->is_array()) {
        // ["string","null"]: the one real type, nullable.
        for (const auto& type : *it) {
          if (type == "null") {
            out["nullable"] = true;
          } else if (type.is_string() && !out.contains("type")) {
            out["type"] = upper(type.get_ref<const std::string&>());
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
            json args = core::parseJson(part.arguments.empty() ? "{}" : part.arguments);
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
    std::optional<core::TypeMismatch> ignored;
    FieldReader format(request.responseFormat, "response_format", ignored);
    const std::string type = format.stringOr("type");
    if (type == "json_object" || type == "json_schema") generation["responseMimeType"] = "application/json";
    if (const json* spec = format.object("json_schema"); spec != nullptr && type == "json_schema") {
      if (const json* schema = FieldReader(*spec, "response_format.json_schema", ignored).member("schema")) {
        generation["responseSchema"] = cleanSchema(*schema);
      }
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
      const auto type = parameters.find("type");
      const auto properties = parameters.find("properties");
      const bool empty = !parameters.is_object() || (type != parameters.end() && *type == "OBJECT" &&
                                                     (properties == parameters.end() || properties->empty()));
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
  // Token counts only account: a count of the wrong type makes the usage unknown, never the answer fail.
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(usage, "usageMetadata", mismatch);
  core::Usage out;
  const auto prompt = fields.integer("promptTokenCount");
  out.inputTokens = prompt.value_or(0);
  out.reasoningTokens = fields.integer("thoughtsTokenCount").value_or(0);
  // Output as OpenAI counts it: thoughts included.
  out.outputTokens = fields.integer("candidatesTokenCount").value_or(0) + out.reasoningTokens;
  out.cachedInputTokens = fields.integer("cachedContentTokenCount").value_or(0);
  out.present = prompt.has_value() && !mismatch;
  return out;
}

namespace {

// The parts of a candidate's content, or an empty array.
const json& partsOf(const FieldReader& candidate, std::optional<core::TypeMismatch>& mismatch) {
  static const json kNoParts = json::array();
  const json* content = candidate.object("content");
  if (content == nullptr) return kNoParts;
  const json* parts = FieldReader(*content, "candidates[].content", mismatch).array("parts");
  return parts != nullptr ? *parts : kNoParts;
}

// The index a candidate names, when it is one the state may hold.
std::optional<std::size_t> candidateIndex(const FieldReader& candidate, std::size_t fallback) {
  const auto index = candidate.integer("index");
  if (!index) return fallback;
  if (*index < 0 || *index > kMaxCandidateIndex) return std::nullopt;
  return static_cast<std::size_t>(*index);
}

}  // namespace

core::Result<core::ChatResponse> decodeResponse(const json& body) {
  if (!body.is_object()) {
    return core::malformedUpstream("upstream response is not an object");
  }
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(body, "GenerateContentResponse", mismatch);
  core::ChatResponse response;
  response.id = fields.stringOr("responseId");
  response.model = fields.stringOr("modelVersion");
  if (const json* candidates = fields.array("candidates")) {
    int calls = 0;
    for (const auto& item : *candidates) {
      FieldReader candidate(item, "candidates[]", mismatch);
      const auto index = candidateIndex(candidate, response.choices.size());
      if (!index) continue;
      core::Choice choice;
      choice.index = static_cast<int>(*index);
      for (const auto& item : partsOf(candidate, mismatch)) {
        FieldReader part(item, "candidates[].content.parts[]", mismatch);
        if (const std::string* signature = part.string("thoughtSignature"); signature != nullptr && choice.thinkingSignature.empty()) {
          choice.thinkingSignature = *signature;
        }
        if (const json* call = part.object("functionCall")) {
          FieldReader callFields(*call, "candidates[].content.parts[].functionCall", mismatch);
          const json* args = callFields.member("args");
          choice.toolCalls.push_back({callId(callFields, response.id, calls++), callFields.stringOr("name"),
                                      args != nullptr ? args->dump() : "{}"});
        } else if (const std::string* text = part.string("text")) {
          (part.boolean("thought").value_or(false) ? choice.thinking : choice.text) += *text;
        }
      }
      if (const std::string* reason = candidate.string("finishReason")) choice.finish = parseFinishReason(*reason);
      if (!choice.toolCalls.empty() && choice.finish == core::FinishReason::Stop) choice.finish = core::FinishReason::ToolCalls;
      response.choices.push_back(std::move(choice));
    }
  }
  if (mismatch) return core::malformedUpstream(*mismatch);
  if (response.choices.empty()) {
    if (!promptBlocked(fields)) {
      return core::malformedUpstream("upstream response has no candidates");
    }
    core::Choice blocked;
    blocked.finish = core::FinishReason::ContentFilter;
    response.choices.push_back(blocked);
  }
  if (const json* usage = fields.member("usageMetadata")) response.usage = decodeUsage(*usage);
  return response;
}

std::optional<GatewayError> decodeChunk(const json& chunk, StreamState& state, std::vector<core::ChatEvent>& out) {
  if (!chunk.is_object()) {
    return GatewayError::make(ErrorKind::Protocol, "upstream_malformed_chunk", "stream chunk is not an object");
  }
  std::optional<core::TypeMismatch> mismatch;
  FieldReader fields(chunk, "GenerateContentResponse", mismatch);
  if (const json* error = fields.object("error")) {
    const auto code = FieldReader(*error, "error", mismatch).integer("code").value_or(502);
    GatewayError failure = decodeError(static_cast<int>(std::clamp<std::int64_t>(code, 0, 999)),
                                       core::dumpJson(json{{"error", *error}}));
    if (failure.kind != ErrorKind::RateLimited) failure.kind = ErrorKind::Upstream;
    return failure;
  }
  if (!state.started) {
    state.started = true;
    state.responseId = fields.stringOr("responseId");
    out.push_back(core::ChatEvent::start(state.responseId, fields.stringOr("modelVersion")));
  }
  if (const json* usage = fields.member("usageMetadata")) {
    // Cumulative: the last one counts.
    if (auto decoded = decodeUsage(*usage); decoded.present) state.usage = decoded;
  }
  const json* candidates = fields.array("candidates");
  if (candidates == nullptr) {
    if (mismatch) return core::malformedUpstream(*mismatch, "upstream_malformed_chunk");
    if (promptBlocked(fields)) {
      state.finished = true;
      out.push_back(core::ChatEvent::finished(core::FinishReason::ContentFilter));
    }
    return std::nullopt;
  }
  for (const auto& item : *candidates) {
    FieldReader candidate(item, "candidates[]", mismatch);
    const auto slot = candidateIndex(candidate, 0);
    if (!slot) continue;
    const int index = static_cast<int>(*slot);
    if (state.candidates.size() <= *slot) state.candidates.resize(*slot + 1);
    auto& sent = state.candidates[*slot];
    for (const auto& item : partsOf(candidate, mismatch)) {
      FieldReader part(item, "candidates[].content.parts[]", mismatch);
      if (const std::string* signature = part.string("thoughtSignature"); signature != nullptr && !sent.signatureSent) {
        sent.signatureSent = true;
        core::ChatEvent event = core::ChatEvent::textDelta(*signature, index);
        event.kind = core::EventKind::SignatureDelta;
        out.push_back(std::move(event));
      }
      if (const json* call = part.object("functionCall")) {
        // Calls arrive whole: start, all arguments at once, end.
        FieldReader callFields(*call, "candidates[].content.parts[].functionCall", mismatch);
        const int toolIndex = sent.toolCalls++;
        const json* args = callFields.member("args");
        out.push_back(core::ChatEvent::toolCallStart(toolIndex, callId(callFields, state.responseId, toolIndex),
                                                     callFields.stringOr("name"), index));
        out.push_back(core::ChatEvent::toolCallDelta(toolIndex, args != nullptr ? args->dump() : "{}", index));
        core::ChatEvent end;
        end.kind = core::EventKind::ToolCallEnd;
        end.choice = index;
        end.toolIndex = toolIndex;
        out.push_back(end);
      } else if (const std::string* text = part.string("text"); text != nullptr && !text->empty()) {
        core::ChatEvent event = core::ChatEvent::textDelta(*text, index);
        if (part.boolean("thought").value_or(false)) event.kind = core::EventKind::ThinkingDelta;
        out.push_back(std::move(event));
      }
    }
    if (const std::string* reason = candidate.string("finishReason")) {
      auto finish = parseFinishReason(*reason);
      if (finish == core::FinishReason::Stop && sent.toolCalls > 0) finish = core::FinishReason::ToolCalls;
      state.finished = true;
      out.push_back(core::ChatEvent::finished(finish, index));
    }
  }
  if (mismatch) return core::malformedUpstream(*mismatch, "upstream_malformed_chunk");
  return std::nullopt;
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

GatewayError decodeError(int status, std::string_view body) {
  GatewayError error = core::upstreamHttpError(status);
  json parsed = core::parseJson(body);
  // streamGenerateContent may wrap the error in an array.
  if (parsed.is_array() && !parsed.empty()) parsed = parsed.front();
  // What an error body carries is taken where its type is right; the status decides the rest.
  std::optional<core::TypeMismatch> ignored;
  const json* detail = FieldReader(parsed, "", ignored).object("error");
  if (detail == nullptr) return error;
  FieldReader fields(*detail, "error", ignored);
  if (const std::string* message = fields.string("message")) error.message = *message;
  if (const std::string* rpcStatus = fields.string("status")) {
    std::string code = *rpcStatus;
    for (auto& c : code) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    error.code = code;
  }
  if (const json* details = fields.array("details")) {
    for (const auto& item : *details) {
      FieldReader detailFields(item, "error.details[]", ignored);
      if (detailFields.stringOr("@type").find("google.rpc.RetryInfo") == std::string::npos) continue;
      // A protobuf Duration: "45.837906927s".
      const std::string delay = detailFields.stringOr("retryDelay");
      char* end = nullptr;
      const double seconds = std::strtod(delay.c_str(), &end);
      if (end != delay.c_str() && *end == 's' && seconds >= 0 && seconds <= kMaxRetryDelaySeconds) {
        error.retryAfter = std::to_string(static_cast<std::int64_t>(std::ceil(seconds)));
      }
    }
  }
  return error;
}

}  // namespace llmgate::providers::gemini
