#include "providers/kiro/kiro_provider.hpp"

#include <fstream>

#include <gtest/gtest.h>

#include "common/event_stream_writer.hpp"
#include "fixture_util.hpp"
#include "provider_test_util.hpp"
#include "providers/kiro/kiro_request.hpp"
#include "providers/kiro/kiro_stream.hpp"

namespace llmgate::providers::kiro {
namespace {

using nlohmann::json;
using testing::awsEvent;
using testing::awsException;

json encode(const core::ChatRequest& request) {
  auto body = kiro::encodeRequest(request, "claude-sonnet-4.5");
  EXPECT_TRUE(body.ok()) << (body.ok() ? "" : body.error().message);
  return body.ok() ? body.value() : json();
}

TEST(KiroRequest, TextOnlyWithSystemPrompt) {
  const json body = encode(testing::openAiRequest(
      R"({"model":"m","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hi"}]})"));
  const json& state = body["conversationState"];
  EXPECT_EQ(state["chatTriggerType"], "MANUAL");
  EXPECT_EQ(state["agentTaskType"], "vibe");
  EXPECT_FALSE(state.contains("history"));
  EXPECT_EQ(state["currentMessage"], json::parse(R"({"userInputMessage":{"content":"You are terse.\n\nHi",
      "modelId":"claude-sonnet-4.5","origin":"AI_EDITOR"}})"));
  // Pure: the same request gives the same bytes (conversation id included).
  EXPECT_EQ(body.dump(), encode(testing::openAiRequest(
      R"({"model":"m","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hi"}]})")).dump());
  EXPECT_EQ(state["conversationId"].get<std::string>().size(), 36u);
}

TEST(KiroRequest, MultiTurnToolsResultsAndImagesGolden) {
  const json body = encode(testing::anthropicRequest(R"({"model":"m","max_tokens":100,"system":"Be brief.",
    "tools":[{"name":"get_weather","description":"Weather by city","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},
             {"name":"no_description","input_schema":{"type":"object"}}],
    "messages":[
      {"role":"user","content":"Weather in Paris?"},
      {"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"18C"},
                                {"type":"tool_result","tool_use_id":"t1","content":"18C again"},
                                {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}}]}]})"));
  const json expected = json::parse(R"({
    "history":[
      {"userInputMessage":{"content":"Be brief.\n\nWeather in Paris?","modelId":"claude-sonnet-4.5","origin":"AI_EDITOR"}},
      {"assistantResponseMessage":{"content":"Checking.","toolUses":[{"toolUseId":"t1","name":"get_weather","input":{"city":"Paris"}}]}}],
    "currentMessage":{"userInputMessage":{"content":"Tool results provided.","modelId":"claude-sonnet-4.5","origin":"AI_EDITOR",
      "images":[{"format":"png","source":{"bytes":"iVBOR"}}],
      "userInputMessageContext":{
        "toolResults":[{"toolUseId":"t1","content":[{"text":"18C"}],"status":"success"}],
        "tools":[{"toolSpecification":{"name":"get_weather","description":"Weather by city",
                   "inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}},
                 {"toolSpecification":{"name":"no_description","description":"no_description","inputSchema":{"json":{"type":"object"}}}}]}}}})");
  json state = body["conversationState"];
  state.erase("conversationId");
  state.erase("chatTriggerType");
  state.erase("agentTaskType");
  EXPECT_EQ(state, expected) << state.dump(2);
}

TEST(KiroRequest, TrailingAssistantAndLeadingAssistantAreMadeValid) {
  const json body = encode(testing::openAiRequest(R"({"model":"m","messages":[
      {"role":"assistant","content":"Hello, how can I help?"},{"role":"user","content":"Write a poem"},
      {"role":"user","content":"about the sea"},{"role":"assistant","content":"The sea"}]})"));
  const json& state = body["conversationState"];
  // history: user placeholder, assistant, merged user turns, assistant; then "Continue".
  ASSERT_EQ(state["history"].size(), 4u);
  EXPECT_EQ(state["history"][0]["userInputMessage"]["content"], "Continue");
  EXPECT_EQ(state["history"][2]["userInputMessage"]["content"], "Write a poem\n\nabout the sea");
  EXPECT_EQ(state["history"][3]["assistantResponseMessage"]["content"], "The sea");
  EXPECT_EQ(state["currentMessage"]["userInputMessage"]["content"], "Continue");
}

TEST(KiroRequest, LongToolNamesAreShortenedAndMappedBack) {
  const std::string longName(80, 'x');
  const std::string shortened = shortToolName(longName);
  EXPECT_EQ(shortened.size(), 64u);
  EXPECT_EQ(shortened.substr(0, 55), longName.substr(0, 55));
  EXPECT_NE(shortToolName(longName + "y"), shortened);
  EXPECT_EQ(shortToolName("get_weather"), "get_weather");
  const auto request = testing::openAiRequest(R"({"model":"m","messages":[{"role":"user","content":"x"}],
      "tools":[{"type":"function","function":{"name":")" + longName + R"(","parameters":{"type":"object"}}}]})");
  EXPECT_EQ(encode(request)["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"]["tools"][0]
                ["toolSpecification"]["name"], shortened);
  KiroDecoder decoder(request, 200000);
  std::vector<core::ChatEvent> events;
  ASSERT_FALSE(decoder.feed(awsEvent("toolUseEvent", json{{"name", shortened}, {"toolUseId", "u1"}, {"input", "{}"}, {"stop", true}}.dump()), events));
  ASSERT_FALSE(decoder.finish(events));
  EXPECT_EQ(events[1].kind, core::EventKind::ToolCallStart);
  EXPECT_EQ(events[1].name, longName);
}

TEST(KiroRequest, ImageUrlsAndModelIds) {
  auto url = kiro::encodeRequest(testing::openAiRequest(R"({"model":"m","messages":[{"role":"user","content":[
      {"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]})"), "x");
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(url.error().status, 400);
  EXPECT_EQ(kiroModelId("claude-sonnet-4-5"), "claude-sonnet-4.5");
  EXPECT_EQ(kiroModelId("claude-sonnet-4-20250514"), "CLAUDE_SONNET_4_20250514_V1_0");
  EXPECT_EQ(kiroModelId("auto"), "auto");
  EXPECT_EQ(kiroModelId("claude-opus-5-5"), "claude-opus-5.5");  // names released later follow the rule
  EXPECT_EQ(kiroModelId("claude-haiku-5-5-20261101"), "claude-haiku-5.5");
  EXPECT_EQ(kiroModelId("claude-opus-5-5-extra"), "claude-opus-5-5-extra");
}

core::ChatResponse run(const std::string& bytes, std::optional<core::GatewayError>* error = nullptr,
                       const std::vector<std::size_t>& cuts = {}) {
  KiroDecoder decoder(testing::openAiRequest(R"({"model":"m","messages":[{"role":"user","content":"hello there"}]})"), 200000);
  std::vector<core::ChatEvent> events;
  std::optional<core::GatewayError> failure;
  std::size_t from = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(bytes.size());
  for (std::size_t end : ends) {
    if (!failure) failure = decoder.feed(std::string_view(bytes).substr(from, end - from), events);
    from = end;
  }
  if (!failure) failure = decoder.finish(events);
  if (error != nullptr) *error = failure;
  core::ResponseAccumulator accumulator;
  for (const auto& event : events) accumulator.add(event);
  return accumulator.response();
}

// Generated frames of a tool call in fragments, metering and context usage.
const std::string kToolFrames = testing::fromHex(
    "000000aa00000052dad068860b3a6576656e742d7479706507000c746f6f6c5573654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b226e616d65223a226765745f77656174686572222c22746f6f6c5573654964223a22746f6f6c7573655f616263313233222c22696e707574223a227b5c22636974795c223a227d45b6c1da"
    "000000aa00000052dad068860b3a6576656e742d7479706507000c746f6f6c5573654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b226e616d65223a226765745f77656174686572222c22746f6f6c5573654964223a22746f6f6c7573655f616263313233222c22696e707574223a225c2250617269735c227d227daa979f2b"
    "000000a100000052ad0059970b3a6576656e742d7479706507000c746f6f6c5573654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b226e616d65223a226765745f77656174686572222c22746f6f6c5573654964223a22746f6f6c7573655f616263313233222c2273746f70223a747275657d8eae221e"
    "0000009a000000530cf6e0960b3a6576656e742d7479706507000d6d65746572696e674576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22756e6974223a22637265646974222c22756e6974506c7572616c223a2263726564697473222c227573616765223a302e303132337d1d07f03d"
    "0000008600000057ae8b5e0c0b3a6576656e742d74797065070011636f6e7465787455736167654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e74657874557361676550657263656e74616765223a312e32357d78a722ec");

TEST(KiroDecoder, AssemblesToolFragmentsAtEverySplitAndEstimatesUsage) {
  std::optional<core::GatewayError> error;
  const auto whole = run(kToolFrames, &error);
  ASSERT_FALSE(error) << error->message;
  ASSERT_EQ(whole.choices.size(), 1u);
  ASSERT_EQ(whole.choices[0].toolCalls.size(), 1u);
  EXPECT_EQ(whole.choices[0].toolCalls[0].id, "tooluse_abc123");
  EXPECT_EQ(whole.choices[0].toolCalls[0].name, "get_weather");
  EXPECT_EQ(json::parse(whole.choices[0].toolCalls[0].arguments), json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(whole.choices[0].finish, core::FinishReason::ToolCalls);
  EXPECT_EQ(whole.usage.inputTokens, 2500);  // 1.25 % of a 200k context: an estimate
  for (std::size_t cut = 1; cut < kToolFrames.size(); cut += 7) {
    const auto split = run(kToolFrames, &error, {cut});
    ASSERT_FALSE(error) << cut;
    ASSERT_EQ(split.choices[0].toolCalls.size(), 1u) << cut;
    ASSERT_EQ(split.choices[0].toolCalls[0].arguments, whole.choices[0].toolCalls[0].arguments) << cut;
  }
}

TEST(KiroDecoder, CapturedTextFramesStreamOneDeltaPerFrame) {
  KiroDecoder decoder(testing::openAiRequest(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})"), 200000);
  std::vector<std::string> frames;
  std::istringstream in(testing::readFixture("kiro/q_cli_capture_frames.hex"));
  for (std::string line; std::getline(in, line) && frames.size() < 3;) frames.push_back(testing::fromHex(line));
  std::vector<core::ChatEvent> events;
  ASSERT_FALSE(decoder.feed(frames[0], events));  // initial-response: nothing to say yet
  EXPECT_TRUE(events.empty());
  ASSERT_FALSE(decoder.feed(frames[1], events));
  ASSERT_EQ(events.size(), 2u);  // start + the first text, as soon as its frame is complete
  EXPECT_EQ(events[1].text, "\xe4\xbd\xa0");
  ASSERT_FALSE(decoder.feed(frames[2].substr(0, 20), events));
  EXPECT_EQ(events.size(), 2u);
  ASSERT_FALSE(decoder.feed(frames[2].substr(20), events));
  EXPECT_EQ(events.size(), 3u);
  ASSERT_FALSE(decoder.finish(events));
  EXPECT_EQ(events.back().kind, core::EventKind::UsageReport);
  EXPECT_EQ(events[events.size() - 2].finish, core::FinishReason::Stop);
}

TEST(KiroDecoder, ExceptionsErrorsAndCutStreams) {
  std::optional<core::GatewayError> error;
  // An exception frame, as Kiro sends one.
  run(testing::fromHex("00000090000000618e91a9b70f3a657863657074696f6e2d747970650700135468726f74746c696e67457863657074696f6e0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d74797065070009657863657074696f6e7b226d657373616765223a22546f6f206d616e79207265717565737473227dfeb6d812"), &error);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->kind, core::ErrorKind::RateLimited);
  EXPECT_EQ(error->status, 429);
  EXPECT_EQ(error->message, "Too many requests");
  run(awsException("ValidationException", R"({"message":"Input is too long.","reason":"CONTENT_LENGTH_EXCEEDS_THRESHOLD"})"), &error);
  EXPECT_EQ(error->status, 400);
  run(testing::fromHex("0000005800000048154692c10d3a6d6573736167652d747970650700056572726f720b3a6572726f722d636f646507000d496e7465726e616c4572726f720e3a6572726f722d6d657373616765070004626f6f6d961cb456"), &error);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->kind, core::ErrorKind::Upstream);
  EXPECT_EQ(error->message, "boom");
  const std::string text = awsEvent("assistantResponseEvent", R"({"content":"Hi"})");
  run(text + text.substr(0, 30), &error);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "upstream_disconnected");
  std::string corrupt = text;
  corrupt[corrupt.size() - 1] ^= 1;
  run(corrupt, &error);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "upstream_malformed_frame");
  run("", &error);
  EXPECT_EQ(error->code, "upstream_empty_stream");
  // Unknown events are skipped; the reported token usage beats the estimate.
  const auto answer = run(awsEvent("brandNewEvent", "{}") + text +
                              awsEvent("messageMetadataEvent", R"({"tokenUsage":{"uncachedInputTokens":7,"cacheReadInputTokens":3,"outputTokens":2}})"),
                          &error);
  ASSERT_FALSE(error);
  EXPECT_EQ(answer.choices[0].text, "Hi");
  EXPECT_EQ(answer.usage.inputTokens, 10);
  EXPECT_EQ(answer.usage.cachedInputTokens, 3);
  EXPECT_EQ(answer.usage.outputTokens, 2);
}

class KiroCredentials : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = ::testing::TempDir(); }
  void TearDown() override {
    for (const auto& file : files_) std::remove(file.c_str());
  }
  std::string write(const std::string& name, const json& content) {
    const std::string path = dir_ + name;
    std::ofstream(path) << content.dump();
    files_.push_back(path);
    return path;
  }
  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(KiroCredentials, SocialLoginRefreshAndRequestHeaders) {
  const std::string path = write("kiro_social.json", {{"accessToken", "aoa-1"}, {"refreshToken", "aor-1"},
                                                      {"expiresAt", "2030-01-02T03:04:05.678Z"}, {"authMethod", "social"},
                                                      {"provider", "Google"}, {"region", "us-east-1"}});
  auto provider = testing::makeProvider({{"name", "k"}, {"type", "kiro"}, {"credentials", path}});
  const auth::OAuthAccount* account = provider->account(0);
  ASSERT_NE(account, nullptr);
  EXPECT_EQ(account->token()->expiresAtMs, parseIsoTime("2030-01-02T03:04:05.678Z").value());
  EXPECT_EQ(formatIsoTime(account->token()->expiresAtMs), "2030-01-02T03:04:05.678Z");
  const auto refresh = account->refreshRequest(*account->token());
  EXPECT_EQ(refresh.url, "https://prod.us-east-1.auth.desktop.kiro.dev/refreshToken");
  EXPECT_EQ(json::parse(refresh.body), json::parse(R"({"refreshToken":"aor-1"})"));

  const auto request = testing::openAiRequest(R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]})");
  const auto first = testing::encodeWith(*provider, request, "claude-sonnet-4-5");
  const auto second = testing::encodeWith(*provider, request, "claude-sonnet-4-5");
  EXPECT_EQ(first.url, "https://q.us-east-1.amazonaws.com/generateAssistantResponse");
  EXPECT_EQ(testing::headerOf(first, "Authorization"), "Bearer aoa-1");
  EXPECT_NE(testing::headerOf(first, "amz-sdk-invocation-id"), testing::headerOf(second, "amz-sdk-invocation-id"));
  EXPECT_NE(testing::headerOf(first, "x-amz-user-agent").find("KiroIDE-"), std::string::npos);
  // A social login without its own profile uses the common one.
  EXPECT_EQ(json::parse(first.body)["profileArn"], "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK");

  auto next = account->readRefreshAnswer(*account->token(), json::parse(R"({"accessToken":"aoa-2","expiresIn":3600,"profileArn":"arn:p"})"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value().refreshToken, "aor-1");
  const_cast<auth::OAuthAccount*>(account)->install(next.value());
  std::ifstream in(path);
  const json saved = json::parse(in);
  EXPECT_EQ(saved["accessToken"], "aoa-2");
  EXPECT_EQ(saved["profileArn"], "arn:p");
  EXPECT_EQ(saved["provider"], "Google");
  EXPECT_EQ(parseIsoTime(saved["expiresAt"]).value() / 1000, next.value().expiresAtMs / 1000);
  EXPECT_EQ(json::parse(testing::encodeWith(*provider, request, "m").body)["profileArn"], "arn:p");
}

TEST_F(KiroCredentials, IdcLoginUsesTheClientRegistrationBesideIt) {
  write("0123abcd.json", {{"clientId", "cid"}, {"clientSecret", "csecret"}, {"expiresAt", "2030-01-01T00:00:00Z"}});
  const std::string path = write("kiro_idc.json", {{"accessToken", "a"}, {"refreshToken", "r"}, {"authMethod", "IdC"},
                                                   {"provider", "BuilderId"}, {"clientIdHash", "0123abcd"}, {"region", "eu-west-1"}});
  auto provider = testing::makeProvider({{"name", "k"}, {"type", "kiro"}, {"credentials", {path}}});
  const auth::OAuthAccount* account = provider->account(0);
  const auto refresh = account->refreshRequest(*account->token());
  EXPECT_EQ(refresh.url, "https://oidc.eu-west-1.amazonaws.com/token");
  EXPECT_EQ(json::parse(refresh.body), json::parse(R"({"clientId":"cid","clientSecret":"csecret","grantType":"refresh_token","refreshToken":"r"})"));
  // IdC logins have no profile: none is sent.
  const auto sent = testing::encodeWith(*provider, testing::openAiRequest(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})"), "m");
  EXPECT_FALSE(json::parse(sent.body).contains("profileArn"));
  // The registration's secret is not copied into the token file on write-back.
  auto next = account->readRefreshAnswer(*account->token(), json::parse(R"({"accessToken":"a2","refreshToken":"r2","expiresIn":60})"));
  const_cast<auth::OAuthAccount*>(account)->install(next.value());
  std::ifstream in(path);
  EXPECT_FALSE(json::parse(in).contains("clientSecret"));
}

TEST_F(KiroCredentials, BadFilesAndErrorsAreClear) {
  const std::string noRefresh = write("kiro_bad.json", {{"accessToken", "a"}});
  EXPECT_THROW(testing::makeProvider({{"name", "k"}, {"type", "kiro"}, {"credentials", noRefresh}}), config::ConfigError);
  const std::string idcWithout = write("kiro_idc_bad.json", {{"accessToken", "a"}, {"refreshToken", "r"}, {"authMethod", "IdC"}});
  EXPECT_THROW(testing::makeProvider({{"name", "k"}, {"type", "kiro"}, {"credentials", idcWithout}}), config::ConfigError);
  EXPECT_THROW(testing::makeProvider({{"name", "k"}, {"type", "kiro"}}), config::ConfigError);

  const std::string good = write("kiro_ok.json", {{"accessToken", "a"}, {"refreshToken", "r"}});
  auto provider = testing::makeProvider({{"name", "k"}, {"type", "kiro"}, {"credentials", good}});
  const auto expired = provider->decodeError(403, R"({"message":"The bearer token included in the request is invalid.","reason":null})");
  EXPECT_EQ(expired.status, 403);
  EXPECT_TRUE(provider->credentialRejected(expired));
  const auto suspended = provider->decodeError(403, R"({"message":"Your account is suspended."})");
  EXPECT_FALSE(provider->credentialRejected(suspended));
  const auto throttled = provider->decodeError(429, R"({"__type":"com.amazon.aws.codewhisperer#ThrottlingException","message":"slow down"})");
  EXPECT_EQ(throttled.kind, core::ErrorKind::RateLimited);
  EXPECT_EQ(throttled.message, "slow down");
  const auto malformed = provider->decodeError(400, R"({"message":"Improperly formed request.","reason":null})");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(malformed.message, "Improperly formed request.");
}

}  // namespace
}  // namespace llmgate::providers::kiro
