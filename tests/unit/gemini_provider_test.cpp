#include "providers/gemini/gemini_codec.hpp"

#include <gtest/gtest.h>

#include "fixture_util.hpp"
#include "provider_test_util.hpp"

namespace llmgate::providers::gemini {
namespace {

using nlohmann::json;
using testing::decodeWith;
using testing::encodeWith;
using testing::makeProvider;

std::unique_ptr<Provider> makeGemini() {
  return makeProvider({{"name", "g"}, {"type", "gemini"}, {"api_key", "AIza-test"}, {"base_url", "http://127.0.0.1:9/v1beta"}});
}

TEST(GeminiProvider, EncodesAConversationWithToolsSignaturesImagesAndSystem) {
  // An Anthropic client's second turn: the model called a tool (with a signed thought), the user
  // answers with its result and a picture.
  const auto request = testing::anthropicRequest(R"({
    "model":"gemini-2.5-flash","max_tokens":256,"system":"You are terse.","temperature":0.2,"top_k":40,
    "stop_sequences":["END"],"thinking":{"type":"enabled","budget_tokens":1024},
    "tools":[{"name":"get_weather","description":"Weather by city","input_schema":{"$schema":"http://json-schema.org/draft-07/schema#",
      "type":"object","additionalProperties":false,"properties":{"city":{"type":"string"},"unit":{"type":["string","null"],"enum":["C","F"]}},"required":["city"]}}],
    "tool_choice":{"type":"tool","name":"get_weather"},
    "messages":[
      {"role":"user","content":"Weather in Paris?"},
      {"role":"assistant","content":[{"type":"thinking","thinking":"need the tool","signature":"CiQBsig"},
                                     {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18C"},
                                {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},
                                {"type":"text","text":"And this?"}]}]})");
  auto provider = makeGemini();
  const auto upstream = encodeWith(*provider, request, "gemini-2.5-flash");
  EXPECT_EQ(upstream.url, "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:generateContent");
  EXPECT_EQ(testing::headerOf(upstream, "x-goog-api-key"), "AIza-test");
  const json expected = json::parse(R"({
    "systemInstruction":{"parts":[{"text":"You are terse."}]},
    "contents":[
      {"role":"user","parts":[{"text":"Weather in Paris?"}]},
      {"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"CiQBsig"}]},
      {"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"18C"}}},
                              {"inlineData":{"mimeType":"image/png","data":"iVBORw0K"}},
                              {"text":"And this?"}]}],
    "generationConfig":{"temperature":0.2,"topK":40,"maxOutputTokens":256,"stopSequences":["END"],
                        "thinkingConfig":{"includeThoughts":true,"thinkingBudget":1024}},
    "tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather by city",
      "parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"},"unit":{"type":"STRING","nullable":true,"enum":["C","F"]}},"required":["city"]}}]}],
    "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}})");
  EXPECT_EQ(json::parse(upstream.body), expected) << json::parse(upstream.body).dump(2);
}

TEST(GeminiProvider, OpenAiClientsGetJsonModeStreamingUrlAndMergedTurns) {
  const auto request = testing::openAiRequest(R"({
    "model":"g","stream":true,"n":2,"seed":7,"top_p":0.5,
    "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"type":"integer","exclusiveMinimum":0}}}}},
    "tools":[{"type":"function","function":{"name":"now","parameters":{"type":"object","properties":{}}}}],
    "tool_choice":"required",
    "messages":[{"role":"system","content":"S1"},{"role":"developer","content":"S2"},
      {"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://e.x/cat.webp?x=1"}}]},
      {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"now","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"c1","content":"{\"time\":\"noon\"}"},
      {"role":"user","content":"thanks"}]})");
  const auto upstream = encodeWith(*makeGemini(), request, "models/gemini-2.5-pro");
  EXPECT_EQ(upstream.url, "http://127.0.0.1:9/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
  const json body = json::parse(upstream.body);
  EXPECT_EQ(body["systemInstruction"]["parts"][0]["text"], "S1\n\nS2");
  ASSERT_EQ(body["contents"].size(), 3u);  // the tool result and "thanks" share one user turn
  EXPECT_EQ(body["contents"][0]["parts"][1], json::parse(R"({"fileData":{"mimeType":"image/webp","fileUri":"https://e.x/cat.webp?x=1"}})"));
  EXPECT_EQ(body["contents"][1]["parts"][0]["functionCall"], json::parse(R"({"name":"now","args":{}})"));
  EXPECT_EQ(body["contents"][2]["parts"][0]["functionResponse"], json::parse(R"({"name":"now","response":{"time":"noon"}})"));
  EXPECT_EQ(body["contents"][2]["parts"][1]["text"], "thanks");
  EXPECT_EQ(body["generationConfig"], json::parse(R"({"topP":0.5,"candidateCount":2,"seed":7,"responseMimeType":"application/json",
                                                     "responseSchema":{"type":"OBJECT","properties":{"a":{"type":"INTEGER"}}}})"));
  // A function without arguments has no parameters (Gemini rejects an empty OBJECT).
  EXPECT_EQ(body["tools"][0]["functionDeclarations"][0], json::parse(R"({"name":"now"})"));
  EXPECT_EQ(body["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
}

TEST(GeminiProvider, ToolResultWithoutItsCallIsA400) {
  const auto request = testing::openAiRequest(R"({"model":"g","messages":[{"role":"user","content":"x"},
      {"role":"tool","tool_call_id":"ghost","content":"1"}]})");
  auto encoded = makeGemini()->encodeRequest(request, "g", {});
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.error().status, 400);
  EXPECT_EQ(encoded.error().param, "messages");
}

TEST(GeminiProvider, AClientChosenModelNameStaysOnePathSegment) {
  // "gemini/<anything>" reaches the URL: it may not climb the path or add a method or query.
  const auto request = testing::openAiRequest(R"({"model":"g","messages":[{"role":"user","content":"x"}]})");
  auto encoded = makeGemini()->encodeRequest(request, "../../x:streamGenerateContent?alt=sse#\r\nInjected: 1", {});
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(encoded.value().url,
            "http://127.0.0.1:9/v1beta/models/..%2F..%2Fx%3AstreamGenerateContent%3Falt%3Dsse%23%0D%0AInjected%3A%201:generateContent");
}

TEST(GeminiProvider, ListsTheModelsThatGenerateContent) {
  auto gemini = makeGemini();
  ASSERT_TRUE(gemini->modelListRequest());
  EXPECT_EQ(gemini->modelListRequest()->url, "http://127.0.0.1:9/v1beta/models?pageSize=1000");
  EXPECT_EQ(gemini->decodeModelList(R"({"models":[
      {"name":"models/gemini-2.5-flash","supportedGenerationMethods":["generateContent","countTokens"]},
      {"name":"models/text-embedding-004","supportedGenerationMethods":["embedContent"]},
      {"name":"models/gemini-3-pro","supportedGenerationMethods":"generateContent"},
      {"name":7,"supportedGenerationMethods":["generateContent"]}]})"),
            std::vector<std::string>{"gemini-2.5-flash"});
  EXPECT_TRUE(gemini->decodeModelList("not json").empty());
}

TEST(GeminiProvider, DecodesTheCapturedGenerateContentAnswer) {
  auto decoded = decodeWith(*makeGemini(), false, testing::readFixture("gemini/generate_content_text.json"));
  ASSERT_FALSE(decoded.error) << decoded.error->message;
  EXPECT_EQ(decoded.response.id, "FugfaZasF6ra2roP_9i9KQ");
  EXPECT_EQ(decoded.response.model, "gemini-2.5-flash");
  ASSERT_EQ(decoded.response.choices.size(), 1u);
  EXPECT_EQ(decoded.response.choices[0].text, "Hello!");
  EXPECT_EQ(decoded.response.choices[0].finish, core::FinishReason::Stop);
  EXPECT_EQ(decoded.response.usage.inputTokens, 3);
  EXPECT_EQ(decoded.response.usage.outputTokens, 2 + 17);  // thoughts count as output, as OpenAI counts reasoning
  EXPECT_EQ(decoded.response.usage.reasoningTokens, 17);
}

struct StreamCapture {
  const char* file;
  const char* text;
  const char* toolName;
  const char* toolArguments;
  core::FinishReason finish;
  std::int64_t inputTokens;
  std::int64_t outputTokens;
};

class GeminiStreamCapture : public ::testing::TestWithParam<StreamCapture> {};

TEST_P(GeminiStreamCapture, DecodesTheSameAtEverySplitPoint) {
  const auto& capture = GetParam();
  const std::string body = testing::readFixture(std::string("gemini/") + capture.file);
  ASSERT_NE(body.find("\r\n\r\n"), std::string::npos);  // the capture keeps Google's CRLF framing
  auto provider = makeGemini();
  const auto whole = decodeWith(*provider, true, body);
  ASSERT_FALSE(whole.error) << whole.error->message;
  ASSERT_EQ(whole.response.choices.size(), 1u);
  const auto& choice = whole.response.choices[0];
  EXPECT_EQ(choice.text, capture.text);
  EXPECT_EQ(choice.finish, capture.finish);
  EXPECT_EQ(whole.response.usage.inputTokens, capture.inputTokens);
  EXPECT_EQ(whole.response.usage.outputTokens, capture.outputTokens);
  if (capture.toolName != nullptr) {
    ASSERT_EQ(choice.toolCalls.size(), 1u);
    EXPECT_EQ(choice.toolCalls[0].name, capture.toolName);
    EXPECT_EQ(json::parse(choice.toolCalls[0].arguments), json::parse(capture.toolArguments));
    EXPECT_EQ(choice.toolCalls[0].id.rfind("call_", 0), 0u);
    EXPECT_EQ(choice.thinkingSignature.rfind("CikB", 0), 0u);  // kept for the next turn
  }
  for (std::size_t cut = 1; cut < body.size(); ++cut) {
    const auto split = decodeWith(*provider, true, body, {cut});
    ASSERT_FALSE(split.error) << cut;
    ASSERT_EQ(split.events.size(), whole.events.size()) << cut;
    ASSERT_EQ(split.response.choices[0].text, choice.text) << cut;
    ASSERT_EQ(split.response.choices[0].toolCalls.size(), choice.toolCalls.size()) << cut;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Captures, GeminiStreamCapture,
    ::testing::Values(StreamCapture{"stream_text_crlf.sse", "1, 2, 3", nullptr, nullptr, core::FinishReason::Stop, 8, 7 + 23},
                      StreamCapture{"stream_function_call_crlf.sse", "", "getWeather", R"({"location":"Tokyo"})",
                                    core::FinishReason::ToolCalls, 83, 14 + 104}));

TEST(GeminiProvider, StreamsTextAsItArrivesAndSeesCutStreams) {
  auto provider = makeGemini();
  const std::string first = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]},\"index\":0}],"
                            "\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":1},\"responseId\":\"r1\"}\r\n\r\n";
  const std::string last = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"}]},\"finishReason\":\"MAX_TOKENS\",\"index\":0}],"
                           "\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":2},\"responseId\":\"r1\"}\r\n\r\n";
  auto decoder = provider->makeDecoder(core::ChatRequest{.stream = true});
  std::vector<core::ChatEvent> events;
  ASSERT_FALSE(decoder->feed(first, events));
  ASSERT_EQ(events.size(), 2u);  // start + the first text, before the stream goes on
  EXPECT_EQ(events[1].text, "Hel");
  const auto complete = decodeWith(*provider, true, first + last);
  ASSERT_FALSE(complete.error);
  EXPECT_EQ(complete.response.choices[0].text, "Hello");
  EXPECT_EQ(complete.response.choices[0].finish, core::FinishReason::Length);
  EXPECT_EQ(complete.response.usage.outputTokens, 2);  // cumulative usage: the last one counts
  const auto cut = decodeWith(*provider, true, first);
  ASSERT_TRUE(cut.error);
  EXPECT_EQ(cut.error->code, "upstream_disconnected");
  EXPECT_TRUE(decodeWith(*provider, true, "").error);
}

TEST(GeminiProvider, SafetyBlocksBecomeContentFilter) {
  auto provider = makeGemini();
  const auto blocked = decodeWith(*provider, false, R"({"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5}})");
  ASSERT_FALSE(blocked.error);
  EXPECT_EQ(blocked.response.choices[0].finish, core::FinishReason::ContentFilter);
  const auto stopped = decodeWith(*provider, true,
                                  "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Once\"}]},\"finishReason\":\"SAFETY\",\"index\":0}]}\r\n\r\n");
  ASSERT_FALSE(stopped.error);
  EXPECT_EQ(stopped.response.choices[0].finish, core::FinishReason::ContentFilter);
}

TEST(GeminiProvider, ErrorsCarryStatusMessageAndRetryInfoDelay) {
  auto provider = makeGemini();
  const auto limited = provider->decodeError(429, R"({"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).",
      "status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"45.837906927s"}]}})");
  EXPECT_EQ(limited.kind, core::ErrorKind::RateLimited);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.code, "resource_exhausted");
  EXPECT_EQ(limited.message, "Resource has been exhausted (e.g. check quota).");
  EXPECT_EQ(limited.retryAfter, "46");
  // streamGenerateContent may wrap the error in an array.
  const auto wrapped = provider->decodeError(400, R"([{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}])");
  EXPECT_EQ(wrapped.kind, core::ErrorKind::InvalidRequest);
  EXPECT_EQ(wrapped.message, "API key not valid. Please pass a valid API key.");
  EXPECT_EQ(provider->decodeError(503, "<html>").status, 503);
  // An error object inside the stream ends it with that error.
  const auto inStream = decodeWith(*provider, true, "data: {\"error\":{\"code\":500,\"message\":\"boom\",\"status\":\"INTERNAL\"}}\r\n\r\n");
  ASSERT_TRUE(inStream.error);
  EXPECT_EQ(inStream.error->message, "boom");
}

TEST(GeminiProvider, CleanSchemaKeepsOnlyWhatGeminiAccepts) {
  const json cleaned = cleanSchema(json::parse(R"({"type":"object","title":"T","additionalProperties":false,"$defs":{},
      "properties":{"tags":{"type":"array","items":{"type":"string","format":"uri","examples":["x"]},"minItems":1},
                    "n":{"const":3},"mode":{"anyOf":[{"type":"string"},{"type":"null"}]}}})"));
  EXPECT_EQ(cleaned, json::parse(R"({"type":"OBJECT","title":"T","properties":{
      "tags":{"type":"ARRAY","items":{"type":"STRING","format":"uri"},"minItems":1},
      "n":{"enum":["3"],"type":"STRING"},"mode":{"anyOf":[{"type":"STRING"},{"type":"NULL"}]}}})"));
}

}  // namespace
}  // namespace llmgate::providers::gemini
