#include "llmgate/api/responses_codec.hpp"

#include <gtest/gtest.h>

#include "llmgate/stream/sse_parser.hpp"
#include "llmgate/wire/wire.hpp"

namespace llmgate::api::responses {
namespace {

using nlohmann::json;

// A request with the documented Responses fields llmgate maps.
const char* kFullRequest = R"({
  "model": "gpt-5",
  "instructions": "You are terse.",
  "input": [
    {"role": "developer", "content": "Use metric units."},
    {"type": "message", "role": "user", "content": [
      {"type": "input_text", "text": "What is in this image?"},
      {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}
    ]},
    {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
    {"type": "function_call", "id": "fc_1", "call_id": "call_abc", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
    {"type": "function_call", "id": "fc_2", "call_id": "call_def", "name": "get_time", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_abc", "output": "18C, cloudy"},
    {"type": "function_call_output", "call_id": "call_def", "output": [{"type": "input_text", "text": "noon"}]},
    {"role": "assistant", "content": [{"type": "output_text", "text": "It is 18C at noon.", "annotations": []}]}
  ],
  "tools": [{"type": "function", "name": "get_weather", "description": "Weather by city", "strict": true,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
  "tool_choice": {"type": "function", "name": "get_weather"},
  "parallel_tool_calls": false,
  "max_output_tokens": 256,
  "temperature": 0.3,
  "top_p": 0.9,
  "reasoning": {"effort": "low", "summary": "auto"},
  "text": {"format": {"type": "json_schema", "name": "weather", "strict": true,
    "schema": {"type": "object", "properties": {"c": {"type": "number"}}}}},
  "store": false,
  "user": "u-1",
  "metadata": {"team": "a"},
  "stream": true
})";

TEST(ResponsesDecode, MapsEveryFieldIntoTheIr) {
  const auto decoded = decodeRequest(json::parse(kFullRequest));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  const core::ChatRequest& request = decoded.value();
  EXPECT_EQ(request.model, "gpt-5");
  EXPECT_EQ(request.system, (std::vector<std::string>{"You are terse.", "Use metric units."}));
  ASSERT_EQ(request.messages.size(), 5u);  // user, assistant (two calls), tool, tool, assistant
  EXPECT_EQ(request.messages[0].role, core::Role::User);
  ASSERT_EQ(request.messages[0].content.size(), 2u);
  EXPECT_EQ(request.messages[0].content[1].kind, core::PartKind::Image);
  EXPECT_EQ(request.messages[0].content[1].imageDetail, "low");
  EXPECT_EQ(request.messages[1].role, core::Role::Assistant);
  ASSERT_EQ(request.messages[1].content.size(), 2u) << "consecutive calls are one assistant turn";
  EXPECT_EQ(request.messages[1].content[0].toolCallId, "call_abc");
  EXPECT_EQ(request.messages[1].content[1].toolName, "get_time");
  EXPECT_EQ(request.messages[2].role, core::Role::Tool);
  EXPECT_EQ(request.messages[2].content[0].text, "18C, cloudy");
  EXPECT_EQ(request.messages[3].content[0].text, "noon");
  EXPECT_EQ(request.messages[4].joinedText(), "It is 18C at noon.");
  ASSERT_EQ(request.tools.size(), 1u);
  EXPECT_EQ(request.tools[0].parameters["required"][0], "city");
  EXPECT_EQ(request.tools[0].strict, true);
  ASSERT_TRUE(request.toolChoice);
  EXPECT_EQ(request.toolChoice->mode, core::ToolChoice::Mode::Function);
  EXPECT_EQ(request.toolChoice->functionName, "get_weather");
  EXPECT_EQ(request.parallelToolCalls, false);
  EXPECT_EQ(request.maxTokens, 256);
  EXPECT_EQ(request.temperature, 0.3);
  EXPECT_EQ(request.topP, 0.9);
  EXPECT_EQ(request.reasoningEffort, "low");
  ASSERT_TRUE(request.thinking);
  EXPECT_TRUE(request.thinking->enabled);
  EXPECT_EQ(request.responseFormat["type"], "json_schema");
  EXPECT_EQ(request.responseFormat["json_schema"]["name"], "weather");
  EXPECT_EQ(request.responseFormat["json_schema"]["strict"], true);
  EXPECT_TRUE(request.stream);
  EXPECT_TRUE(request.includeUsage);
  EXPECT_EQ(request.user, "u-1");
  EXPECT_EQ(request.extra["metadata"]["team"], "a");
  EXPECT_FALSE(request.extra.contains("store"));
}

TEST(ResponsesDecode, ADeveloperMessageBetweenTurnsStaysAtItsPlace) {
  const auto decoded = decodeRequest(json::parse(R"({"model":"m","input":[
    {"role":"developer","content":"first"},{"role":"user","content":"hi"},
    {"role":"developer","content":"now be brief"},{"role":"user","content":"again"}]})"));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded.value().system, std::vector<std::string>{"first"});
  ASSERT_EQ(decoded.value().messages.size(), 3u);
  EXPECT_EQ(decoded.value().messages[1].role, core::Role::System);
  EXPECT_EQ(decoded.value().messages[1].joinedText(), "now be brief");
}

TEST(ResponsesDecode, AStringInputIsOneUserTurn) {
  const auto decoded = decodeRequest(json{{"model", "m"}, {"input", "hi"}});
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded.value().messages.size(), 1u);
  EXPECT_EQ(decoded.value().messages[0].role, core::Role::User);
  EXPECT_EQ(decoded.value().messages[0].joinedText(), "hi");
}

TEST(ResponsesDecode, StateOnTheGatewayIsReadNotForwarded) {
  const auto stored = decodeRequest(json{{"model", "m"}, {"input", "hi"}});
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored.value().store) << "store defaults to true, as OpenAI's";
  EXPECT_TRUE(stored.value().previousResponseId.empty());
  const auto continued =
      decodeRequest(json{{"model", "m"}, {"input", "hi"}, {"previous_response_id", "resp_1"}, {"store", false}});
  ASSERT_TRUE(continued.ok());
  EXPECT_EQ(continued.value().previousResponseId, "resp_1");
  EXPECT_FALSE(continued.value().store);
  EXPECT_FALSE(continued.value().extra.contains("previous_response_id"));
  EXPECT_FALSE(continued.value().extra.contains("store"));
}

// Codex offers hosted tools and namespaces of tools by default: left out and named, the
// request served with the function tools.
TEST(ResponsesDecode, HostedToolsAreLeftOutAndNamed) {
  const auto decoded = decodeRequest(json::parse(R"({"model":"m","input":"hi","tools":[
    {"type":"function","name":"exec_command","parameters":{"type":"object"}},
    {"type":"web_search","external_web_access":false},
    {"type":"namespace","name":"multi_agent_v1","description":"agents","tools":[{"type":"function","name":"close_agent"}]}]})"));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  ASSERT_EQ(decoded.value().tools.size(), 1u);
  EXPECT_EQ(decoded.value().tools[0].name, "exec_command");
  EXPECT_EQ(decoded.value().droppedTools, (std::vector<std::string>{"web_search", "namespace multi_agent_v1"}));
}

TEST(ResponsesDecode, WrongShapesAre400sNamingTheField) {
  const std::vector<std::pair<json, std::string>> cases{
      {json{{"input", "hi"}}, "model"},
      {json{{"model", "m"}}, "input"},
      {json{{"model", "m"}, {"input", 42}}, "input"},
      {json{{"model", "m"}, {"input", json::array()}}, "input"},
      {json{{"model", "m"}, {"input", {"not an item"}}}, "input[0]"},
      {json{{"model", "m"}, {"input", {{{"role", "user"}}}}}, "input[0].content"},
      {json{{"model", "m"}, {"input", {{{"role", "robot"}, {"content", "x"}}}}}, "input[0].role"},
      {json{{"model", "m"}, {"input", {{{"role", "user"}, {"content", {{{"type", "input_text"}, {"text", 7}}}}}}}},
       "input[0].content[0].text"},
      {json{{"model", "m"}, {"input", {{{"role", "user"}, {"content", {{{"type", "input_file"}, {"file_id", "f"}}}}}}}},
       "input[0].content[0].type"},
      {json{{"model", "m"}, {"input", {{{"type", "function_call"}, {"call_id", "c"}, {"name", "f"}}}}}, "input[0].arguments"},
      {json{{"model", "m"}, {"input", {{{"type", "function_call_output"}, {"call_id", "c"}}}}}, "input[0].output"},
      {json{{"model", "m"}, {"input", {{{"type", "item_reference"}, {"id", "x"}}}}}, "input[0].type"},
      {json{{"model", "m"}, {"input", "hi"}, {"tools", {{{"type", 7}}}}}, "tools[0].type"},
      {json{{"model", "m"}, {"input", "hi"}, {"tools", {{{"type", "function"}}}}}, "tools[0].name"},
      {json{{"model", "m"}, {"input", "hi"}, {"tool_choice", "sometimes"}}, "tool_choice"},
      {json{{"model", "m"}, {"input", "hi"}, {"max_output_tokens", "many"}}, "max_output_tokens"},
      {json{{"model", "m"}, {"input", "hi"}, {"max_output_tokens", 0}}, "max_output_tokens"},
      {json{{"model", "m"}, {"input", "hi"}, {"text", {{"format", {{"type", "xml"}}}}}}, "text.format.type"},
      {json{{"model", "m"}, {"input", "hi"}, {"reasoning", {{"effort", 3}}}}, "reasoning.effort"},
      {json{{"model", "m"}, {"input", "hi"}, {"previous_response_id", 7}}, "previous_response_id"},
      {json{{"model", "m"}, {"input", "hi"}, {"store", "yes"}}, "store"},
      {json{{"model", "m"}, {"input", "hi"}, {"conversation", "conv_1"}}, "conversation"},
      {json{{"model", "m"}, {"input", "hi"}, {"background", true}}, "background"},
  };
  for (const auto& [body, param] : cases) {
    const auto decoded = decodeRequest(body);
    ASSERT_FALSE(decoded.ok()) << body.dump();
    EXPECT_EQ(decoded.error().status, 400) << body.dump();
    EXPECT_EQ(decoded.error().param, param) << body.dump() << ": " << decoded.error().message;
  }
}

core::ChatResponse answer() {
  core::ChatResponse response;
  response.id = "chatcmpl-7";
  response.model = "gpt-5";
  response.created = 1700000000;
  core::Choice choice;
  choice.text = "Calling.";
  choice.thinking = "The user wants weather.";
  choice.toolCalls.push_back({"call_abc", "get_weather", R"({"city":"Paris"})"});
  choice.finish = core::FinishReason::ToolCalls;
  response.choices.push_back(choice);
  response.usage = {12, 8, 4, 0, 3, true};
  return response;
}

TEST(ResponsesEncode, AResponseObjectWithItsOutputItemsAndUsage) {
  const json body = json::parse(encodeResponse(answer()));
  EXPECT_EQ(body["object"], "response");
  EXPECT_EQ(body["id"], "resp_chatcmpl-7");
  EXPECT_EQ(body["status"], "completed");
  EXPECT_EQ(body["created_at"], 1700000000);
  ASSERT_EQ(body["output"].size(), 3u);
  EXPECT_EQ(body["output"][0]["type"], "reasoning");
  EXPECT_EQ(body["output"][0]["summary"][0]["text"], "The user wants weather.");
  EXPECT_EQ(body["output"][1]["type"], "message");
  EXPECT_EQ(body["output"][1]["content"][0], (json{{"type", "output_text"}, {"text", "Calling."}, {"annotations", json::array()}}));
  EXPECT_EQ(body["output"][2]["type"], "function_call");
  EXPECT_EQ(body["output"][2]["call_id"], "call_abc");
  EXPECT_EQ(body["output"][2]["arguments"], R"({"city":"Paris"})");
  EXPECT_EQ(body["usage"], (json{{"input_tokens", 12},
                                 {"input_tokens_details", {{"cached_tokens", 4}}},
                                 {"output_tokens", 8},
                                 {"output_tokens_details", {{"reasoning_tokens", 3}}},
                                 {"total_tokens", 20}}));
}

// What the encoder writes, the usage reader reads back (the fast path would read it so).
TEST(ResponsesEncode, UsageReadsBackThroughTheResponsesUsageDecoder) {
  const json body = json::parse(encodeResponse(answer()));
  const core::Usage usage = wire::openai::decodeResponsesUsage(body["usage"]);
  EXPECT_TRUE(usage.present);
  EXPECT_EQ(usage.inputTokens, 12);
  EXPECT_EQ(usage.outputTokens, 8);
  EXPECT_EQ(usage.cachedInputTokens, 4);
  EXPECT_EQ(usage.reasoningTokens, 3);
  EXPECT_FALSE(wire::openai::decodeResponsesUsage(json{{"input_tokens", "12"}}).present);
}

TEST(ResponsesEncode, AnAnswerCutByTheTokenLimitIsIncomplete) {
  auto response = answer();
  response.choices[0].finish = core::FinishReason::Length;
  const json body = json::parse(encodeResponse(response));
  EXPECT_EQ(body["status"], "incomplete");
  EXPECT_EQ(body["incomplete_details"]["reason"], "max_output_tokens");
}

// The events of a stream, parsed back as a client reads them.
std::vector<json> parseEvents(const std::string& sse) {
  std::vector<json> events;
  stream::SseParser parser;
  parser.feed(sse, [&](const stream::SseEvent& event) {
    json data = json::parse(event.data);
    EXPECT_EQ(data["type"], std::string(event.type)) << "the event: line and the type member agree";
    events.push_back(std::move(data));
  });
  return events;
}

// The events of the stream of response `id` that `events` make, finished.
std::vector<json> streamOf(const std::vector<core::ChatEvent>& events, const std::string& id = "x", const json& echo = {}) {
  StreamEncoder encoder(id, "m", echo);
  std::string out;
  for (const auto& event : events) encoder.encode(event, out);
  encoder.finish(out);
  return parseEvents(out);
}

// A delta of `kind` (thinking, refusal).
core::ChatEvent delta(core::EventKind kind, std::string text) {
  core::ChatEvent event = core::ChatEvent::textDelta(std::move(text));
  event.kind = kind;
  return event;
}

std::vector<std::string> typesOf(const std::vector<json>& events) {
  std::vector<std::string> types;
  for (const auto& event : events) types.push_back(event["type"]);
  return types;
}

TEST(ResponsesStream, TextThenAToolCallInTheOrderTheSdkAssembles) {
  StreamEncoder encoder("chatcmpl-9", "gpt-5");
  std::string out;
  encoder.encode(core::ChatEvent::start("chatcmpl-9", "gpt-5"), out);
  encoder.encode(core::ChatEvent::textDelta("Hel"), out);
  encoder.encode(core::ChatEvent::textDelta("lo"), out);
  encoder.encode(core::ChatEvent::toolCallStart(0, "call_1", "get_weather"), out);
  encoder.encode(core::ChatEvent::toolCallDelta(0, R"({"city":)"), out);
  encoder.encode(core::ChatEvent::toolCallDelta(0, R"("Paris"})"), out);
  encoder.encode(core::ChatEvent::finished(core::FinishReason::ToolCalls), out);
  encoder.encode(core::ChatEvent::usageReport({5, 6, 0, 0, 0, true}), out);
  encoder.finish(out);
  const auto events = parseEvents(out);
  std::vector<std::string> types;
  for (std::size_t i = 0; i < events.size(); ++i) {
    types.push_back(events[i]["type"]);
    EXPECT_EQ(events[i]["sequence_number"], i);
  }
  EXPECT_EQ(types, (std::vector<std::string>{
                       "response.created", "response.in_progress", "response.output_item.added",
                       "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
                       "response.output_text.done", "response.content_part.done", "response.output_item.done",
                       "response.output_item.added", "response.function_call_arguments.delta",
                       "response.function_call_arguments.delta", "response.function_call_arguments.done",
                       "response.output_item.done", "response.completed"}));
  EXPECT_EQ(events[0]["response"]["status"], "in_progress");
  EXPECT_EQ(events[6]["text"], "Hello");
  EXPECT_EQ(events[9]["output_index"], 1);
  EXPECT_EQ(events[12]["arguments"], R"({"city":"Paris"})");
  const json& completed = events.back()["response"];
  EXPECT_EQ(completed["id"], "resp_chatcmpl-9");
  EXPECT_EQ(completed["status"], "completed");
  ASSERT_EQ(completed["output"].size(), 2u);
  EXPECT_EQ(completed["output"][0]["content"][0]["text"], "Hello");
  EXPECT_EQ(completed["output"][1]["call_id"], "call_1");
  EXPECT_EQ(completed["output"][1]["status"], "completed");
  EXPECT_EQ(completed["usage"]["total_tokens"], 11);
  // Every item's id is the same in its .added, its deltas and its .done.
  EXPECT_EQ(events[2]["item"]["id"], events[4]["item_id"]);
  EXPECT_EQ(events[9]["item"]["id"], events[13]["item"]["id"]);
}

TEST(ResponsesStream, ReasoningComesAsASummaryItemBeforeTheMessage) {
  const auto events = streamOf({delta(core::EventKind::ThinkingDelta, "Think."), core::ChatEvent::textDelta("Done."),
                                core::ChatEvent::finished(core::FinishReason::Length)});
  const json& last = events.back();
  EXPECT_EQ(last["type"], "response.incomplete");
  EXPECT_EQ(last["response"]["incomplete_details"]["reason"], "max_output_tokens");
  ASSERT_EQ(last["response"]["output"].size(), 2u);
  EXPECT_EQ(last["response"]["output"][0]["type"], "reasoning");
  EXPECT_EQ(last["response"]["output"][0]["summary"][0]["text"], "Think.");
  EXPECT_EQ(last["response"]["output"][1]["content"][0]["text"], "Done.");
}

TEST(ResponsesStream, AnEmptyAnswerIsStillOneMessageAndAnErrorFailsTheResponse) {
  StreamEncoder empty("x", "m");
  std::string out;
  empty.finish(out);
  auto events = parseEvents(out);
  EXPECT_EQ(events.back()["response"]["output"][0]["content"][0]["text"], "");
  EXPECT_EQ(typesOf(events), (std::vector<std::string>{"response.created", "response.in_progress", "response.output_item.added",
                                             "response.content_part.added", "response.output_text.done",
                                             "response.content_part.done", "response.output_item.done",
                                             "response.completed"}));

  StreamEncoder failing("x", "m");
  out.clear();
  failing.encode(core::ChatEvent::textDelta("par"), out);
  failing.encodeError(core::GatewayError::make(core::ErrorKind::Timeout, "upstream_timeout", "upstream went silent"), out);
  events = parseEvents(out);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[events.size() - 2]["type"], "error");
  EXPECT_EQ(events[events.size() - 2]["code"], "upstream_timeout");
  EXPECT_EQ(events.back()["type"], "response.failed");
  EXPECT_EQ(events.back()["response"]["error"]["message"], "upstream went silent");
}

TEST(ResponsesStream, ARefusalThenTextKeepTheirPartsInTheOrderTheyOpened) {
  const auto events = streamOf({delta(core::EventKind::RefusalDelta, "I can't."), core::ChatEvent::textDelta(" But here is why.")});
  for (const auto& event : events) {
    if (event["type"] == "response.refusal.delta") EXPECT_EQ(event["content_index"], 0);
    if (event["type"] == "response.output_text.delta") EXPECT_EQ(event["content_index"], 1);
    if (event["type"] == "response.refusal.done") EXPECT_EQ(event["content_index"], 0);
    if (event["type"] == "response.output_text.done") EXPECT_EQ(event["content_index"], 1);
  }
  const json& content = events.back()["response"]["output"][0]["content"];
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0]["type"], "refusal");
  EXPECT_EQ(content[1]["text"], " But here is why.");
}

// Some OpenAI-compatible upstreams send a content chunk between a call's argument deltas: the
// call stays open and its arguments whole.
TEST(ResponsesStream, TextBetweenArgumentDeltasLeavesTheCallOpen) {
  const auto events = streamOf({core::ChatEvent::toolCallStart(0, "call_1", "exec_command"),
                                core::ChatEvent::toolCallDelta(0, R"({"cmd":)"), core::ChatEvent::textDelta("\n"),
                                core::ChatEvent::toolCallDelta(0, R"("ls"})"), core::ChatEvent::finished(core::FinishReason::ToolCalls)});
  std::size_t argumentsDone = 0;
  for (const auto& event : events) {
    if (event["type"] == "response.function_call_arguments.done") {
      ++argumentsDone;
      EXPECT_EQ(event["arguments"], R"({"cmd":"ls"})");
    }
  }
  EXPECT_EQ(argumentsDone, 1u);
  const json& output = events.back()["response"]["output"];
  ASSERT_EQ(output.size(), 2u);
  EXPECT_EQ(output[0]["arguments"], R"({"cmd":"ls"})");
}

TEST(ResponsesStream, AnErrorBeforeAnyEventStillOpensTheResponseFirst) {
  StreamEncoder encoder("x", "m");
  std::string out;
  encoder.encodeError(core::GatewayError::make(core::ErrorKind::RateLimited, "rate_limited", "slow down"), out);
  const auto events = parseEvents(out);
  EXPECT_EQ(typesOf(events), (std::vector<std::string>{"response.created", "response.in_progress", "error", "response.failed"}));
  EXPECT_EQ(events.back()["response"]["status"], "failed");
  EXPECT_EQ(events.back()["response"]["error"]["code"], "rate_limit_exceeded");
}

TEST(ResponsesStream, AnAnswerTheUpstreamEndedWithAnErrorFails) {
  const auto events = streamOf({core::ChatEvent::textDelta("par"), core::ChatEvent::finished(core::FinishReason::Error)});
  EXPECT_EQ(events.back()["type"], "response.failed");
  EXPECT_EQ(events.back()["response"]["error"]["code"], "server_error");
  auto response = answer();
  response.choices[0].finish = core::FinishReason::Error;
  EXPECT_EQ(json::parse(encodeResponse(response))["status"], "failed");
}

// The events a stream of answer() carries, repeating `echo`.
std::vector<json> streamedAnswer(const json& echo = {}) { return streamOf(core::toEvents(answer()), "chatcmpl-7", echo); }

// A streamed response read back later (GET /v1/responses/{id}) is encoded from the answer
// assembled: its items must carry the ids the stream gave them.
TEST(ResponsesEncode, ItemIdsAreTheStreamsOwn) {
  const json streamed = streamedAnswer().back()["response"]["output"];
  const json whole = json::parse(encodeResponse(answer()))["output"];
  ASSERT_EQ(streamed.size(), 3u);
  ASSERT_EQ(whole.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(whole[i]["id"], streamed[i]["id"]) << i;
  EXPECT_EQ(whole[0]["id"], "rs_0_chatcmpl-7");
}

// The response object repeats the request's settings as the client sent them (the SDKs and
// tools read them back from it), in both the whole answer and the stream's.
TEST(ResponsesEncode, TheResponseObjectRepeatsItsRequest) {
  const json body{{"model", "m"},
                  {"input", "hi"},
                  {"instructions", "Be brief."},
                  {"tools", {{{"type", "function"}, {"name", "f"}, {"parameters", {{"type", "object"}}}}}},
                  {"tool_choice", "required"},
                  {"temperature", 0.2},
                  {"max_output_tokens", 64},
                  {"previous_response_id", "resp_1"},
                  {"store", false},
                  {"metadata", {{"team", "a"}}},
                  {"truncation", 7}};
  ASSERT_TRUE(decodeRequest(body).ok());
  const json echo = requestEcho(body);
  EXPECT_FALSE(echo.contains("truncation")) << "a member of the wrong type is not repeated";
  EXPECT_FALSE(echo.contains("input"));
  const json whole = json::parse(encodeResponse(answer(), echo));
  const auto events = streamedAnswer(echo);
  for (const json& response : {whole, events.front()["response"], events.back()["response"]}) {
    EXPECT_EQ(response["instructions"], "Be brief.");
    EXPECT_EQ(response["tools"], body["tools"]);
    EXPECT_EQ(response["tool_choice"], "required");
    EXPECT_EQ(response["temperature"], 0.2);
    EXPECT_EQ(response["max_output_tokens"], 64);
    EXPECT_EQ(response["previous_response_id"], "resp_1");
    EXPECT_EQ(response["store"], false);
    EXPECT_EQ(response["metadata"], (json{{"team", "a"}}));
    EXPECT_EQ(response["top_p"], nullptr) << "not given: the default";
  }
  const json plain = json::parse(encodeResponse(answer()));
  EXPECT_EQ(plain["instructions"], nullptr);
  EXPECT_EQ(plain["store"], true);
  EXPECT_EQ(plain["tools"], json::array());
}

}  // namespace
}  // namespace llmgate::api::responses
