// Type swaps through the real server: rich client requests of both dialects, each mutated at
// every node (tests/common/json_mutations.hpp), sent to gateways in front of every kind of
// upstream. Whatever the shape, the client gets a 2xx or a 4xx in its own dialect, a stream
// that ends properly, and the gateway stays up; never a 5xx or a dropped connection.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/event_stream_writer.hpp"
#include "common/json_mutations.hpp"
#include "gateway_harness.hpp"
#include "llmgate/core/json_read.hpp"
#include "test_upstream.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;

// ---- client requests ----------------------------------------------------------------------

// Every member a Chat Completions client commonly sends, in a conversation one tool call in.
constexpr const char* kOpenAiChat = R"json({
  "model": "m",
  "messages": [
    {"role": "system", "content": "You are a weather assistant. Answer in one sentence."},
    {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
    {"role": "user", "name": "alice", "content": [
      {"type": "text", "text": "What should I wear in Paris today? This is the sky right now."},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "detail": "low"}}
    ]},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_weather_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"celsius\"}"}}
    ]},
    {"role": "tool", "tool_call_id": "call_weather_1", "content": "{\"temperature\":18,\"sky\":\"clear\"}"}
  ],
  "tools": [{"type": "function", "function": {
    "name": "get_weather",
    "description": "Current weather for a city",
    "strict": false,
    "parameters": {
      "type": "object",
      "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", null]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "position": {"type": "object", "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}}, "required": ["lat", "lon"]}
      },
      "required": ["city"],
      "additionalProperties": false
    }
  }}],
  "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
  "parallel_tool_calls": true,
  "stop": ["\n\nUser:"],
  "response_format": {"type": "json_schema", "json_schema": {"name": "outfit", "strict": true,
    "schema": {"type": "object", "properties": {"outfit": {"type": "string"}}, "required": ["outfit"]}}},
  "stream": true,
  "stream_options": {"include_usage": true},
  "temperature": 0.7,
  "top_p": 0.9,
  "max_tokens": 256,
  "n": 1,
  "seed": 42,
  "user": "user-1234",
  "reasoning_effort": "low"
})json";

// Every member a Messages client commonly sends: cached system blocks, an image, signed
// thinking, two tool calls answered by a string result and a block result (one an error).
constexpr const char* kAnthropicMessages = R"json({
  "model": "m",
  "max_tokens": 1024,
  "system": [
    {"type": "text", "text": "You are a weather assistant.", "cache_control": {"type": "ephemeral"}},
    {"type": "text", "text": "Answer in one sentence."}
  ],
  "messages": [
    {"role": "user", "content": [
      {"type": "text", "text": "What should I wear in Paris today? This is the sky right now."},
      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}}
    ]},
    {"role": "assistant", "content": [
      {"type": "thinking", "thinking": "I need the weather and the local time.", "signature": "EqQBCkYIBxgCKkBhc2lnbmF0dXJl"},
      {"type": "text", "text": "Let me check."},
      {"type": "tool_use", "id": "toolu_weather_1", "name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}},
      {"type": "tool_use", "id": "toolu_time_1", "name": "get_time", "input": {"timezone": "Europe/Paris"}}
    ]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "toolu_weather_1", "content": "18C and clear"},
      {"type": "tool_result", "tool_use_id": "toolu_time_1", "content": [{"type": "text", "text": "clock unavailable"}], "is_error": true},
      {"type": "text", "text": "Shorts or trousers?"}
    ]}
  ],
  "tools": [
    {"name": "get_weather", "description": "Current weather for a city", "input_schema": {
      "type": "object",
      "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit"]}
      },
      "required": ["city"]
    }},
    {"name": "get_time", "description": "Local time in a time zone", "input_schema": {
      "type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]
    }}
  ],
  "tool_choice": {"type": "auto", "disable_parallel_tool_use": false},
  "stop_sequences": ["\n\nHuman:"],
  "temperature": 0.5,
  "top_p": 0.9,
  "top_k": 40,
  "metadata": {"user_id": "user-1234"},
  "thinking": {"type": "enabled", "budget_tokens": 512},
  "stream": true
})json";

constexpr const char* kCountTokens = R"json({
  "model": "m",
  "system": "You are terse.",
  "messages": [{"role": "user", "content": [{"type": "text", "text": "How many tokens is this?"}]}],
  "tools": [{"name": "get_time", "input_schema": {"type": "object", "properties": {"timezone": {"type": "string"}}}}]
})json";

// Every member a Responses client commonly sends, in a conversation one tool call in.
constexpr const char* kResponses = R"json({
  "model": "m",
  "instructions": "You are terse.",
  "input": [
    {"role": "developer", "content": "Use metric units."},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"},
      {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}]},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
    {"role": "assistant", "content": [{"type": "output_text", "text": "It is 18C.", "annotations": []}]},
    {"role": "user", "content": "And tomorrow?"}
  ],
  "tools": [{"type": "function", "name": "get_weather", "description": "Weather by city", "strict": false,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
  "tool_choice": "auto",
  "parallel_tool_calls": true,
  "max_output_tokens": 256,
  "temperature": 0.5,
  "top_p": 1,
  "reasoning": {"effort": "low"},
  "text": {"format": {"type": "text"}},
  "store": false,
  "user": "u-1",
  "stream": true
})json";

enum class Fixture { OpenAiChat, AnthropicMessages, CountTokens, Responses };

struct FixtureSpec {
  const char* name;
  const char* path;
  core::Dialect dialect;
  const char* body;
  bool streams;  // whether the body asks for a stream
};

const FixtureSpec& specOf(Fixture fixture) {
  static const FixtureSpec kSpecs[] = {
      {"OpenAiChat", "/v1/chat/completions", core::Dialect::OpenAi, kOpenAiChat, true},
      {"AnthropicMessages", "/v1/messages", core::Dialect::Anthropic, kAnthropicMessages, true},
      {"CountTokens", "/v1/messages/count_tokens", core::Dialect::Anthropic, kCountTokens, false},
      {"Responses", "/v1/responses", core::Dialect::OpenAiResponses, kResponses, true},
  };
  return kSpecs[static_cast<int>(fixture)];
}

// ---- upstreams ----------------------------------------------------------------------------

// Each answers the same fixed text and tool call in its own protocol, whatever the request
// body holds: it reads nothing from the body but whether a stream is asked for.

enum class Upstream { Mock, OpenAi, Anthropic, Gemini, Kiro, Zhipu };

const char* typeOf(Upstream upstream) {
  static const char* kTypes[] = {"mock", "openai", "anthropic", "gemini", "kiro", "zhipu"};
  return kTypes[static_cast<int>(upstream)];
}

// A boolean `stream` member that is true, as OpenAI, Anthropic and Zhipu read it.
bool asksForStream(const RecordedRequest& request) {
  const json body = core::parseJson(request.body);
  std::optional<core::TypeMismatch> ignored;
  return core::FieldReader(body, "", ignored).boolean("stream").value_or(false);
}

ScriptedResponse openAiAnswer(const RecordedRequest& request) {
  if (!asksForStream(request)) {
    return ScriptedResponse::json(200, R"({"id":"chatcmpl-swap","object":"chat.completion","created":1,"model":"up-model",
      "choices":[{"index":0,"message":{"role":"assistant","content":"Sunny, 18C.","tool_calls":[{"id":"call_up_1","type":"function",
        "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],
      "usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}})");
  }
  const auto chunk = [](const std::string& rest) {
    return R"(data: {"id":"chatcmpl-swap","object":"chat.completion.chunk","created":1,"model":"up-model",)" + rest + "}\n\n";
  };
  return ScriptedResponse::sse({
      chunk(R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}])"),
      chunk(R"("choices":[{"index":0,"delta":{"content":"Sunny, 18C."},"finish_reason":null}])"),
      chunk(R"("choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_up_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}])"),
      chunk(R"("choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":null}])"),
      chunk(R"("choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}])"),
      chunk(R"("choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13})"),
      "data: [DONE]\n\n",
  });
}

ScriptedResponse anthropicAnswer(const RecordedRequest& request) {
  if (request.target.find("/count_tokens") != std::string::npos) return ScriptedResponse::json(200, R"({"input_tokens":42})");
  if (!asksForStream(request)) {
    return ScriptedResponse::json(200, R"({"id":"msg_swap","type":"message","role":"assistant","model":"up-model",
      "content":[{"type":"text","text":"Sunny, 18C."},{"type":"tool_use","id":"toolu_up_1","name":"get_weather","input":{"city":"Paris"}}],
      "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":4}})");
  }
  const auto event = [](const char* type, const std::string& data) {
    return std::string("event: ") + type + "\ndata: " + data + "\n\n";
  };
  return ScriptedResponse::sse({
      event("message_start", R"({"type":"message_start","message":{"id":"msg_swap","type":"message","role":"assistant","model":"up-model","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}})"),
      event("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"),
      event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Sunny, 18C."}})"),
      event("content_block_stop", R"({"type":"content_block_stop","index":0})"),
      event("content_block_start", R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_up_1","name":"get_weather","input":{}}})"),
      event("content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":\"Paris\"}"}})"),
      event("content_block_stop", R"({"type":"content_block_stop","index":1})"),
      event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":4}})"),
      event("message_stop", R"({"type":"message_stop"})"),
  });
}

ScriptedResponse geminiAnswer(const RecordedRequest& request) {
  const std::string text = R"({"text":"Sunny, 18C."})";
  const std::string call = R"({"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2ln"})";
  const auto response = [](const std::string& parts, bool final) {
    return R"({"candidates":[{"content":{"role":"model","parts":[)" + parts + "]}," +
           (final ? R"("finishReason":"STOP",)" : "") +
           R"("index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":4,"totalTokenCount":13},"modelVersion":"gemini-up","responseId":"resp-swap"})";
  };
  // Streaming is chosen by the method in the path; Google ends events with CRLF.
  if (request.target.find(":streamGenerateContent") == std::string::npos) {
    return ScriptedResponse::json(200, response(text + "," + call, true));
  }
  return ScriptedResponse::sse({"data: " + response(text, false) + "\r\n\r\n", "data: " + response(call, true) + "\r\n\r\n"});
}

// Kiro always streams event-stream frames.
ScriptedResponse kiroAnswer(const RecordedRequest&) {
  ScriptedResponse response;
  response.headers.emplace_back("Content-Type", "application/vnd.amazon.eventstream");
  response.chunked = true;
  response.chunks = {
      eventStreamMessage(stringHeader(":event-type", "initial-response") +
                             stringHeader(":content-type", "application/x-amz-json-1.0") + stringHeader(":message-type", "event"),
                         R"({"conversationId":""})"),
      awsEvent("assistantResponseEvent", R"({"content":"Sunny, 18C."})"),
      awsEvent("toolUseEvent", R"({"name":"get_weather","toolUseId":"tooluse_up_1","input":"{\"city\":\"Paris\"}"})"),
      awsEvent("toolUseEvent", R"({"name":"get_weather","toolUseId":"tooluse_up_1","stop":true})"),
      awsEvent("meteringEvent", R"({"unit":"credit","unitPlural":"credits","usage":0.0123})"),
      awsEvent("messageMetadataEvent", R"({"conversationId":"c","tokenUsage":{"uncachedInputTokens":9,"outputTokens":4}})"),
      awsEvent("contextUsageEvent", R"({"contextUsagePercentage":1.25})"),
  };
  return response;
}

TestUpstream::Handler answerOf(Upstream upstream) {
  switch (upstream) {
    case Upstream::Anthropic: return anthropicAnswer;
    case Upstream::Gemini: return geminiAnswer;
    case Upstream::Kiro: return kiroAnswer;
    case Upstream::OpenAi:
    case Upstream::Zhipu:
    case Upstream::Mock:  // answers in-process: no upstream is started for it
      break;
  }
  return openAiAnswer;
}

// ---- what the client may get -------------------------------------------------------------

bool isErrorInDialect(const std::string& body, core::Dialect dialect) {
  const json parsed = core::parseJson(body);
  std::optional<core::TypeMismatch> mismatch;
  core::FieldReader fields(parsed, "", mismatch);
  const json* error = fields.object("error");
  if (error == nullptr) return false;
  core::FieldReader detail(*error, "error", mismatch);
  const bool hasMessage = detail.string("message") != nullptr;
  if (dialect != core::Dialect::Anthropic) return hasMessage && !mismatch;  // Responses errors are OpenAI's
  return fields.stringOr("type") == "error" && detail.string("type") != nullptr && hasMessage && !mismatch;
}

bool isEventStream(const HttpResult& result) {
  const auto type = result.headers.find("content-type");
  return type != result.headers.end() && type->second.rfind("text/event-stream", 0) == 0;
}

bool endsProperly(const std::string& body, core::Dialect dialect) {
  if (dialect == core::Dialect::OpenAiResponses) {  // the last event ends the response
    const auto last = body.rfind("event: ");
    return last != std::string::npos && (body.compare(last, 31, "event: response.completed\ndata:") == 0 ||
                                         body.compare(last, 32, "event: response.incomplete\ndata:") == 0);
  }
  if (dialect == core::Dialect::OpenAi) {
    const std::string done = "data: [DONE]\n\n";
    return body.size() >= done.size() && body.compare(body.size() - done.size(), done.size(), done) == 0;
  }
  return body.find("event: message_stop") != std::string::npos;
}

bool carriesErrorEvent(const std::string& body, core::Dialect dialect) {
  return body.find(dialect == core::Dialect::OpenAi ? "data: {\"error\"" : "event: error") != std::string::npos;
}

// What is wrong with `result` as an answer to a client of `dialect`; empty when nothing is.
std::string problemWith(const HttpResult& result, core::Dialect dialect) {
  if (!result.curlError.empty()) return "the connection failed: " + result.curlError;
  if (result.status >= 400 && result.status < 500) {
    return isErrorInDialect(result.body, dialect) ? "" : "a 4xx whose body is not an error in the client's dialect";
  }
  if (result.status < 200 || result.status >= 300) return "HTTP status " + std::to_string(result.status);
  if (isEventStream(result)) {
    return endsProperly(result.body, dialect) || carriesErrorEvent(result.body, dialect)
               ? ""
               : "a stream that ends neither with its end marker nor with an error event";
  }
  return core::parseJson(result.body).is_object() ? "" : "a 2xx whose body is not a JSON object";
}

// What keeps `result` from being a full success (2xx, no error anywhere); empty when it is one.
std::string failureOf(const HttpResult& result, core::Dialect dialect) {
  if (const std::string problem = problemWith(result, dialect); !problem.empty()) return problem;
  if (result.status >= 300) return "HTTP status " + std::to_string(result.status);
  if (isEventStream(result)) return carriesErrorEvent(result.body, dialect) ? "an error event in the stream" : "";
  std::optional<core::TypeMismatch> ignored;
  return core::FieldReader(core::parseJson(result.body), "", ignored).member("error") != nullptr ? "an error body" : "";
}

std::string shown(const HttpResult& result) {
  constexpr std::size_t kShown = 1500;
  return "HTTP " + std::to_string(result.status) + ": " +
         (result.body.size() > kShown ? result.body.substr(0, kShown) + "..." : result.body);
}

// ---- the test -----------------------------------------------------------------------------

struct SwapCase {
  Fixture fixture;
  Upstream upstream;
  std::size_t stride;  // mutant i is sent when i % stride == offset
  std::size_t offset;
};

class TypeSwap : public ::testing::TestWithParam<SwapCase> {
 protected:
  void SetUp() override {
    // Thousands of access lines would bury the failures; warnings and errors still show.
    logLevel_ = spdlog::default_logger()->level();
    spdlog::default_logger()->set_level(spdlog::level::warn);
    if (GetParam().upstream != Upstream::Mock) upstream_ = std::make_unique<TestUpstream>(answerOf(GetParam().upstream));
    gateway_ = std::make_unique<GatewayHarness>(json{{"providers", {providerBlock()}}}.dump());
  }

  void TearDown() override {
    gateway_.reset();
    upstream_.reset();
    if (!credentials_.empty()) std::remove(credentials_.c_str());
    spdlog::default_logger()->set_level(logLevel_);
  }

  json providerBlock() {
    const Upstream upstream = GetParam().upstream;
    json block{{"name", "p"}, {"type", typeOf(upstream)}, {"models", {"m"}}};
    if (upstream == Upstream::Mock) return block;
    const std::string root = "http://127.0.0.1:" + std::to_string(upstream_->port());
    // One attempt, and a breaker that never opens: a failing mutant must not turn the ones
    // after it into 503s.
    block.update({{"retry", {{"max_attempts", 1}}}, {"breaker", {{"failure_threshold", 1000000}}}});
    switch (upstream) {
      case Upstream::OpenAi: block.update({{"base_url", root + "/v1"}, {"api_key", "sk-openai"}}); break;
      case Upstream::Anthropic: block.update({{"base_url", root}, {"api_key", "sk-ant"}}); break;
      case Upstream::Gemini: block.update({{"base_url", root + "/v1beta"}, {"api_key", "AIza-key"}}); break;
      case Upstream::Zhipu: block.update({{"base_url", root + "/api/paas/v4"}, {"api_key", "kid.ksecret"}}); break;
      case Upstream::Kiro:
        credentials_ = ::testing::TempDir() + "type_swap_kiro_" + std::to_string(::getpid()) + ".json";
        std::ofstream(credentials_) << json{{"accessToken", "kiro-at"}, {"refreshToken", "kiro-rt"}, {"authMethod", "social"},
                                            {"expiresAt", "2099-01-01T00:00:00.000Z"},
                                            {"profileArn", "arn:aws:codewhisperer:us-east-1:1:profile/T"}}.dump();
        block.update({{"base_url", root}, {"credentials", credentials_}, {"social_refresh_url", root + "/refreshToken"},
                      {"model_map", {{"m", "claude-sonnet-4-5"}}}});
        break;
      case Upstream::Mock: break;
    }
    return block;
  }

  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<GatewayHarness> gateway_;
  std::string credentials_;
  spdlog::level::level_enum logLevel_ = spdlog::level::info;
};

TEST_P(TypeSwap, EveryMutantGetsA2xxOrA4xxInTheClientsDialect) {
  const FixtureSpec& fixture = specOf(GetParam().fixture);
  const json document = json::parse(fixture.body);

  // The unmutated request succeeds, streamed and whole: the mutants start from a valid request.
  const HttpResult original = gateway_->post(fixture.path, document.dump());
  ASSERT_EQ(failureOf(original, fixture.dialect), "") << shown(original);
  if (fixture.streams) {
    ASSERT_TRUE(isEventStream(original)) << shown(original);
    json whole = document;
    whole.erase("stream");
    whole.erase("stream_options");
    const HttpResult answer = gateway_->post(fixture.path, whole.dump());
    ASSERT_EQ(failureOf(answer, fixture.dialect), "") << shown(answer);
    ASSERT_FALSE(isEventStream(answer)) << shown(answer);
  }

  // Only the first failures are shown in full; the count says how many there were.
  constexpr std::size_t kShownFailures = 20;
  std::size_t index = 0, sent = 0, failed = 0;
  forEachTypeSwap(document, [&](const json& mutant, const std::string& description) {
    if (index++ % GetParam().stride != GetParam().offset) return;
    ++sent;
    const HttpResult result = gateway_->post(fixture.path, mutant.dump());
    const std::string problem = problemWith(result, fixture.dialect);
    if (problem.empty()) return;
    if (++failed <= kShownFailures) ADD_FAILURE() << description << ": " << problem << "\n" << shown(result);
  });
  EXPECT_EQ(failed, 0u) << failed << " of " << sent << " mutants failed";
  EXPECT_EQ(gateway_->get("/health").status, 200);
}

// The upstreams a client of `dialect` is tried against (the brief of this suite: the mock, the
// same-dialect upstream, and translation to Anthropic, Gemini, Kiro and Zhipu).
std::vector<Upstream> upstreamsFor(core::Dialect dialect) {
  if (dialect == core::Dialect::OpenAi || dialect == core::Dialect::OpenAiResponses) {
    return {Upstream::Mock, Upstream::OpenAi, Upstream::Zhipu, Upstream::Anthropic, Upstream::Gemini, Upstream::Kiro};
  }
  return {Upstream::Mock, Upstream::Anthropic, Upstream::Gemini, Upstream::Kiro, Upstream::Zhipu};
}

// Whether the gateway forwards a body of `dialect` to `upstream` as it came (the fast path);
// Zhipu is OpenAI-compatible, so OpenAI bodies reach it that way, with its range edits.
bool forwardsAsIs(core::Dialect dialect, Upstream upstream) {
  if (dialect == core::Dialect::OpenAiResponses) return false;  // no upstream speaks it yet
  if (dialect == core::Dialect::OpenAi) return upstream == Upstream::OpenAi || upstream == Upstream::Zhipu;
  return upstream == Upstream::Anthropic;
}

// Sampling, to stay well under a minute under ASan: every mutant goes to the mock and to the
// upstreams that take the body as it came (where the gateway's own validation decides), and
// every other mutant to each translating upstream, the offsets alternating along the list so
// that every mutant is translated by at least one of them (the even ones by two). count_tokens
// is translated nowhere: upstreams that cannot count get the gateway's estimate.
std::vector<SwapCase> allCases() {
  std::vector<SwapCase> cases;
  for (const Fixture fixture : {Fixture::OpenAiChat, Fixture::AnthropicMessages, Fixture::CountTokens, Fixture::Responses}) {
    const core::Dialect dialect = specOf(fixture).dialect;
    std::size_t translating = 0;
    for (const Upstream upstream : upstreamsFor(dialect)) {
      if (upstream == Upstream::Mock || forwardsAsIs(dialect, upstream)) {
        cases.push_back({fixture, upstream, 1, 0});
      } else {
        cases.push_back({fixture, upstream, 2, translating++ % 2});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllUpstreams, TypeSwap, ::testing::ValuesIn(allCases()), [](const auto& info) {
  return std::string(specOf(info.param.fixture).name) + "_" + typeOf(info.param.upstream);
});

}  // namespace
}  // namespace llmgate::testing
