// Upstream answers of every wrong shape, straight into every provider's decoder: recorded (and
// a few written) bodies, stream events and Kiro frames, each JSON document mutated at every node
// (tests/common/json_mutations.hpp). A decoder must end in events or in an upstream error
// (Protocol or Upstream, or the error an error event names), never throw and never report an
// internal error; error bodies must keep an HTTP error status whatever their members hold.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/event_stream_writer.hpp"
#include "common/json_mutations.hpp"
#include "fixture_util.hpp"
#include "llmgate/core/json_read.hpp"
#include "provider_test_util.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;

// Only the first failures of a case are shown in full; the count says how many there were.
constexpr std::size_t kShownFailures = 20;

// ---- the mutation helper itself -----------------------------------------------------------

TEST(JsonMutations, EveryNodeTakesEveryOtherShapeAndEveryMemberIsDeleted) {
  const json document = json::parse(R"({"a":[1],"b":{},"c.d":true})");
  std::map<std::string, json> mutants;
  std::vector<std::string> order;
  forEachTypeSwap(document, [&](const json& mutant, const std::string& description) {
    order.push_back(description);
    mutants[description] = mutant;
  });
  // Five nodes ($, a, a[0], b, c.d) of eight other shapes each, and four of them deletable.
  EXPECT_EQ(order.size(), 5u * 8 + 4);
  EXPECT_EQ(mutants.size(), order.size());  // every description is distinct
  EXPECT_EQ(countTypeSwaps(document), order.size());
  EXPECT_EQ(order.front(), "$ -> null");
  EXPECT_EQ(order[8], "a -> null");  // the root's eight, then its first member
  EXPECT_EQ(order.back(), R"(["c.d"] deleted)");
  EXPECT_EQ(mutants.at("$ -> number"), json(7));
  EXPECT_EQ(mutants.at("a -> empty array"), json::parse(R"({"a":[],"b":{},"c.d":true})"));
  EXPECT_EQ(mutants.at("a[0] -> float"), json::parse(R"({"a":[1.5],"b":{},"c.d":true})"));
  EXPECT_EQ(mutants.at("a[0] deleted"), json::parse(R"({"a":[],"b":{},"c.d":true})"));
  EXPECT_EQ(mutants.at("b -> object"), json::parse(R"({"a":[1],"b":{"k":1},"c.d":true})"));
  EXPECT_EQ(mutants.at(R"(["c.d"] -> string)"), json::parse(R"({"a":[1],"b":{},"c.d":"x"})"));
  // A node is never "swapped" to its own shape.
  EXPECT_EQ(mutants.count("a -> array"), 0u);
  EXPECT_EQ(mutants.count("b -> empty object"), 0u);
  EXPECT_EQ(mutants.count("a[0] -> number"), 0u);
  EXPECT_EQ(mutants.count("$ deleted"), 0u);
}

// ---- upstream answers as pieces -----------------------------------------------------------

// One part of an upstream answer: the JSON text a decoder reads and how it travels on the wire
// (the SSE lines around it, an event-stream frame), or bytes that hold no JSON.
struct Piece {
  std::string label;  // the SSE event or Kiro event type, for descriptions
  std::string jsonText;  // empty for bytes without JSON
  std::function<std::string(const std::string& jsonText)> wire;
};

Piece bytesPiece(const std::string& bytes) {
  return Piece{"bytes", {}, [bytes](const std::string&) { return bytes; }};
}

// The answer's bytes, with piece `replaced` carrying `replacement` instead of its own JSON.
std::string wireBytes(const std::vector<Piece>& pieces, std::size_t replaced = std::string::npos,
                      const std::string& replacement = {}) {
  std::string out;
  for (std::size_t i = 0; i < pieces.size(); ++i) out += pieces[i].wire(i == replaced ? replacement : pieces[i].jsonText);
  return out;
}

// Just past the blank line that ends the SSE event starting at `from` (LF or CRLF line ends).
std::size_t eventEnd(const std::string& body, std::size_t from) {
  const std::size_t lf = body.find("\n\n", from);
  const std::size_t crlf = body.find("\r\n\r\n", from);
  if (lf == std::string::npos && crlf == std::string::npos) return body.size();
  return lf != std::string::npos && (crlf == std::string::npos || lf < crlf) ? lf + 2 : crlf + 4;
}

// An SSE body, one piece per event; an event whose (single-line) data is JSON is mutable.
std::vector<Piece> sseEvents(const std::string& body) {
  std::vector<Piece> pieces;
  for (std::size_t from = 0; from < body.size();) {
    const std::size_t end = eventEnd(body, from);
    const std::string event = body.substr(from, end - from);
    from = end;
    std::size_t dataLine = event.rfind("data:", 0) == 0 ? 0 : event.find("\ndata:");
    if (dataLine == std::string::npos) {
      pieces.push_back(bytesPiece(event));
      continue;
    }
    if (event[dataLine] == '\n') ++dataLine;
    std::size_t start = dataLine + 5;
    if (start < event.size() && event[start] == ' ') ++start;
    const std::size_t stop = std::min(event.find('\n', start), event.find('\r', start));
    const std::string payload = event.substr(start, stop == std::string::npos ? std::string::npos : stop - start);
    if (core::parseJson(payload).is_discarded()) {
      pieces.push_back(bytesPiece(event));
      continue;
    }
    std::string label = "data";
    if (event.rfind("event:", 0) == 0) {
      label = event.substr(6, event.find_first_of("\r\n") - 6);
      label.erase(0, label.find_first_not_of(' '));
    }
    const std::string before = event.substr(0, start);
    const std::string after = stop == std::string::npos ? std::string() : event.substr(stop);
    pieces.push_back(Piece{label, payload, [before, after](const std::string& text) { return before + text + after; }});
  }
  return pieces;
}

std::uint32_t readU32(const std::string& bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

// The value of string header `name` in encoded event-stream headers (as stringHeader writes them).
std::string headerValue(const std::string& headers, const std::string& name) {
  const std::string key = std::string(1, static_cast<char>(name.size())) + name + '\x07';
  const std::size_t at = headers.find(key);
  if (at == std::string::npos) return {};
  const std::size_t length = (static_cast<unsigned char>(headers[at + key.size()]) << 8) |
                             static_cast<unsigned char>(headers[at + key.size() + 1]);
  return headers.substr(at + key.size() + 2, length);
}

// An AWS event stream, one piece per frame; a frame whose payload is JSON is mutable, and is
// framed again (lengths and CRCs recomputed) around its mutant.
std::vector<Piece> eventStreamFrames(const std::string& bytes) {
  std::vector<Piece> pieces;
  for (std::size_t at = 0; at + 16 <= bytes.size();) {
    const std::uint32_t total = readU32(bytes, at);
    const std::uint32_t headerBytes = readU32(bytes, at + 4);
    const std::string headers = bytes.substr(at + 12, headerBytes);
    const std::string payload = bytes.substr(at + 12 + headerBytes, total - 16 - headerBytes);
    if (core::parseJson(payload).is_discarded()) {
      pieces.push_back(bytesPiece(bytes.substr(at, total)));
    } else {
      std::string label = headerValue(headers, ":event-type");
      if (label.empty()) label = headerValue(headers, ":exception-type");
      pieces.push_back(Piece{label, payload, [headers](const std::string& text) { return eventStreamMessage(headers, text); }});
    }
    at += total;
  }
  return pieces;
}

enum class Framing { WholeJson, Sse, EventStream };

std::vector<Piece> piecesOf(const std::string& bytes, Framing framing) {
  switch (framing) {
    case Framing::Sse: return sseEvents(bytes);
    case Framing::EventStream: return eventStreamFrames(bytes);
    case Framing::WholeJson: break;
  }
  return {Piece{"body", bytes, [](const std::string& text) { return text; }}};
}

// The value's members and elements with every scalar replaced by its type name.
json skeleton(const json& value) {
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, member] : value.items()) out[key] = skeleton(member);
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& element : value) out.push_back(skeleton(element));
    return out;
  }
  return value.type_name();
}

// Runs of events of the same kind and shape (same framing, same members of the same types) take
// the same path through a decoder: each run is cut to its first event, so that the length of a
// capture does not multiply the cost of its mutants (a 72-event GLM stream keeps 4 events).
std::vector<Piece> condensed(const std::vector<Piece>& pieces) {
  std::vector<Piece> out;
  std::string previous;
  for (const Piece& piece : pieces) {
    if (!piece.jsonText.empty()) {
      const std::string signature = piece.wire("") + skeleton(core::parseJson(piece.jsonText)).dump();
      if (signature == previous) continue;
      previous = signature;
    }
    out.push_back(piece);
  }
  return out;
}

// A JSON Lines capture as the SSE stream it was cut from (`data: ` framing stripped by its source).
std::string jsonLinesAsSse(const std::string& lines, const std::string& terminator, const std::string& trailer) {
  std::istringstream in(lines);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out += "data: " + line + terminator;
  }
  return out + trailer;
}

// ---- answers written here where no capture shows the shape ---------------------------------

constexpr const char* kOpenAiWhole = R"({"id":"chatcmpl-AB12cd34","object":"chat.completion","created":1727346168,
  "model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd",
  "choices":[{"index":0,"message":{"role":"assistant","content":"Let me check the weather.","refusal":null,
    "tool_calls":[{"id":"call_4XzlGBLtUe9dy3GVNV4jhq7h","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
    "logprobs":null,"finish_reason":"tool_calls"}],
  "usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99,"prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},
    "completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}})";

constexpr const char* kOpenAiStreamError =
    "data: {\"id\":\"chatcmpl-err\",\"object\":\"chat.completion.chunk\",\"created\":1727346168,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    "data: {\"error\":{\"message\":\"The server had an error while processing your request. Sorry about that!\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";

constexpr const char* kAnthropicWhole = R"({"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant",
  "model":"claude-sonnet-4-5-20250929",
  "content":[{"type":"thinking","thinking":"The user wants the weather in Paris.","signature":"EqQBCkYIBxgCKkBhc2lnbmF0dXJl"},
             {"type":"text","text":"Let me check."},
             {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"city":"Paris","unit":"celsius"}}],
  "stop_reason":"tool_use","stop_sequence":null,
  "usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":128,"output_tokens":91,"service_tier":"standard"}})";

constexpr const char* kAnthropicStreamOverloaded =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01ovl\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
    "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";

constexpr const char* kGeminiWholeFunctionCall = R"({"candidates":[{"content":{"role":"model","parts":[
    {"text":"The user wants the weather; I will call the tool.","thought":true},
    {"functionCall":{"name":"get_weather","args":{"city":"Paris","unit":"celsius"}},"thoughtSignature":"CiQBsig"}]},
  "finishReason":"STOP","index":0}],
  "usageMetadata":{"promptTokenCount":52,"candidatesTokenCount":18,"totalTokenCount":95,"thoughtsTokenCount":25,
    "promptTokensDetails":[{"modality":"TEXT","tokenCount":52}]},
  "modelVersion":"gemini-2.5-flash","responseId":"qpc2afWVFJK4vr0Pq6WiyAU"})";

constexpr const char* kGeminiStreamQuota =
    "data: {\"error\":{\"code\":429,\"message\":\"Resource has been exhausted (e.g. check quota).\",\"status\":\"RESOURCE_EXHAUSTED\"}}\r\n\r\n";

constexpr const char* kZhipuStreamError =
    "data: {\"id\":\"2025110715445604284d0099e04d74\",\"object\":\"\",\"created\":1762501496,\"model\":\"ZhipuAI/GLM-4.6\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"reasoning_content\":\"\\n\"},\"finish_reason\":null}]}\n\n"
    "data: {\"error\":{\"code\":\"1301\",\"message\":\"系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您的配合。\"}}\n\n";

// Kiro: a tool call in fragments, then one given whole, metering, token usage and context use.
std::string kiroToolCallFrames() {
  return eventStreamMessage(stringHeader(":event-type", "initial-response") +
                                stringHeader(":content-type", "application/x-amz-json-1.0") + stringHeader(":message-type", "event"),
                            R"({"conversationId":"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"})") +
         awsEvent("assistantResponseEvent", R"({"content":"Let me check the weather.","modelId":"claude-sonnet-4.5"})") +
         awsEvent("toolUseEvent", R"({"name":"get_weather","toolUseId":"tooluse_abc123","input":"{\"city\":"})") +
         awsEvent("toolUseEvent", R"({"name":"get_weather","toolUseId":"tooluse_abc123","input":"\"Paris\"}"})") +
         awsEvent("toolUseEvent", R"({"name":"get_weather","toolUseId":"tooluse_abc123","stop":true})") +
         awsEvent("toolUseEvent", R"({"name":"get_time","toolUseId":"tooluse_def456","input":{"timezone":"Europe/Paris"},"stop":true})") +
         awsEvent("meteringEvent", R"({"unit":"credit","unitPlural":"credits","usage":0.0123})") +
         awsEvent("messageMetadataEvent",
                  R"({"conversationId":"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d","tokenUsage":{"uncachedInputTokens":120,"cacheReadInputTokens":3,"cacheWriteInputTokens":0,"outputTokens":42,"totalTokens":165}})") +
         awsEvent("contextUsageEvent", R"({"contextUsagePercentage":1.25})");
}

std::string kiroThrottledFrames() {
  return awsEvent("assistantResponseEvent", R"({"content":"Hel"})") +
         awsException("ThrottlingException", R"({"message":"Too many requests, please wait before trying again."})");
}

// ---- decoders -----------------------------------------------------------------------------

struct AnswerCase {
  const char* name;
  const char* provider;  // provider type
  bool stream;
  Framing framing;
  std::function<std::string()> bytes;
  std::optional<core::ErrorKind> failsWith;  // the error the unmutated answer ends with, for error events
};

// A provider as the gateway builds it from its config block. Kiro's reads a credentials file,
// written for the test and removed after it.
class ProviderUnderTest {
 public:
  explicit ProviderUnderTest(const std::string& type) {
    json block{{"name", "p"}, {"type", type}};
    if (type == "kiro") {
      credentials_ = ::testing::TempDir() + "upstream_type_swap_kiro_" + std::to_string(::getpid()) + ".json";
      std::ofstream(credentials_) << R"({"accessToken":"kiro-at","refreshToken":"kiro-rt"})";
      block["credentials"] = credentials_;
    }
    provider_ = makeProvider(block);
  }
  ~ProviderUnderTest() {
    if (!credentials_.empty()) std::remove(credentials_.c_str());
  }
  ProviderUnderTest(const ProviderUnderTest&) = delete;
  ProviderUnderTest& operator=(const ProviderUnderTest&) = delete;

  const providers::Provider& operator*() const { return *provider_; }
  const providers::Provider* operator->() const { return provider_.get(); }

 private:
  std::string credentials_;
  std::unique_ptr<providers::Provider> provider_;
};

// What is wrong with the decoder's outcome for `bytes`; empty when nothing is.
std::string problemDecoding(const providers::Provider& provider, const AnswerCase& answer, const std::string& bytes) {
  const Decoded decoded = decodeWith(provider, answer.stream, bytes);
  if (!decoded.error) return decoded.events.empty() ? "neither events nor an error" : "";
  const core::ErrorKind kind = decoded.error->kind;
  if (kind == core::ErrorKind::Protocol || kind == core::ErrorKind::Upstream || kind == answer.failsWith) return "";
  return "an error of kind " + std::to_string(static_cast<int>(kind)) + " (" + decoded.error->code + "): " + decoded.error->message;
}

class UpstreamTypeSwap : public ::testing::TestWithParam<AnswerCase> {};

TEST_P(UpstreamTypeSwap, DecodersEndInEventsOrAnUpstreamError) {
  const AnswerCase& answer = GetParam();
  const ProviderUnderTest provider(answer.provider);
  const std::string bytes = answer.bytes();
  const std::vector<Piece> all = piecesOf(bytes, answer.framing);
  ASSERT_EQ(wireBytes(all), bytes);  // cut into pieces and put back together, nothing changes
  const std::vector<Piece> pieces = condensed(all);

  // The answer as recorded decodes as it should: the mutants start from a meaningful answer.
  const Decoded original = decodeWith(*provider, answer.stream, wireBytes(pieces));
  if (answer.failsWith) {
    ASSERT_TRUE(original.error.has_value());
    ASSERT_EQ(original.error->kind, *answer.failsWith) << original.error->message;
  } else {
    ASSERT_FALSE(original.error) << original.error->message;
    ASSERT_FALSE(original.events.empty());
  }

  std::size_t mutants = 0, failed = 0;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i].jsonText.empty()) continue;
    forEachTypeSwap(core::parseJson(pieces[i].jsonText), [&](const json& mutant, const std::string& change) {
      ++mutants;
      const std::string description = "event " + std::to_string(i) + " (" + pieces[i].label + "): " + change;
      std::string problem;
      EXPECT_NO_THROW(problem = problemDecoding(*provider, answer, wireBytes(pieces, i, mutant.dump()))) << description;
      if (!problem.empty() && ++failed <= kShownFailures) ADD_FAILURE() << description << ": " << problem;
    });
  }
  EXPECT_EQ(failed, 0u) << failed << " of " << mutants << " mutants failed";
}

const AnswerCase kAnswers[] = {
    {"openai_whole", "openai", false, Framing::WholeJson, [] { return std::string(kOpenAiWhole); }, std::nullopt},
    {"openai_stream_text_stop", "openai", true, Framing::Sse, [] { return readFixture("openai/stream_text_stop.sse"); }, std::nullopt},
    {"openai_stream_tool_call_single", "openai", true, Framing::Sse, [] { return readFixture("openai/stream_tool_call_single.sse"); }, std::nullopt},
    {"openai_stream_tool_calls_parallel", "openai", true, Framing::Sse, [] { return readFixture("openai/stream_tool_calls_parallel.sse"); }, std::nullopt},
    {"openai_stream_finish_length", "openai", true, Framing::Sse, [] { return readFixture("openai/stream_finish_length.sse"); }, std::nullopt},
    {"openai_stream_n3_choices", "openai", true, Framing::Sse, [] { return readFixture("openai/stream_n3_choices.sse"); }, std::nullopt},
    {"openai_stream_refusal", "openai", true, Framing::Sse, [] { return readFixture("openai/stream_refusal.sse"); }, std::nullopt},
    {"openai_stream_error", "openai", true, Framing::Sse, [] { return std::string(kOpenAiStreamError); }, core::ErrorKind::Upstream},

    {"anthropic_whole", "anthropic", false, Framing::WholeJson, [] { return std::string(kAnthropicWhole); }, std::nullopt},
    {"anthropic_stream_text_basic", "anthropic", true, Framing::Sse, [] { return readFixture("anthropic/stream_text_basic.sse"); }, std::nullopt},
    {"anthropic_stream_tool_use", "anthropic", true, Framing::Sse, [] { return readFixture("anthropic/stream_tool_use.sse"); }, std::nullopt},
    {"anthropic_stream_tool_use_max_tokens_padded", "anthropic", true, Framing::Sse,
     [] { return readFixture("anthropic/stream_tool_use_max_tokens_padded.sse"); }, std::nullopt},
    {"anthropic_stream_thinking_signature_refusal", "anthropic", true, Framing::Sse,
     [] { return readFixture("anthropic/stream_thinking_signature_refusal_SYNTHETIC.sse"); }, std::nullopt},
    {"anthropic_stream_overloaded", "anthropic", true, Framing::Sse, [] { return std::string(kAnthropicStreamOverloaded); },
     core::ErrorKind::Unavailable},

    {"gemini_whole_text", "gemini", false, Framing::WholeJson, [] { return readFixture("gemini/generate_content_text.json"); }, std::nullopt},
    {"gemini_whole_function_call", "gemini", false, Framing::WholeJson, [] { return std::string(kGeminiWholeFunctionCall); }, std::nullopt},
    {"gemini_stream_text", "gemini", true, Framing::Sse, [] { return readFixture("gemini/stream_text_crlf.sse"); }, std::nullopt},
    {"gemini_stream_function_call", "gemini", true, Framing::Sse, [] { return readFixture("gemini/stream_function_call_crlf.sse"); }, std::nullopt},
    {"gemini_stream_code_assist_chunks", "gemini", true, Framing::Sse,
     [] { return jsonLinesAsSse(readFixture("gemini/code_assist_unwrapped_chunks.jsonl"), "\r\n\r\n", ""); }, std::nullopt},
    {"gemini_stream_quota", "gemini", true, Framing::Sse, [] { return std::string(kGeminiStreamQuota); }, core::ErrorKind::RateLimited},

    {"zhipu_whole", "zhipu", false, Framing::WholeJson, [] { return readFixture("glm/glm46_openai_compat_nonstream.json"); }, std::nullopt},
    {"zhipu_stream", "zhipu", true, Framing::Sse,
     [] { return jsonLinesAsSse(readFixture("glm/glm46_openai_compat_stream_chunks.jsonl"), "\n\n", "data: [DONE]\n\n"); }, std::nullopt},
    {"zhipu_stream_error", "zhipu", true, Framing::Sse, [] { return std::string(kZhipuStreamError); }, core::ErrorKind::Upstream},

    {"kiro_captured_text", "kiro", true, Framing::EventStream, [] { return readFixture("kiro/q_cli_capture06_first3frames.bin"); },
     std::nullopt},
    {"kiro_tool_calls", "kiro", true, Framing::EventStream, kiroToolCallFrames, std::nullopt},
    {"kiro_throttled", "kiro", true, Framing::EventStream, kiroThrottledFrames, core::ErrorKind::RateLimited},
};

INSTANTIATE_TEST_SUITE_P(EveryProvider, UpstreamTypeSwap, ::testing::ValuesIn(kAnswers),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- error bodies -------------------------------------------------------------------------

struct ErrorBodyCase {
  const char* name;
  const char* provider;
  int status;
  const char* body;     // in the provider's real error shape
  const char* message;  // what the provider reads from it
};

class UpstreamErrorTypeSwap : public ::testing::TestWithParam<ErrorBodyCase> {};

TEST_P(UpstreamErrorTypeSwap, ErrorBodiesKeepAnHttpErrorStatus) {
  const ErrorBodyCase& error = GetParam();
  const ProviderUnderTest provider(error.provider);
  const core::GatewayError original = provider->decodeError(error.status, error.body);
  ASSERT_EQ(original.status, error.status);
  ASSERT_EQ(original.message, error.message);  // the body is one the provider reads

  std::size_t mutants = 0, failed = 0;
  forEachTypeSwap(json::parse(error.body), [&](const json& mutant, const std::string& change) {
    ++mutants;
    core::GatewayError decoded;
    EXPECT_NO_THROW(decoded = provider->decodeError(error.status, mutant.dump())) << change;
    if ((decoded.status < 400 || decoded.status > 599) && ++failed <= kShownFailures) {
      ADD_FAILURE() << change << ": status " << decoded.status << " (" << decoded.code << "): " << decoded.message;
    }
  });
  EXPECT_EQ(failed, 0u) << failed << " of " << mutants << " mutants failed";
}

const ErrorBodyCase kErrorBodies[] = {
    {"openai_400", "openai", 400,
     R"({"error":{"message":"Invalid 'messages[1].content': string too long.","type":"invalid_request_error","param":"messages[1].content","code":"string_above_max_length"}})",
     "Invalid 'messages[1].content': string too long."},
    {"openai_429", "openai", 429,
     R"({"error":{"message":"Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29913, Requested 1135.","type":"tokens","param":null,"code":"rate_limit_exceeded"}})",
     "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29913, Requested 1135."},
    {"openai_500", "openai", 500,
     R"({"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}})",
     "The server had an error while processing your request. Sorry about that!"},
    {"openai_529", "openai", 529,
     R"({"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error","param":null,"code":null}})",
     "The engine is currently overloaded, please try again later"},

    {"anthropic_400", "anthropic", 400,
     R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"})",
     "max_tokens: Field required"},
    {"anthropic_429", "anthropic", 429,
     R"({"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 50,000 input tokens per minute."},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fz"})",
     "This request would exceed the rate limit for your organization of 50,000 input tokens per minute."},
    {"anthropic_500", "anthropic", 500,
     R"({"type":"error","error":{"type":"api_error","message":"Internal server error"},"request_id":"req_011CSHoEeqs5C35K2UUqR7G0"})",
     "Internal server error"},
    {"anthropic_529", "anthropic", 529,
     R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5C35K2UUqR7G1"})",
     "Overloaded"},

    {"gemini_400", "gemini", 400,
     R"({"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified","status":"INVALID_ARGUMENT"}})",
     "* GenerateContentRequest.contents: contents is not specified"},
    {"gemini_429", "gemini", 429,
     R"({"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED",
        "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests",
          "quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.5-flash"},"quotaValue":"10"}]},
          {"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more about Gemini API quotas","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},
          {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"45.837906927s"}]}})",
     "You exceeded your current quota, please check your plan and billing details."},
    // streamGenerateContent wraps its error in an array.
    {"gemini_500", "gemini", 500,
     R"([{"error":{"code":500,"message":"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status":"INTERNAL"}}])",
     "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"},
    {"gemini_529", "gemini", 529,
     R"({"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}})",
     "The model is overloaded. Please try again later."},

    {"zhipu_400", "zhipu", 400, R"({"error":{"code":"1214","message":"messages 参数非法。请检查文档。"}})", "messages 参数非法。请检查文档。"},
    {"zhipu_429", "zhipu", 429, R"({"error":{"code":"1302","message":"您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"}})",
     "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"},
    {"zhipu_500", "zhipu", 500, R"({"error":{"code":"500","message":"Internal Error"}})", "Internal Error"},
    {"zhipu_529", "zhipu", 529, R"({"error":{"code":"1305","message":"当前API请求过多，请稍后重试。"}})", "当前API请求过多，请稍后重试。"},

    {"kiro_400", "kiro", 400, R"({"message":"Improperly formed request.","reason":null})", "Improperly formed request."},
    {"kiro_429", "kiro", 429, R"({"__type":"com.amazon.aws.codewhisperer#ThrottlingException","message":"Rate exceeded"})", "Rate exceeded"},
    {"kiro_500", "kiro", 500,
     R"({"__type":"com.amazon.aws.codewhisperer#InternalServerException","message":"Encountered an unexpected error when processing the request, please try again."})",
     "Encountered an unexpected error when processing the request, please try again."},
    {"kiro_529", "kiro", 529,
     R"({"__type":"com.amazon.aws.codewhisperer#ServiceUnavailableException","message":"The service is unavailable, please try again later."})",
     "The service is unavailable, please try again later."},
};

INSTANTIATE_TEST_SUITE_P(EveryProvider, UpstreamErrorTypeSwap, ::testing::ValuesIn(kErrorBodies),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace llmgate::testing
