#include "protocol_upstreams.hpp"

#include <nlohmann/json.hpp>

#include "common/event_stream_writer.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;

// What every upstream answers, decided from the last turn whatever its wire format.
struct Answer {
  bool tool = false;
  std::string text;
};

Answer decide(bool toolsOffered, const std::string& toolResult) {
  if (!toolResult.empty()) return {false, "It is " + toolResult + "."};
  if (toolsOffered) return {true, {}};
  return {false, kUpstreamText};
}

std::vector<std::string> pieces(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < text.size(); i += 6) out.push_back(text.substr(i, 6));
  return out;
}

}  // namespace

ScriptedResponse openAiCompatibleUpstream(const RecordedRequest& request) {
  const json body = json::parse(request.body);
  const json& last = body["messages"].back();
  const Answer answer = decide(body.contains("tools"), last["role"] == "tool" ? last["content"].get<std::string>() : "");
  const json usage = {{"prompt_tokens", 9}, {"completion_tokens", 4}, {"total_tokens", 13}};
  const json call = {{"id", "call_1"}, {"type", "function"}, {"function", {{"name", kToolName}, {"arguments", kToolArguments}}}};
  if (!body.value("stream", false)) {
    json message = answer.tool ? json{{"role", "assistant"}, {"content", nullptr}, {"tool_calls", {call}}}
                               : json{{"role", "assistant"}, {"content", answer.text}};
    return ScriptedResponse::json(200, json{{"id", "c"}, {"object", "chat.completion"}, {"created", 1}, {"model", "up"},
                                            {"choices", {{{"index", 0}, {"message", message}, {"finish_reason", answer.tool ? "tool_calls" : "stop"}}}},
                                            {"usage", usage}}.dump());
  }
  auto chunk = [](json delta, json finish = nullptr) {
    return "data: " + json{{"id", "c"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "up"},
                           {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}}.dump() + "\n\n";
  };
  std::vector<std::string> events{chunk({{"role", "assistant"}, {"content", ""}})};
  if (answer.tool) {
    events.push_back(chunk({{"tool_calls", {{{"index", 0}, {"id", "call_1"}, {"type", "function"},
                                             {"function", {{"name", kToolName}, {"arguments", ""}}}}}}}));
    for (const char* part : {R"({"ci)", R"(ty":"Pa)", R"(ris"})"}) {
      events.push_back(chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", part}}}}}}}));
    }
    events.push_back(chunk(json::object(), "tool_calls"));
  } else {
    for (const auto& part : pieces(answer.text)) events.push_back(chunk({{"content", part}}));
    events.push_back(chunk(json::object(), "stop"));
  }
  events.push_back("data: " + json{{"id", "c"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "up"},
                                   {"choices", json::array()}, {"usage", usage}}.dump() + "\n\n");
  events.push_back("data: [DONE]\n\n");
  return ScriptedResponse::sse(events);
}

ScriptedResponse anthropicUpstream(const RecordedRequest& request) {
  const json body = json::parse(request.body);
  std::string toolResult;
  const json& last = body["messages"].back();
  if (last["content"].is_array()) {
    for (const auto& block : last["content"]) {
      if (block["type"] == "tool_result") toolResult = block["content"].is_string() ? block["content"].get<std::string>()
                                                                                   : block["content"][0]["text"].get<std::string>();
    }
  }
  const Answer answer = decide(body.contains("tools"), toolResult);
  const json block = answer.tool ? json{{"type", "tool_use"}, {"id", "toolu_1"}, {"name", kToolName}, {"input", json::parse(kToolArguments)}}
                                 : json{{"type", "text"}, {"text", answer.text}};
  const char* stop = answer.tool ? "tool_use" : "end_turn";
  if (!body.value("stream", false)) {
    return ScriptedResponse::json(200, json{{"id", "msg_1"}, {"type", "message"}, {"role", "assistant"}, {"model", "up"},
                                            {"content", {block}}, {"stop_reason", stop}, {"stop_sequence", nullptr},
                                            {"usage", {{"input_tokens", 9}, {"output_tokens", 4}}}}.dump());
  }
  auto frame = [](const char* type, json data) {
    data["type"] = type;
    return std::string("event: ") + type + "\ndata: " + data.dump() + "\n\n";
  };
  std::vector<std::string> events{frame("message_start", {{"message", {{"id", "msg_1"}, {"type", "message"}, {"role", "assistant"},
                                                                       {"model", "up"}, {"content", json::array()},
                                                                       {"usage", {{"input_tokens", 9}, {"output_tokens", 1}}}}}})};
  json start = block;
  if (answer.tool) {
    start["input"] = json::object();
  } else {
    start["text"] = "";
  }
  events.push_back(frame("content_block_start", {{"index", 0}, {"content_block", start}}));
  if (answer.tool) {
    for (const char* part : {"", R"({"ci)", R"(ty":"Pa)", R"(ris"})"}) {
      events.push_back(frame("content_block_delta", {{"index", 0}, {"delta", {{"type", "input_json_delta"}, {"partial_json", part}}}}));
    }
  } else {
    for (const auto& part : pieces(answer.text)) {
      events.push_back(frame("content_block_delta", {{"index", 0}, {"delta", {{"type", "text_delta"}, {"text", part}}}}));
    }
  }
  events.push_back(frame("content_block_stop", {{"index", 0}}));
  events.push_back(frame("message_delta", {{"delta", {{"stop_reason", stop}, {"stop_sequence", nullptr}}}, {"usage", {{"output_tokens", 4}}}}));
  events.push_back(frame("message_stop", json::object()));
  return ScriptedResponse::sse(events);
}

ScriptedResponse geminiUpstream(const RecordedRequest& request) {
  const json body = json::parse(request.body);
  std::string toolResult;
  for (const auto& part : body["contents"].back()["parts"]) {
    if (part.contains("functionResponse")) toolResult = part["functionResponse"]["response"].value("result", std::string());
  }
  const Answer answer = decide(body.contains("tools"), toolResult);
  const json usage = {{"promptTokenCount", 9}, {"candidatesTokenCount", 4}, {"totalTokenCount", 13}};
  const json callPart = {{"functionCall", {{"name", kToolName}, {"args", json::parse(kToolArguments)}}}, {"thoughtSignature", "c2ln"}};
  auto response = [&](json parts, bool final) {
    json candidate = {{"content", {{"role", "model"}, {"parts", std::move(parts)}}}, {"index", 0}};
    if (final) candidate["finishReason"] = "STOP";
    return json{{"candidates", {candidate}}, {"usageMetadata", usage}, {"modelVersion", "gemini-up"}, {"responseId", "resp1"}};
  };
  const bool stream = request.target.find(":streamGenerateContent?alt=sse") != std::string::npos;
  if (!stream) {
    return ScriptedResponse::json(200, response(answer.tool ? json::array({callPart}) : json::array({{{"text", answer.text}}}), true).dump());
  }
  std::vector<std::string> events;
  if (answer.tool) {
    events.push_back("data: " + response(json::array({callPart}), true).dump() + "\r\n\r\n");
  } else {
    const auto parts = pieces(answer.text);
    for (std::size_t i = 0; i < parts.size(); ++i) {
      events.push_back("data: " + response(json::array({{{"text", parts[i]}}}), i + 1 == parts.size()).dump() + "\r\n\r\n");
    }
  }
  return ScriptedResponse::sse(events);
}

ScriptedResponse kiroUpstream(const RecordedRequest& request) {
  const json body = json::parse(request.body);
  const json& current = body["conversationState"]["currentMessage"]["userInputMessage"];
  const json context = current.value("userInputMessageContext", json::object());
  std::string toolResult;
  if (context.contains("toolResults")) toolResult = context["toolResults"][0]["content"][0]["text"].get<std::string>();
  const Answer answer = decide(context.contains("tools") && !context["tools"].empty(), toolResult);
  std::vector<std::string> frames{eventStreamMessage(stringHeader(":event-type", "initial-response") +
                                                         stringHeader(":content-type", "application/x-amz-json-1.0") +
                                                         stringHeader(":message-type", "event"),
                                                     R"({"conversationId":""})")};
  if (answer.tool) {
    const std::string name = context["tools"][0]["toolSpecification"]["name"];
    for (const char* part : {R"({"ci)", R"(ty":"Pa)", R"(ris"})"}) {
      frames.push_back(awsEvent("toolUseEvent", json{{"name", name}, {"toolUseId", "tooluse_1"}, {"input", part}}.dump()));
    }
    frames.push_back(awsEvent("toolUseEvent", json{{"name", name}, {"toolUseId", "tooluse_1"}, {"stop", true}}.dump()));
  } else {
    for (const auto& part : pieces(answer.text)) frames.push_back(awsEvent("assistantResponseEvent", json{{"content", part}}.dump()));
  }
  frames.push_back(awsEvent("meteringEvent", R"({"unit":"credit","unitPlural":"credits","usage":0.0123})"));
  frames.push_back(awsEvent("messageMetadataEvent", R"({"conversationId":"c","tokenUsage":{"uncachedInputTokens":9,"outputTokens":4}})"));
  frames.push_back(awsEvent("contextUsageEvent", R"({"contextUsagePercentage":1.25})"));
  ScriptedResponse response;
  response.headers.emplace_back("Content-Type", "application/vnd.amazon.eventstream");
  response.chunked = true;
  response.chunks = std::move(frames);
  return response;
}

}  // namespace llmgate::testing
