#include "llmgate/api/anthropic_codec.hpp"

#include <gtest/gtest.h>

#include "common/text_decoding.hpp"
#include "fixture_util.hpp"
#include "llmgate/api/openai_codec.hpp"
#include "llmgate/stream/sse_parser.hpp"
#include "providers/anthropic/anthropic_codec.hpp"
#include "providers/openai/openai_codec.hpp"
#include "providers/anthropic/anthropic_provider.hpp"

namespace llmgate::api::anthropic {
namespace {

// The client codec and, for round trips, the upstream codec of the same format.
using providers::anthropic::decodeError;
using providers::anthropic::decodeResponse;
using providers::anthropic::encodeRequest;

using nlohmann::json;

// A Messages API request with system blocks, tools, images and thinking.
const char* kRequest = R"({
  "model": "claude-sonnet-4-5",
  "max_tokens": 1024,
  "system": [{"type": "text", "text": "You are terse."}],
  "messages": [
    {"role": "user", "content": [
      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
      {"type": "text", "text": "Weather in Paris?"}]},
    {"role": "assistant", "content": [
      {"type": "thinking", "thinking": "Use the tool.", "signature": "sig-1"},
      {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C, cloudy"}]}
  ],
  "tools": [{"name": "get_weather", "description": "Weather by city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
  "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
  "stop_sequences": ["\n\nHuman:"],
  "temperature": 0.5, "top_k": 40,
  "metadata": {"user_id": "u-123"},
  "thinking": {"type": "enabled", "budget_tokens": 2048},
  "stream": true
})";

const providers::Provider* claude() {
  static const auto provider = [] {
    auto config = config::parseConfig(R"({"providers":[{"name":"claude","type":"anthropic","api_key":"k"}]})",
                                      [](const std::string&) { return std::nullopt; });
    return providers::anthropic::create(config.providers[0]);
  }();
  return provider.get();
}

// Decodes an Anthropic stream (fed in pieces split at `cuts`) with the provider's own decoder.
core::ChatResponse decodeStream(const std::string& text, const std::vector<std::size_t>& cuts = {},
                                std::vector<core::ChatEvent>* eventsOut = nullptr) {
  auto decoder = claude()->makeDecoder(core::ChatRequest{.stream = true});
  std::vector<core::ChatEvent> events;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    auto error = decoder->feed(std::string_view(text).substr(from, cut - from), events);
    EXPECT_FALSE(error) << error->message;
    from = cut;
  }
  auto error = decoder->feed(std::string_view(text).substr(from), events);
  EXPECT_FALSE(error) << error->message;
  auto end = decoder->finish(events);
  EXPECT_FALSE(end) << end->message;
  core::ResponseAccumulator accumulator;
  for (const auto& event : events) accumulator.add(event);
  if (eventsOut != nullptr) *eventsOut = events;
  return accumulator.response();
}

// Parsed arguments; arguments cut off mid-JSON (max_tokens) compare as the gateway wraps them.
json argumentsOf(const core::ToolCall& call) {
  json parsed = json::parse(call.arguments, nullptr, false);
  return parsed.is_discarded() ? json{{"arguments", call.arguments}} : parsed;
}

void expectSameAnswer(const core::ChatResponse& a, const core::ChatResponse& b) {
  ASSERT_EQ(a.choices.size(), b.choices.size());
  for (std::size_t i = 0; i < a.choices.size(); ++i) {
    EXPECT_EQ(a.choices[i].text + a.choices[i].refusal, b.choices[i].text + b.choices[i].refusal);
    EXPECT_EQ(a.choices[i].thinking, b.choices[i].thinking);
    EXPECT_EQ(a.choices[i].finish, b.choices[i].finish);
    ASSERT_EQ(a.choices[i].toolCalls.size(), b.choices[i].toolCalls.size());
    for (std::size_t t = 0; t < a.choices[i].toolCalls.size(); ++t) {
      EXPECT_EQ(a.choices[i].toolCalls[t].id, b.choices[i].toolCalls[t].id);
      EXPECT_EQ(a.choices[i].toolCalls[t].name, b.choices[i].toolCalls[t].name);
      EXPECT_EQ(argumentsOf(a.choices[i].toolCalls[t]), argumentsOf(b.choices[i].toolCalls[t]));
    }
  }
  EXPECT_EQ(a.usage.inputTokens, b.usage.inputTokens);
  EXPECT_EQ(a.usage.outputTokens, b.usage.outputTokens);
}

TEST(AnthropicDecode, MapsTheDocumentedRequest) {
  auto result = decodeRequest(json::parse(kRequest));
  ASSERT_TRUE(result.ok()) << result.error().message;
  const auto& r = result.value();
  EXPECT_EQ(r.sourceDialect, core::Dialect::Anthropic);
  EXPECT_EQ(r.system, std::vector<std::string>{"You are terse."});
  EXPECT_EQ(r.maxTokens, 1024);
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].content[0].imageUrl, "data:image/png;base64,iVBORw0KGgo=");
  EXPECT_EQ(r.messages[1].content[0].kind, core::PartKind::Thinking);
  EXPECT_EQ(r.messages[1].content[0].signature, "sig-1");
  EXPECT_EQ(json::parse(r.messages[1].content[1].arguments), json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(r.messages[2].role, core::Role::Tool);
  EXPECT_EQ(r.messages[2].content[0].toolCallId, "toolu_01A");
  EXPECT_EQ(r.messages[2].content[0].text, "18C, cloudy");
  EXPECT_EQ(r.tools[0].parameters["required"][0], "city");
  EXPECT_EQ(r.toolChoice->mode, core::ToolChoice::Mode::Auto);
  EXPECT_EQ(r.parallelToolCalls, false);
  EXPECT_EQ(r.stop, std::vector<std::string>{"\n\nHuman:"});
  EXPECT_EQ(r.topK, 40);
  EXPECT_EQ(r.user, "u-123");
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.extra["thinking"]["budget_tokens"], 2048);
}

// What Claude Code sends today: a system message after the first user turn (with its own
// output_config), adaptive thinking with an effort, context management, tool_reference blocks
// in a tool result after a tool search.
TEST(AnthropicDecode, TakesTodaysClaudeCodeRequest) {
  auto result = decodeRequest(json::parse(R"({"model":"claude-opus-5-5","max_tokens":128000,"stream":true,
    "system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],
    "messages":[
      {"role":"user","content":[{"type":"text","text":"<system-reminder>x</system-reminder>"},{"type":"text","text":"find it"}]},
      {"role":"system","content":[{"type":"text","text":"Environment: linux"}],"output_config":{"effort":"high"}},
      {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"ToolSearch","input":{"query":"grep"}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[
        {"type":"text","text":"found:"},{"type":"tool_reference","tool_name":"Grep"}],"cache_control":{"type":"ephemeral"}}]},
      {"role":"system","content":[]}],
    "thinking":{"type":"adaptive","display":"omitted"},"output_config":{"effort":"high"},
    "context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]}})"));
  ASSERT_TRUE(result.ok()) << result.error().message;
  const auto& request = result.value();
  ASSERT_EQ(request.messages.size(), 4u);  // the empty system message adds nothing
  EXPECT_EQ(request.messages[1].role, core::Role::System);
  EXPECT_EQ(request.messages[1].joinedText(), "Environment: linux");
  EXPECT_EQ(request.messages[3].role, core::Role::Tool);
  EXPECT_EQ(request.messages[3].content[0].text, "found:");  // the tool_reference block has no text to carry
  EXPECT_EQ(request.reasoningEffort, "high");
  ASSERT_TRUE(request.thinking);
  EXPECT_TRUE(request.thinking->enabled);
  EXPECT_EQ(request.thinking->budgetTokens, 24576);  // adaptive: the budget of its effort
  EXPECT_TRUE(request.extra.contains("context_management"));  // for Claude only
  // The mid-conversation system message stays in place for OpenAI, joins the system for Claude.
  const json openAi = providers::openai::encodeRequest(request, "gpt-5");
  EXPECT_EQ(openAi["messages"][2]["role"], "system");
  EXPECT_EQ(openAi["messages"][2]["content"], "Environment: linux");
}

struct BadRequest {
  const char* body;
  const char* param;
};

class AnthropicDecodeErrors : public ::testing::TestWithParam<BadRequest> {};

TEST_P(AnthropicDecodeErrors, AreClear400s) {
  auto result = decodeRequest(json::parse(GetParam().body));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().status, 400);
  EXPECT_EQ(result.error().param, GetParam().param);
  EXPECT_EQ(errorType(result.error()), "invalid_request_error");
}

INSTANTIATE_TEST_SUITE_P(
    Fields, AnthropicDecodeErrors,
    ::testing::Values(
        BadRequest{R"({"model":"m","messages":[{"role":"user","content":"x"}]})", "max_tokens"},
        BadRequest{R"({"model":"m","max_tokens":5,"messages":[{"role":"tool","content":"x"}]})", "messages[0].role"},
        BadRequest{R"({"model":"m","max_tokens":5,"messages":[{"role":"system","content":5}]})", "messages[0].content"},
        BadRequest{R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video"}]}]})",
                   "messages[0].content[0].type"},
        BadRequest{R"({"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"image","source":{}}]}]})",
                   "messages[0].content[0].type"},
        BadRequest{R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"nope","content":"x"}]}]})",
                   "messages[0].content[0].tool_use_id"},
        BadRequest{R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"t"}]})",
                   "tools[0].input_schema"},
        BadRequest{R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"w"}]})",
                   "tools[0].type"},
        BadRequest{R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"tool"}})",
                   "tool_choice"}));

struct Capture {
  const char* file;
  const char* text;
  core::FinishReason finish;
  std::int64_t inputTokens;
  std::int64_t outputTokens;
};

class AnthropicCapture : public ::testing::TestWithParam<Capture> {};

TEST_P(AnthropicCapture, DecodesTheSameAtEverySplitPoint) {
  const std::string text = testing::readFixture(std::string("anthropic/") + GetParam().file);
  const auto whole = decodeStream(text);
  ASSERT_EQ(whole.choices.size(), 1u);
  EXPECT_EQ(whole.choices[0].text, GetParam().text);
  EXPECT_EQ(whole.choices[0].finish, GetParam().finish);
  EXPECT_EQ(whole.usage.inputTokens, GetParam().inputTokens);
  EXPECT_EQ(whole.usage.outputTokens, GetParam().outputTokens);
  for (std::size_t cut = 1; cut < text.size(); ++cut) {
    const auto split = decodeStream(text, {cut});
    ASSERT_EQ(split.choices.size(), 1u) << cut;
    ASSERT_EQ(split.choices[0].text, whole.choices[0].text) << cut;
    ASSERT_EQ(split.choices[0].toolCalls.size(), whole.choices[0].toolCalls.size()) << cut;
  }
}

// Our encoder's stream, decoded again, gives the same answer; and the non-streaming Message we
// would send for it decodes to the same answer too (stream == non-stream).
TEST_P(AnthropicCapture, EncodesStreamAndMessageThatDecodeToTheSameAnswer) {
  std::vector<core::ChatEvent> events;
  const auto original = decodeStream(testing::readFixture(std::string("anthropic/") + GetParam().file), {}, &events);
  StreamEncoder encoder(original.id, original.model);
  std::string encoded;
  for (const auto& event : events) encoder.encode(event, encoded);
  encoder.finish(encoded);
  EXPECT_EQ(encoded.rfind("event: message_start\n", 0), 0u);
  const auto firstBlock = encoded.find("event: content_block_start\n");
  ASSERT_NE(firstBlock, std::string::npos);
  EXPECT_EQ(encoded.find("event: ping\ndata: {\"type\":\"ping\"}\n\n"), encoded.find("\n\n", firstBlock) + 2);
  EXPECT_NE(encoded.find("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), std::string::npos);
  const auto again = decodeStream(encoded);
  expectSameAnswer(again, original);
  EXPECT_EQ(again.choices[0].thinkingSignature, original.choices[0].thinkingSignature);
  EXPECT_EQ(again.id, original.id);

  auto message = decodeResponse(json::parse(encodeResponse(original)));
  ASSERT_TRUE(message.ok());
  expectSameAnswer(message.value(), original);
}

// An answer of the usual shape is read from its text (no document); whatever it takes must
// decode exactly as the document does.
TEST(AnthropicNonStream, AnswersReadFromTextDecodeAsTheirDocuments) {
  const std::vector<std::string> taken = {
      // As the API sends it today.
      R"({"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",)"
      R"("content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,)"
      R"("cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,)"
      R"("ephemeral_1h_input_tokens":0},"output_tokens":6,"service_tier":"standard"}})",
      R"({"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"thinking","thinking":"Let me \"think\"\n",)"
      R"("signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},{"type":"redacted_thinking","data":"abc"},)"
      R"({"type":"text","text":"The answer is 4. \u00e9\ud83d\ude00"},{"type":"text","text":" Second."}],"stop_reason":"max_tokens"})",
      R"({"id":"msg_2","content":[],"stop_reason":"stop_sequence","stop_sequence":"END"})",
      R"({"content":[7,null,"x",{"text":"no type"}],"stop_reason":null})",
      R"({"content":[{"type":"text","text":"a","text":"last"}],"content":[{"type":"text","text":"repeated"}]})",
      R"({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"id":"late","content":[{"type":"text","text":"deep"}]})",
  };
  const std::vector<std::string> declined = {
      R"({"id":"msg_3","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris","b":1,"a":2}}],"stop_reason":"tool_use"})",
      R"({"content":[{"type":"text","\u0074ext":"escaped name"}]})",
      R"({"\u0069d":"m","content":[]})",
      R"({"content":[],"usage":{"input_\u0074okens":3}})",
      R"({"content":[{"type":"text","text":7}]})",
      R"({"content":[{"type":5}]})",
      R"({"content":{"type":"text"}})",
      R"({"content":[],"stop_reason":1})",
      R"({"id":["m"],"content":[]})",
      R"({"type":"message"})",
      R"({"content":[{"type":"text","text":"cut")",
  };
  for (const auto& answer : taken) {
    std::string problem;
    EXPECT_TRUE(testing::compareAnswerPaths(answer, &providers::anthropic::decodeResponseText, &decodeResponse, problem)) << answer;
    EXPECT_TRUE(problem.empty()) << problem << "\nin " << answer;
  }
  for (const auto& answer : declined) {
    std::string problem;
    EXPECT_FALSE(testing::compareAnswerPaths(answer, &providers::anthropic::decodeResponseText, &decodeResponse, problem)) << answer;
    EXPECT_TRUE(problem.empty()) << problem << "\nin " << answer;
  }
}

// A content_block_delta is read from its text (no document); whatever it takes must decode
// exactly as the document does, in the state the stream has reached.
TEST(AnthropicEvents, DeltasReadFromTextDecodeAsTheirDocuments) {
  std::size_t captured = 0;
  std::size_t capturedFromText = 0;
  for (const char* capture : {"anthropic/stream_text_basic.sse", "anthropic/stream_tool_use.sse",
                              "anthropic/stream_tool_use_max_tokens_padded.sse",
                              "anthropic/stream_thinking_signature_refusal_SYNTHETIC.sse"}) {
    stream::SseParser parser;
    providers::anthropic::EventDecodeState state;
    std::vector<core::ChatEvent> events;
    parser.feed(testing::readFixture(capture), [&](const stream::SseEvent& event) {
      if (event.type == "content_block_delta") {
        std::string problem;
        ++captured;
        capturedFromText += testing::compareDeltaPaths(event.data, state, problem) ? 1 : 0;
        EXPECT_TRUE(problem.empty()) << problem << "\nin " << event.data;
      }
      providers::anthropic::decodeEvent(event.type, json::parse(event.data), state, events);
    });
  }
  EXPECT_GT(captured, 10u);
  EXPECT_EQ(capturedFromText, captured);  // every captured delta is the usual shape
  // The edges, in a state where block 1 is a tool call and block 0 is not.
  providers::anthropic::EventDecodeState state;
  state.toolIndexOfBlock = {-1, 0};
  const std::vector<std::string> taken = {
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"line\n\"q\" \u00e9 \ud83d\ude00"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}})",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{}"}})",
      R"({"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"{}"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"char_location"}}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","text":"last"}})",
      R"({"index":4095,"delta":{"type":"text_delta"}})",
  };
  const std::vector<std::string> declined = {
      R"({"type":"content_block_delta","index":-1,"delta":{"type":"text_delta","text":"x"}})",
      R"({"type":"content_block_delta","index":4096,"delta":{"type":"text_delta","text":"x"}})",
      R"({"type":"content_block_delta","index":"0","delta":{"type":"text_delta","text":"x"}})",
      R"({"type":"content_block_delta","index":0.5,"delta":{"type":"text_delta","text":"x"}})",
      R"({"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}})",
      R"({"type":"content_block_delta","index":0})",
      R"({"type":"content_block_delta","index":0,"delta":"text"})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":5}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":7,"text":"x"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","\u0074ext":"escaped name"}})",
      R"({"type":"content_block_delta","\u0069ndex":0,"delta":{"type":"text_delta","text":"x"}})",
      R"([0])",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"cut)",
  };
  for (const auto& data : taken) {
    std::string problem;
    EXPECT_TRUE(testing::compareDeltaPaths(data, state, problem)) << data;
    EXPECT_TRUE(problem.empty()) << problem << "\nin " << data;
  }
  for (const auto& data : declined) {
    std::string problem;
    EXPECT_FALSE(testing::compareDeltaPaths(data, state, problem)) << data;
    EXPECT_TRUE(problem.empty()) << problem << "\nin " << data;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, AnthropicCapture,
    ::testing::Values(Capture{"stream_text_basic.sse", "Hello there!", core::FinishReason::Stop, 11, 6},
                      Capture{"stream_tool_use.sse", "I'll check the current weather in Paris for you.",
                              core::FinishReason::ToolCalls, 377, 65},
                      Capture{"stream_tool_use_max_tokens_padded.sse",
                              "I'll create a comprehensive tax guide for someone with multiple W2s and save it in a "
                              "file called taxes.txt. Let me do that for you now.",
                              core::FinishReason::Length, 450, 124},
                      Capture{"stream_thinking_signature_refusal_SYNTHETIC.sse", "Hi", core::FinishReason::ContentFilter,
                              28, 106}),
    [](const auto& info) {
      std::string name = info.param.file;
      name = name.substr(0, name.find('.'));
      return name;
    });

TEST(AnthropicCapture, ToolUseFragmentsStayFragmentsWithStableIndexAndId) {
  std::vector<core::ChatEvent> events;
  const auto response = decodeStream(testing::readFixture("anthropic/stream_tool_use.sse"), {}, &events);
  ASSERT_EQ(response.choices[0].toolCalls.size(), 1u);
  EXPECT_EQ(response.choices[0].toolCalls[0].name, "get_weather");
  EXPECT_EQ(json::parse(response.choices[0].toolCalls[0].arguments), json::parse(R"({"location": "Paris"})"));
  int deltas = 0;
  for (const auto& event : events) {
    if (event.kind == core::EventKind::ToolCallDelta) {
      ++deltas;
      EXPECT_EQ(event.toolIndex, 0);
    }
  }
  EXPECT_GT(deltas, 2);
  // As OpenAI chunks: one tool call, index 0, its id once, then argument fragments.
  openai::StreamEncoder encoder("id", "m", 1, true);
  std::string chunks;
  for (const auto& event : events) encoder.encode(event, chunks);
  encoder.finish(chunks);
  EXPECT_NE(chunks.find(R"("tool_calls":[{"index":0,"id":")" + response.choices[0].toolCalls[0].id), std::string::npos);
  EXPECT_NE(chunks.find(R"("finish_reason":"tool_calls")"), std::string::npos);
}

TEST(AnthropicCapture, ThinkingBecomesReasoningContentForOpenAiClients) {
  std::vector<core::ChatEvent> events;
  decodeStream(testing::readFixture("anthropic/stream_thinking_signature_refusal_SYNTHETIC.sse"), {}, &events);
  openai::StreamEncoder encoder("id", "m", 1, false);
  std::string chunks;
  for (const auto& event : events) encoder.encode(event, chunks);
  EXPECT_NE(chunks.find(R"("reasoning_content":)"), std::string::npos);
  EXPECT_NE(chunks.find(R"("finish_reason":"content_filter")"), std::string::npos);
  // Read back as an OpenAI client would.
  stream::SseParser parser;
  providers::openai::ChunkDecodeState state;
  std::vector<core::ChatEvent> back;
  parser.feed(chunks, [&](const stream::SseEvent& event) { providers::openai::decodeChunk(json::parse(event.data), state, back); });
  core::ResponseAccumulator accumulator;
  for (const auto& event : back) accumulator.add(event);
  EXPECT_EQ(accumulator.response().choices[0].thinking.rfind("Simple educational question", 0), 0u);
}

class OpenAiCaptureToAnthropic : public ::testing::TestWithParam<const char*> {};

// OpenAI upstream -> Anthropic client: the stream we write decodes to the OpenAI answer.
TEST_P(OpenAiCaptureToAnthropic, SameAnswerThroughTheAnthropicEncoder) {
  stream::SseParser parser;
  providers::openai::ChunkDecodeState state;
  std::vector<core::ChatEvent> events;
  parser.feed(testing::readFixture(std::string("openai/") + GetParam()), [&](const stream::SseEvent& event) {
    if (event.data != "[DONE]") providers::openai::decodeChunk(json::parse(event.data), state, events);
  });
  core::ResponseAccumulator accumulator;
  for (const auto& event : events) accumulator.add(event);
  StreamEncoder encoder("msg_1", "gpt-4o");
  std::string encoded;
  for (const auto& event : events) encoder.encode(event, encoded);
  encoder.finish(encoded);
  const auto again = decodeStream(encoded);
  auto original = accumulator.response();
  original.choices.resize(1);  // this dialect carries one answer
  expectSameAnswer(again, original);
}

INSTANTIATE_TEST_SUITE_P(Captures, OpenAiCaptureToAnthropic,
                         ::testing::Values("stream_text_stop.sse", "stream_tool_call_single.sse",
                                           "stream_tool_calls_parallel.sse", "stream_finish_length.sse",
                                           "stream_refusal.sse"));

TEST(AnthropicEncode, OpenAiRequestBecomesAValidMessagesRequest) {
  auto decoded = openai::decodeRequest(json::parse(R"({"model":"claude","messages":[
    {"role":"system","content":"Be brief."},
    {"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4A=="}}]},
    {"role":"assistant","content":null,"tool_calls":[
      {"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
      {"id":"c2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
    {"role":"tool","tool_call_id":"c1","content":"18C"},
    {"role":"tool","tool_call_id":"c2","content":"25C"},
    {"role":"user","content":"Thanks"}],
    "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
    "tool_choice":"required","stop":"END","temperature":1.5,"stream":true,"frequency_penalty":1})"));
  ASSERT_TRUE(decoded.ok());
  json body = encodeRequest(decoded.value(), "claude-sonnet-4-5", 4096);
  EXPECT_EQ(body["model"], "claude-sonnet-4-5");
  EXPECT_EQ(body["max_tokens"], 4096);
  EXPECT_EQ(body["system"], "Be brief.");
  ASSERT_EQ(body["messages"].size(), 3u);  // user, assistant, user (tool results + "Thanks" merged)
  EXPECT_EQ(body["messages"][0]["content"][1]["source"],
            json::parse(R"({"type":"base64","media_type":"image/jpeg","data":"/9j/4A=="})"));
  EXPECT_EQ(body["messages"][1]["content"][1]["input"]["city"], "Rome");
  const json& results = body["messages"][2]["content"];
  EXPECT_EQ(results[0], json::parse(R"({"type":"tool_result","tool_use_id":"c1","content":"18C"})"));
  EXPECT_EQ(results[1]["tool_use_id"], "c2");
  EXPECT_EQ(results[2]["text"], "Thanks");
  EXPECT_EQ(body["tools"][0]["input_schema"]["properties"]["city"]["type"], "string");
  EXPECT_EQ(body["tool_choice"]["type"], "any");
  EXPECT_EQ(body["stop_sequences"], json::array({"END"}));
  EXPECT_EQ(body["temperature"], 1.0);
  EXPECT_EQ(body["stream"], true);
  EXPECT_FALSE(body.contains("frequency_penalty"));  // OpenAI-only fields stay behind
}

TEST(AnthropicEncode, AnthropicExtrasAndSignedThinkingSurvive) {
  auto decoded = decodeRequest(json::parse(kRequest));
  ASSERT_TRUE(decoded.ok());
  json body = encodeRequest(decoded.value(), "claude-x", 4096);
  EXPECT_EQ(body["thinking"]["budget_tokens"], 2048);
  EXPECT_EQ(body["messages"][1]["content"][0], json::parse(R"({"type":"thinking","thinking":"Use the tool.","signature":"sig-1"})"));
  EXPECT_EQ(body["tool_choice"], json::parse(R"({"type":"auto","disable_parallel_tool_use":true})"));
  EXPECT_EQ(body["metadata"]["user_id"], "u-123");
}

TEST(AnthropicEncode, ResponseIsTheDocumentedMessage) {
  core::ChatResponse response;
  response.id = "msg_1";
  response.model = "claude";
  core::Choice choice;
  choice.thinking = "hmm";
  choice.thinkingSignature = "sig";
  choice.text = "say \"hi\"\n";
  choice.toolCalls.push_back({"toolu_1", "get_weather", R"({"city":"Paris"})"});
  choice.toolCalls.push_back({"toolu_2", "broken", "not json"});
  choice.finish = core::FinishReason::ToolCalls;
  core::Choice second;  // Messages have one answer: other choices are not sent
  second.index = 1;
  second.text = "other";
  response.choices = {choice, second};
  response.usage.present = true;
  response.usage.inputTokens = 10;
  response.usage.cachedInputTokens = 3;
  response.usage.cacheCreationInputTokens = 2;
  response.usage.outputTokens = 4;
  EXPECT_EQ(json::parse(encodeResponse(response)), json::parse(R"({
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
    "content": [
      {"type": "thinking", "thinking": "hmm", "signature": "sig"},
      {"type": "text", "text": "say \"hi\"\n"},
      {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
      {"type": "tool_use", "id": "toolu_2", "name": "broken", "input": {"arguments": "not json"}}],
    "stop_reason": "tool_use", "stop_sequence": null,
    "usage": {"input_tokens": 5, "output_tokens": 4, "cache_creation_input_tokens": 2, "cache_read_input_tokens": 3}
  })"));
  core::ChatResponse empty;
  empty.id = "msg_2";
  empty.model = "claude";
  EXPECT_EQ(json::parse(encodeResponse(empty))["content"], json::array());
  EXPECT_EQ(json::parse(encodeResponse(empty))["stop_reason"], "end_turn");
}

TEST(AnthropicErrors, ShapeTypesAndUpstreamDecoding) {
  auto error = core::GatewayError::make(core::ErrorKind::NotFound, "model_not_found", "no such model");
  EXPECT_EQ(json::parse(encodeError(error)),
            json::parse(R"({"type":"error","error":{"type":"not_found_error","message":"no such model"}})"));
  auto overloaded = decodeError(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  EXPECT_EQ(overloaded.status, 529);
  EXPECT_EQ(overloaded.kind, core::ErrorKind::Unavailable);
  EXPECT_EQ(json::parse(encodeError(overloaded))["error"]["type"], "overloaded_error");
  StreamEncoder encoder("msg", "m");
  std::string out;
  encoder.encodeError(overloaded, out);
  EXPECT_EQ(out.rfind("event: error\ndata: ", 0), 0u);
}

TEST(AnthropicStream, ErrorEventAfterHttp200IsAnError) {
  auto decoder = claude()->makeDecoder(core::ChatRequest{.stream = true});
  std::vector<core::ChatEvent> events;
  auto error = decoder->feed("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", events);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->status, 529);
  EXPECT_EQ(error->message, "Overloaded");
  auto truncated = claude()->makeDecoder(core::ChatRequest{.stream = true});
  truncated->feed("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":1}}}\n\n", events);
  auto end = truncated->finish(events);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->code, "upstream_disconnected");
}

}  // namespace
}  // namespace llmgate::api::anthropic

namespace llmgate::api::anthropic {
namespace {

TEST(AnthropicStream, ReasoningFromOpenAiUpstreamsBecomesAThinkingBlock) {
  providers::openai::ChunkDecodeState state;
  std::vector<core::ChatEvent> events;
  for (const char* chunk : {R"({"id":"c","model":"deepseek-reasoner","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Let me think."}}]})",
                            R"({"id":"c","choices":[{"index":0,"delta":{"content":"Four."}}]})",
                            R"({"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})"}) {
    ASSERT_FALSE(providers::openai::decodeChunk(json::parse(chunk), state, events));
  }
  StreamEncoder encoder("msg", "m");
  std::string encoded;
  for (const auto& event : events) encoder.encode(event, encoded);
  encoder.finish(encoded);
  EXPECT_NE(encoded.find(R"("content_block":{"signature":"","thinking":"","type":"thinking"})"), std::string::npos) << encoded;
  const auto again = decodeStream(encoded);
  EXPECT_EQ(again.choices[0].thinking, "Let me think.");
  EXPECT_EQ(again.choices[0].text, "Four.");
  EXPECT_EQ(again.choices[0].finish, core::FinishReason::Stop);
}

}  // namespace
}  // namespace llmgate::api::anthropic
