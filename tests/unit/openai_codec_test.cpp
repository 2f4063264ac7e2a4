#include "llmgate/api/openai_codec.hpp"

#include <gtest/gtest.h>

#include "common/text_decoding.hpp"
#include "fixture_util.hpp"
#include "llmgate/api/dialect.hpp"
#include "llmgate/core/json_read.hpp"
#include "llmgate/stream/sse_parser.hpp"
#include "providers/openai/openai_codec.hpp"

namespace llmgate::api::openai {
namespace {

// The client codec and, for round trips, the upstream codec of the same format.
using providers::openai::ChunkDecodeState;
using providers::openai::decodeChunk;
using providers::openai::decodeError;
using providers::openai::decodeResponse;
using providers::openai::encodeRequest;

using nlohmann::json;

// A request with every documented Chat Completions field set.
const char* kFullRequest = R"({
  "model": "gpt-4o",
  "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
    {"role": "user", "content": [
      {"type": "text", "text": "What is in this image?"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}
    ]},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
    ]},
    {"role": "tool", "tool_call_id": "call_abc", "content": "18C, cloudy"}
  ],
  "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
  "tool_choice": "auto",
  "parallel_tool_calls": false,
  "response_format": {"type": "text"},
  "stream": true,
  "stream_options": {"include_usage": true},
  "max_completion_tokens": 512,
  "max_tokens": 99,
  "n": 1, "stop": ["\n\n"], "temperature": 0.2, "top_p": 1, "seed": 7, "user": "u-123",
  "frequency_penalty": 0.5, "metadata": {"team": "a"}
})";

TEST(OpenAiDecode, MapsEveryDocumentedField) {
  auto result = decodeRequest(json::parse(kFullRequest));
  ASSERT_TRUE(result.ok()) << result.error().message;
  const auto& r = result.value();
  EXPECT_EQ(r.model, "gpt-4o");
  EXPECT_EQ(r.system, (std::vector<std::string>{"You are terse.", "Use metric units."}));
  ASSERT_EQ(r.messages.size(), 3u);
  ASSERT_EQ(r.messages[0].content.size(), 2u);
  EXPECT_EQ(r.messages[0].content[1].kind, core::PartKind::Image);
  EXPECT_EQ(r.messages[0].content[1].imageUrl, "data:image/png;base64,iVBORw0KGgo=");
  EXPECT_EQ(r.messages[0].content[1].imageDetail, "low");
  ASSERT_EQ(r.messages[1].content.size(), 1u);
  EXPECT_EQ(r.messages[1].content[0].kind, core::PartKind::ToolCall);
  EXPECT_EQ(r.messages[1].content[0].toolName, "get_weather");
  EXPECT_EQ(r.messages[1].content[0].arguments, "{\"city\":\"Paris\"}");
  EXPECT_EQ(r.messages[2].role, core::Role::Tool);
  EXPECT_EQ(r.messages[2].content[0].toolCallId, "call_abc");
  EXPECT_EQ(r.messages[2].content[0].text, "18C, cloudy");
  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tools[0].parameters["required"][0], "city");
  ASSERT_TRUE(r.toolChoice);
  EXPECT_EQ(r.toolChoice->mode, core::ToolChoice::Mode::Auto);
  EXPECT_EQ(r.parallelToolCalls, false);
  EXPECT_EQ(r.maxTokens, 512);  // max_completion_tokens wins over max_tokens
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(r.stop, std::vector<std::string>{"\n\n"});
  EXPECT_DOUBLE_EQ(*r.temperature, 0.2);
  EXPECT_DOUBLE_EQ(*r.topP, 1.0);
  EXPECT_EQ(r.seed, 7);
  EXPECT_EQ(r.user, "u-123");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.includeUsage);
  EXPECT_EQ(r.responseFormat["type"], "text");
  EXPECT_EQ(r.extra, json::parse(R"({"frequency_penalty":0.5,"metadata":{"team":"a"}})"));
}

TEST(OpenAiDecode, ToolChoiceFunctionAndStopString) {
  auto result = decodeRequest(json::parse(R"({"model":"m","messages":[{"role":"user","content":"x"}],
    "tool_choice":{"type":"function","function":{"name":"f"}},"stop":"END","max_tokens":5})"));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.value().toolChoice->mode, core::ToolChoice::Mode::Function);
  EXPECT_EQ(result.value().toolChoice->functionName, "f");
  EXPECT_EQ(result.value().stop, std::vector<std::string>{"END"});
  EXPECT_EQ(result.value().maxTokens, 5);
}

struct BadRequest {
  const char* body;
  const char* param;
};

class OpenAiDecodeErrors : public ::testing::TestWithParam<BadRequest> {};

TEST_P(OpenAiDecodeErrors, AreInvalidRequestsNamingTheField) {
  auto result = decodeRequest(json::parse(GetParam().body));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind, core::ErrorKind::InvalidRequest);
  EXPECT_EQ(result.error().status, 400);
  EXPECT_EQ(result.error().param, GetParam().param);
  EXPECT_FALSE(result.error().message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Fields, OpenAiDecodeErrors,
    ::testing::Values(BadRequest{R"({"messages":[{"role":"user","content":"x"}]})", "model"},
                      BadRequest{R"({"model":"m"})", "messages"},
                      BadRequest{R"({"model":"m","messages":[]})", "messages"},
                      BadRequest{R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content"},
                      BadRequest{R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
                      BadRequest{R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", "messages[0].tool_call_id"},
                      BadRequest{R"({"model":"m","messages":[{"role":"user","content":[{"type":"video"}]}]})",
                                 "messages[0].content[0].type"},
                      BadRequest{R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"})",
                                 "temperature"},
                      BadRequest{R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5})",
                                 "max_tokens"},
                      BadRequest{R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream"},
                      BadRequest{R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"x"}]})",
                                 "tools[0].type"},
                      BadRequest{R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]})",
                                 "tools[0].function"},
                      BadRequest{R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"maybe"})",
                                 "tool_choice"},
                      BadRequest{R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop"}));

TEST(OpenAiEncode, UpstreamRequestKeepsEveryMappedFieldAndOpenAiExtras) {
  auto decoded = decodeRequest(json::parse(kFullRequest));
  ASSERT_TRUE(decoded.ok());
  json body = encodeRequest(decoded.value(), "gpt-4o-2024-08-06");
  EXPECT_EQ(body["model"], "gpt-4o-2024-08-06");
  ASSERT_EQ(body["messages"].size(), 5u);
  EXPECT_EQ(body["messages"][0], json::parse(R"({"role":"system","content":"You are terse."})"));
  EXPECT_EQ(body["messages"][1]["content"], "Use metric units.");
  EXPECT_EQ(body["messages"][2]["content"][1]["image_url"]["detail"], "low");
  EXPECT_TRUE(body["messages"][3]["content"].is_null());
  EXPECT_EQ(body["messages"][3]["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Paris\"}");
  EXPECT_EQ(body["messages"][4], json::parse(R"({"role":"tool","tool_call_id":"call_abc","content":"18C, cloudy"})"));
  EXPECT_EQ(body["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(body["tool_choice"], "auto");
  EXPECT_EQ(body["max_tokens"], 512);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["frequency_penalty"], 0.5);
  EXPECT_EQ(body["metadata"]["team"], "a");
  EXPECT_EQ(body["seed"], 7);
}

// Decodes an OpenAI SSE capture into a response through the SSE parser and decodeChunk.
core::ChatResponse decodeCapture(const std::string& text, std::vector<core::ChatEvent>* eventsOut = nullptr) {
  stream::SseParser parser;
  ChunkDecodeState state;
  std::vector<core::ChatEvent> events;
  parser.feed(text, [&](const stream::SseEvent& event) {
    if (event.data == "[DONE]") return;
    auto error = decodeChunk(json::parse(event.data), state, events);
    EXPECT_FALSE(error) << error->message;
  });
  core::ResponseAccumulator accumulator;
  for (const auto& event : events) accumulator.add(event);
  if (eventsOut != nullptr) *eventsOut = events;
  return accumulator.response();
}

TEST(OpenAiChunks, TextCapture) {
  auto response = decodeCapture(testing::readFixture("openai/stream_text_stop.sse"));
  EXPECT_EQ(response.model, "gpt-4o-2024-08-06");
  ASSERT_EQ(response.choices.size(), 1u);
  EXPECT_EQ(response.choices[0].text,
            "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I "
            "recommend checking a reliable weather website or a weather app.");
  EXPECT_EQ(response.choices[0].finish, core::FinishReason::Stop);
  EXPECT_EQ(response.usage.inputTokens, 14);
  EXPECT_EQ(response.usage.outputTokens, 30);
}

TEST(OpenAiChunks, ParallelToolCallCapture) {
  std::vector<core::ChatEvent> events;
  auto response = decodeCapture(testing::readFixture("openai/stream_tool_calls_parallel.sse"), &events);
  ASSERT_EQ(response.choices[0].toolCalls.size(), 2u);
  EXPECT_EQ(response.choices[0].toolCalls[0].id, "call_JMW1whyEaYG438VE1OIflxA2");
  EXPECT_EQ(response.choices[0].toolCalls[0].name, "GetWeatherArgs");
  EXPECT_EQ(response.choices[0].toolCalls[0].arguments, R"({"city": "Edinburgh", "country": "GB", "units": "c"})");
  EXPECT_EQ(response.choices[0].toolCalls[1].name, "get_stock_price");
  EXPECT_EQ(response.choices[0].toolCalls[1].arguments, R"({"ticker": "AAPL", "exchange": "NASDAQ"})");
  EXPECT_EQ(response.choices[0].finish, core::FinishReason::ToolCalls);
  // Fragments stay fragments: more argument deltas than calls.
  int deltas = 0;
  for (const auto& event : events) deltas += event.kind == core::EventKind::ToolCallDelta;
  EXPECT_GT(deltas, 4);
}

TEST(OpenAiChunks, RefusalLengthAndThreeChoices) {
  auto refusal = decodeCapture(testing::readFixture("openai/stream_refusal.sse"));
  EXPECT_EQ(refusal.choices[0].refusal, "I'm sorry, I can't assist with that request.");
  auto length = decodeCapture(testing::readFixture("openai/stream_finish_length.sse"));
  EXPECT_EQ(length.choices[0].finish, core::FinishReason::Length);
  auto three = decodeCapture(testing::readFixture("openai/stream_n3_choices.sse"));
  ASSERT_EQ(three.choices.size(), 3u);
  for (const auto& choice : three.choices) {
    EXPECT_EQ(json::parse(choice.text)["city"], "San Francisco");
    EXPECT_EQ(choice.finish, core::FinishReason::Stop);
  }
  EXPECT_EQ(three.usage.outputTokens, 42);
}

class OpenAiRoundTrip : public ::testing::TestWithParam<const char*> {};

// Captured stream -> events -> our encoder -> our decoder gives the same answer, and the
// encoded stream has the shape SDKs expect (role first, [DONE] last).
TEST_P(OpenAiRoundTrip, EncodedStreamDecodesToTheSameResponse) {
  std::vector<core::ChatEvent> events;
  auto original = decodeCapture(testing::readFixture(std::string("openai/") + GetParam()), &events);
  StreamEncoder encoder(original.id, original.model, 1727346178, true);
  std::string encoded;
  for (const auto& event : events) encoder.encode(event, encoded);
  encoder.finish(encoded);
  EXPECT_EQ(encoded.substr(encoded.size() - 14), "data: [DONE]\n\n");
  EXPECT_NE(encoded.find(R"("delta":{"role":"assistant")"), std::string::npos);
  auto again = decodeCapture(encoded);
  ASSERT_EQ(again.choices.size(), original.choices.size());
  for (std::size_t i = 0; i < original.choices.size(); ++i) {
    EXPECT_EQ(again.choices[i].text, original.choices[i].text);
    EXPECT_EQ(again.choices[i].refusal, original.choices[i].refusal);
    EXPECT_EQ(again.choices[i].finish, original.choices[i].finish);
    ASSERT_EQ(again.choices[i].toolCalls.size(), original.choices[i].toolCalls.size());
    for (std::size_t t = 0; t < original.choices[i].toolCalls.size(); ++t) {
      EXPECT_EQ(again.choices[i].toolCalls[t].id, original.choices[i].toolCalls[t].id);
      EXPECT_EQ(again.choices[i].toolCalls[t].arguments, original.choices[i].toolCalls[t].arguments);
    }
  }
  EXPECT_EQ(again.usage.inputTokens, original.usage.inputTokens);
  EXPECT_EQ(again.usage.outputTokens, original.usage.outputTokens);
  EXPECT_EQ(again.id, original.id);
}

INSTANTIATE_TEST_SUITE_P(Captures, OpenAiRoundTrip,
                         ::testing::Values("stream_text_stop.sse", "stream_tool_call_single.sse",
                                           "stream_tool_calls_parallel.sse", "stream_finish_length.sse",
                                           "stream_n3_choices.sse", "stream_refusal.sse"));

TEST(OpenAiStreamEncoder, UsageChunkOnlyWhenAsked) {
  core::Usage usage;
  usage.inputTokens = 3;
  usage.outputTokens = 4;
  for (bool asked : {false, true}) {
    StreamEncoder encoder("id", "m", 1, asked);
    std::string out;
    encoder.encode(core::ChatEvent::start("id", "m"), out);
    encoder.encode(core::ChatEvent::textDelta("hi \"there\"\n"), out);
    encoder.encode(core::ChatEvent::finished(core::FinishReason::Stop), out);
    encoder.encode(core::ChatEvent::usageReport(usage), out);
    encoder.finish(out);
    EXPECT_EQ(out.find(R"("choices":[],"usage")") != std::string::npos, asked);
    EXPECT_NE(out.find(R"("content":"hi \"there\"\n")"), std::string::npos);
  }
}

TEST(OpenAiNonStream, ResponseShapeAndDecodeRoundTrip) {
  core::ChatResponse response;
  response.id = "chatcmpl-1";
  response.model = "m";
  response.created = 42;
  core::Choice choice;
  choice.toolCalls.push_back({"call_1", "f", R"({"a":1})"});
  choice.finish = core::FinishReason::ToolCalls;
  response.choices.push_back(choice);
  response.usage.present = true;
  response.usage.inputTokens = 5;
  response.usage.outputTokens = 6;
  json body = json::parse(encodeResponse(response));
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["created"], 42);
  EXPECT_TRUE(body["choices"][0]["message"]["content"].is_null());
  EXPECT_EQ(body["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(body["usage"]["total_tokens"], 11);
  auto decoded = decodeResponse(body);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded.value().choices[0].toolCalls[0].arguments, R"({"a":1})");
  EXPECT_EQ(decoded.value().usage.outputTokens, 6);
}

TEST(OpenAiNonStream, ResponseIsTheDocumentedChatCompletion) {
  core::ChatResponse response;
  response.id = "chatcmpl-2";
  response.model = "m";
  response.created = 7;
  core::Choice text;
  text.text = "line \"one\"\n\u00e9";
  text.thinking = "because";
  text.finish = core::FinishReason::Length;
  core::Choice tools;
  tools.index = 1;
  tools.refusal = "no";
  tools.toolCalls.push_back({"call_1", "f", R"({"a":1})"});
  tools.toolCalls.push_back({"call_2", "g", "{}"});
  tools.finish = core::FinishReason::ToolCalls;
  response.choices = {text, tools};
  response.usage.present = true;
  response.usage.inputTokens = 5;
  response.usage.outputTokens = 6;
  response.usage.cachedInputTokens = 2;
  response.usage.reasoningTokens = 3;
  EXPECT_EQ(json::parse(encodeResponse(response)), json::parse(R"({
    "id": "chatcmpl-2", "object": "chat.completion", "created": 7, "model": "m",
    "choices": [
      {"index": 0, "logprobs": null, "finish_reason": "length",
       "message": {"role": "assistant", "content": "line \"one\"\n\u00e9", "reasoning_content": "because", "refusal": null}},
      {"index": 1, "logprobs": null, "finish_reason": "tool_calls",
       "message": {"role": "assistant", "content": null, "refusal": "no", "tool_calls": [
         {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
         {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11,
              "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 3}}
  })"));
  response.usage.present = false;
  EXPECT_FALSE(json::parse(encodeResponse(response)).contains("usage"));
}

TEST(OpenAiErrors, ShapeAndUpstreamDecoding) {
  auto error = core::GatewayError::make(core::ErrorKind::NotFound, "model_not_found", "no such model");
  error.param = "model";
  EXPECT_EQ(json::parse(encodeError(error)),
            json::parse(R"({"error":{"message":"no such model","type":"invalid_request_error","param":"model","code":"model_not_found"}})"));
  auto upstream = decodeError(429, R"({"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}})");
  EXPECT_EQ(upstream.kind, core::ErrorKind::RateLimited);
  EXPECT_EQ(upstream.status, 429);
  EXPECT_EQ(upstream.code, "rate_limit_exceeded");
  EXPECT_EQ(upstream.message, "Rate limit reached");
  auto garbage = decodeError(503, "<html>bad gateway</html>");
  EXPECT_EQ(garbage.status, 503);
  EXPECT_EQ(garbage.kind, core::ErrorKind::Upstream);
  EXPECT_EQ(garbage.message, "upstream returned HTTP 503");
}

TEST(OpenAiChunks, ErrorPayloadAndMalformedChunkBecomeErrors) {
  ChunkDecodeState state;
  std::vector<core::ChatEvent> events;
  auto error = decodeChunk(json::parse(R"({"error":{"message":"overloaded","type":"server_error"}})"), state, events);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message, "overloaded");
  auto malformed = decodeChunk(json::parse(R"({"choices":[{"index":"zero","delta":{}}]})"), state, events);
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->kind, core::ErrorKind::Protocol);
}

// A chunk is read from its text (no document) when it has the usual shape; whatever it takes,
// it must decode exactly as the document does, and what it declines it must leave untouched.
TEST(OpenAiChunks, ChunksReadFromTextDecodeAsTheirDocuments) {
  std::vector<std::string> chunks;
  for (const char* capture : {"openai/stream_text_stop.sse", "openai/stream_tool_call_single.sse",
                              "openai/stream_tool_calls_parallel.sse", "openai/stream_finish_length.sse",
                              "openai/stream_n3_choices.sse", "openai/stream_refusal.sse"}) {
    stream::SseParser parser;
    parser.feed(testing::readFixture(capture), [&](const stream::SseEvent& event) {
      if (event.data != "[DONE]") chunks.emplace_back(event.data);
    });
  }
  const std::string glm = testing::readFixture("glm/glm46_openai_compat_stream_chunks.jsonl");
  for (std::size_t from = 0, end; from < glm.size(); from = end + 1) {
    end = glm.find('\n', from);
    if (end == std::string::npos) end = glm.size();
    if (end > from) chunks.push_back(glm.substr(from, end - from));
  }
  const std::size_t captured = chunks.size();
  // The edges: escapes in values and names, every field of another type, repeats, more
  // members than the reader indexes, whitespace, errors, tool calls, usage.
  const std::vector<std::string> edges = {
      R"({"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"line\none \"quoted\" \u00e9 \ud83d\ude00 \\ \/"},"finish_reason":null}]})",
      R"({"id":"c\u0031","model":"m","choices":[{"index":0,"delta":{"\u0063ontent":"escaped name"}}]})",
      R"({"\u0069d":"escaped id","model":"m","\u0063hoices":[{"index":0,"delta":{"content":"x"}}]})",
      R"({"choices":[{"index":0,"\u0064elta":{"content":"x"},"finish_reason":"stop"}]})",
      R"({"choices":[{"index":0,"delta":{"content":"first","content":"second"}}]})",
      R"({"choices":[{"index":0,"delta":{"content":"kept"}}],"choices":[{"index":1,"delta":{"content":"last wins"}}]})",
      R"({"choices":[{"index":"zero","delta":{}}]})",
      R"({"choices":[{"index":1.0,"delta":{"content":"x"}}]})",
      R"({"choices":[{"index":99999999999999999999,"delta":{"content":"x"}}]})",
      R"({"choices":[{"index":-5,"delta":{"content":"x"}},{"index":500,"delta":{"content":"y"}}]})",
      R"({"choices":[{"index":0,"delta":null,"finish_reason":"stop"}]})",
      R"({"choices":[{"index":0,"delta":"text"}]})",
      R"({"choices":[{"index":0,"delta":{"content":7}}]})",
      R"({"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"think","refusal":"no"}}]})",
      R"({"choices":[{"index":0,"delta":{},"finish_reason":5}]})",
      R"({"choices":[{"index":0,"delta":{},"finish_reason":"content_filter"}]})",
      R"({"choices":{"index":0}})",
      R"({"choices":[1,"two",null,[]]})",
      R"({"choices":null,"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})",
      R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":1}}})",
      R"({"choices":[],"usage":{"prompt_tokens":"3"}})",
      R"({"choices":[],"usage":{"prompt_\u0074okens":3,"completion_tokens":4}})",
      R"({"choices":[],"usage":[1,2]})",
      R"({"error":{"message":"overloaded","type":"server_error"}})",
      R"({"error":null,"choices":[{"index":0,"delta":{"content":"fine"}}]})",
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{}"}}]}}]})",
      R"({"choices":[{"index":0,"delta":{"tool_calls":null,"content":"no calls"}}]})",
      R"({"id":7,"model":["m"],"choices":[]})",
      R"({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"id":"late","model":"m","choices":[{"index":0,"delta":{"content":"deep"}}]})",
      " \n{ \"id\" : \"c\" , \"choices\" : [ { \"index\" : 0 , \"delta\" : { \"content\" : \"spaced\" } } ] } \n",
      R"({"choices":[{"index":0,"delta":{"content":"x"},"extra":{"nested":[{"deep":"]}["}]}}]})",
      R"([{"choices":[]}])",
      R"("chunk")",
      R"({"choices":[{"index":0,"delta":{"content":"cut")",
      R"({"choices":[{"index":0,"delta":{"content":"bad \x"}}]})",
  };
  chunks.insert(chunks.end(), edges.begin(), edges.end());
  std::size_t capturedFromText = 0;
  std::size_t edgesFromText = 0;
  const auto states = testing::chunkStates();
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    for (std::size_t s = 0; s < states.size(); ++s) {
      std::string problem;
      const auto path = testing::compareChunkPaths(chunks[i], states[s], problem);
      EXPECT_TRUE(problem.empty()) << problem << "\nin " << chunks[i];
      // A call still open sends every chunk to the document.
      if (s == 3) EXPECT_EQ(path, testing::ChunkPath::Document) << chunks[i];
      if (path == testing::ChunkPath::Text && s == 1) (i < captured ? capturedFromText : edgesFromText) += 1;
    }
  }
  // Both paths were exercised: most captured chunks are the usual shape (the tool-call ones are
  // not), and the edges go both ways.
  EXPECT_GT(capturedFromText, captured / 2) << captured;
  EXPECT_GE(edgesFromText, 10u);
  EXPECT_LE(edgesFromText, edges.size() - 10);
}

// An answer of the usual shape is read from its text (no document); whatever it takes must
// decode exactly as the document does.
TEST(OpenAiNonStream, AnswersReadFromTextDecodeAsTheirDocuments) {
  const std::vector<std::string> taken = {
      // As the API sends it today.
      R"({"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion","created":1741570283,"model":"gpt-4o-2024-08-06",)"
      R"("choices":[{"index":0,"message":{"role":"assistant","content":"The image shows a wooden boardwalk.","refusal":null,)"
      R"("annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1117,"completion_tokens":46,)"
      R"("total_tokens":1163,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":)"
      R"({"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},)"
      R"("service_tier":"default","system_fingerprint":"fp_fc9f1d7035"})",
      R"({"id":"c","object":"chat.completion","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"message":)"
      R"({"role":"assistant","content":"4","reasoning_content":"2 + 2 \"is\"\n4 \u00e9"},"finish_reason":"stop"}]})",
      R"({"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[)"
      R"({"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},)"
      R"({"id":"call_2","type":"function","function":null},{"id":"call_3","type":"function"}]},"finish_reason":"tool_calls"}]})",
      R"({"id":"c","choices":[{"index":1,"message":{"content":"b"}},{"index":0,"message":{"content":"a"}},7,null]})",
      R"({"id":"c","choices":[{"index":0,"message":{"refusal":"I can't help with that."},"finish_reason":"content_filter"}]})",
      R"({"choices":[]})",
      R"({"choices":[{"message":{"content":"x","content":"last"}}],"choices":[{"message":{"content":"repeated"}}]})",
      R"({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"id":"late","choices":[{"message":{"content":"deep"}}]})",
  };
  const std::vector<std::string> declined = {
      R"({"id":"c","choices":[{"\u006dessage":{"content":"escaped name"}}]})",
      R"({"choices":[{"message":{"content":"kept","\u0063ontent":"escaped name"}}]})",
      R"({"\u0069d":"c","choices":[]})",
      R"({"choices":[{"message":{"tool_calls":[{"\u0069d":"x","function":{"name":"f"}}]}}]})",
      R"({"choices":[{"message":{"tool_calls":[{"id":"x","function":{"n\u0061me":"f"}}]}}]})",
      R"({"choices":[],"usage":{"prompt_\u0074okens":3}})",
      R"({"choices":[{"index":"0","message":{"content":"x"}}]})",
      R"({"choices":[{"message":{"content":["parts"]}}]})",
      R"({"choices":[{"message":"text"}]})",
      R"({"choices":[{"message":{"tool_calls":{"id":"x"}}}]})",
      R"({"choices":[{"message":{"tool_calls":[{"function":"f"}]}}]})",
      R"({"choices":{"index":0}})",
      R"({"id":5,"choices":[]})",
      R"({"created":1.5,"choices":[]})",
      R"({"object":"chat.completion"})",
      R"({"choices":[{"message":{"content":"cut")",
      R"([1])",
  };
  for (const auto& answer : taken) {
    std::string problem;
    EXPECT_TRUE(testing::compareAnswerPaths(answer, &providers::openai::decodeResponseText, &decodeResponse, problem)) << answer;
    EXPECT_TRUE(problem.empty()) << problem << "\nin " << answer;
  }
  for (const auto& answer : declined) {
    std::string problem;
    EXPECT_FALSE(testing::compareAnswerPaths(answer, &providers::openai::decodeResponseText, &decodeResponse, problem)) << answer;
    EXPECT_TRUE(problem.empty()) << problem << "\nin " << answer;
  }
}

// Once a tool call is open, chunks go to the document path, which closes it on a finish.
TEST(OpenAiChunks, AnOpenToolCallKeepsTheStreamOnTheDocumentPath) {
  ChunkDecodeState state;
  std::vector<core::ChatEvent> events;
  const std::string call = R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":""}}]}}]})";
  EXPECT_FALSE(providers::openai::decodeChunkText(call, state, events));
  ASSERT_FALSE(decodeChunk(json::parse(call), state, events));
  const std::string finish = R"({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})";
  EXPECT_FALSE(providers::openai::decodeChunkText(finish, state, events));
  ASSERT_FALSE(decodeChunk(json::parse(finish), state, events));
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[events.size() - 2].kind, core::EventKind::ToolCallEnd);
  EXPECT_EQ(events.back().kind, core::EventKind::Finish);
}

// The passthrough path reads an answer's usage from its text; every dialect's reading must be
// the one the translated paths make from the document.
TEST(UsageFromText, ReadsWhatTheDocumentDecoderReads) {
  const std::vector<std::string> usages = {
      // OpenAI Chat Completions, as the API sends it today
      R"({"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":3,)"
      R"("audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":4,"audio_tokens":0,)"
      R"("accepted_prediction_tokens":0,"rejected_prediction_tokens":0}})",
      // Responses
      R"({"input_tokens":36,"input_tokens_details":{"cached_tokens":8},"output_tokens":87,)"
      R"("output_tokens_details":{"reasoning_tokens":64},"total_tokens":123})",
      // Anthropic, with prompt caching
      R"({"input_tokens":5,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":42,)"
      R"("service_tier":"standard"})",
      // wrong types and odd shapes: the usage is then unknown, as from the document
      R"({"prompt_tokens":"9","completion_tokens":6})", R"({"prompt_tokens":9.5,"completion_tokens":6})",
      R"({"input_tokens":1e3,"output_tokens":2})", R"({"prompt_tokens_details":[1],"prompt_tokens":1})",
      R"({"completion_tokens_details":{"reasoning_tokens":true}})", R"({"input_tokens":null,"output_tokens":7})",
      R"({"prompt_tokens":1,"prompt_tokens":2,"input_tokens":-4})", "[]", "7", R"("usage")", "{}"};
  const auto same = [](const core::Usage& a, const core::Usage& b) {
    return a.present == b.present && a.inputTokens == b.inputTokens && a.outputTokens == b.outputTokens &&
           a.cachedInputTokens == b.cachedInputTokens && a.cacheCreationInputTokens == b.cacheCreationInputTokens &&
           a.reasoningTokens == b.reasoningTokens;
  };
  int present = 0;
  for (const auto dialect : {core::Dialect::OpenAi, core::Dialect::OpenAiResponses, core::Dialect::Anthropic}) {
    for (const auto& text : usages) {
      const core::Usage fromDocument = api::decodeUsage(dialect, core::parseJson(text));
      const core::Usage fromText = api::decodeUsageText(dialect, text);
      EXPECT_TRUE(same(fromText, fromDocument)) << api::dialectName(dialect) << " " << text;
      present += fromText.present && fromText.inputTokens > 0 ? 1 : 0;
    }
  }
  EXPECT_GE(present, 3);  // the cases do read counts, not only unknowns
  const core::Usage anthropic = api::decodeUsageText(core::Dialect::Anthropic, usages[2]);
  EXPECT_EQ(anthropic.inputTokens, 2105);
  EXPECT_EQ(anthropic.cachedInputTokens, 2000);
  const core::Usage chat = api::decodeUsageText(core::Dialect::OpenAi, usages[0]);
  EXPECT_EQ(chat.cachedInputTokens, 3);
  EXPECT_EQ(chat.reasoningTokens, 4);
}

}  // namespace
}  // namespace llmgate::api::openai
