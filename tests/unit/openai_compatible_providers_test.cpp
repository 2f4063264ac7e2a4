// The OpenAI-compatible family (deepseek, qwen, zhipu): one codec, each type's differences.
#include <chrono>
#include <fstream>

#include <gtest/gtest.h>

#include "common/jwt_claims.hpp"
#include "fixture_util.hpp"
#include "llmgate/auth/oauth_account.hpp"
#include "llmgate/stream/sse_parser.hpp"
#include "provider_test_util.hpp"
#include "providers/qwen/qwen_provider.hpp"
#include "providers/zhipu/zhipu_provider.hpp"

namespace llmgate::providers {
namespace {

using nlohmann::json;
using testing::decodeWith;
using testing::encodeWith;
using testing::makeProvider;

// An Anthropic client's turn after a tool call that came with reasoning.
constexpr const char* kToolTurnWithThinking = R"({"model":"m","max_tokens":50,"messages":[
  {"role":"user","content":"Files?"},
  {"role":"assistant","content":[{"type":"thinking","thinking":"list them","signature":""},
                                 {"type":"tool_use","id":"call_1","name":"ls","input":{}}]},
  {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"a.txt"}]},
  {"role":"assistant","content":[{"type":"thinking","thinking":"plain turn","signature":""},{"type":"text","text":"a.txt"}]},
  {"role":"user","content":"ok"}]})";

TEST(DeepSeekProvider, SendsReasoningBackOnlyOnToolCallTurnsUnlessTurnedOff) {
  auto provider = makeProvider({{"name", "d"}, {"type", "deepseek"}, {"api_key", "sk-d"}});
  const auto upstream = encodeWith(*provider, testing::anthropicRequest(kToolTurnWithThinking), "deepseek-reasoner");
  EXPECT_EQ(upstream.url, "https://api.deepseek.com/chat/completions");
  EXPECT_EQ(testing::headerOf(upstream, "Authorization"), "Bearer sk-d");
  const json body = json::parse(upstream.body);
  EXPECT_EQ(body["messages"][1]["reasoning_content"], "list them");
  EXPECT_FALSE(body["messages"][3].contains("reasoning_content"));
  auto older = makeProvider({{"name", "d"}, {"type", "deepseek"}, {"reasoning_passback", false}});
  EXPECT_FALSE(json::parse(encodeWith(*older, testing::anthropicRequest(kToolTurnWithThinking), "m").body)["messages"][1]
                   .contains("reasoning_content"));
}

TEST(DeepSeekProvider, ReasoningDeltasBecomeThinkingAndKeepAliveCommentsAreSkipped) {
  auto provider = makeProvider({{"name", "d"}, {"type", "deepseek"}});
  const std::string body =
      ": keep-alive\n\n"
      "data: {\"id\":\"u-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"We\"},\"finish_reason\":null}],\"usage\":null}\n\n"
      ": keep-alive\n\n"
      "data: {\"id\":\"u-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\",\"reasoning_content\":null},\"finish_reason\":null}],\"usage\":null}\n\n"
      "data: {\"id\":\"u-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"reasoning_content\":null},\"finish_reason\":\"stop\"}],"
      "\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":463,\"total_tokens\":471,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":100},\"prompt_cache_hit_tokens\":0,\"prompt_cache_miss_tokens\":8}}\n\n"
      "data: [DONE]\n\n";
  const auto decoded = decodeWith(*provider, true, body);
  ASSERT_FALSE(decoded.error);
  EXPECT_EQ(decoded.response.choices[0].thinking, "We");
  EXPECT_EQ(decoded.response.choices[0].text, "Hi");
  EXPECT_EQ(decoded.response.usage.reasoningTokens, 100);
  // What an Anthropic client receives: a thinking block, then the text.
  api::anthropic::StreamEncoder encoder("msg_1", "deepseek-reasoner");
  std::string out;
  for (const auto& event : decoded.events) encoder.encode(event, out);
  encoder.finish(out);
  EXPECT_LT(out.find("\"thinking_delta\""), out.find("\"text_delta\""));
  // A non-streaming answer preceded by the empty keep-alive lines DeepSeek sends under load.
  const auto whole = decodeWith(*provider, false, "\n\n{\"id\":\"u\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                                                  "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}");
  ASSERT_FALSE(whole.error);
  EXPECT_EQ(whole.response.choices[0].text, "ok");
}

TEST(OpenAiCompatibleDecoders, AnUpstreamEventOverTheBoundIsAMalformedAnswerNotAGrowingBuffer) {
  auto provider = makeProvider({{"name", "o"}, {"type", "openai"}});
  const std::string huge = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" +
                           std::string(stream::SseParser::kDefaultMaxEventBytes, 'x') + "\"}}]}\n\n";
  // Cut in pieces as a socket delivers it: the event never completes within the bound.
  std::vector<std::size_t> cuts;
  for (std::size_t at = 65536; at < huge.size(); at += 65536) cuts.push_back(at);
  const auto decoded = decodeWith(*provider, true, huge, cuts);
  ASSERT_TRUE(decoded.error);
  EXPECT_EQ(decoded.error->code, "upstream_event_too_large");
  EXPECT_EQ(decoded.error->kind, core::ErrorKind::Protocol);
}

TEST(OpenAiProvider, ThinkingOfOtherDialectsBecomesReasoningEffortForReasoningModelsOnly) {
  auto provider = makeProvider({{"name", "o"}, {"type", "openai"}, {"api_key", "k"}});
  const auto claudeCode = testing::anthropicRequest(R"({"model":"m","max_tokens":100,"messages":[{"role":"user","content":"x"}],
    "thinking":{"type":"adaptive"},"output_config":{"effort":"max"}})");
  const auto sent = [&](const core::ChatRequest& request, const std::string& model) {
    auto encoded = provider->encodeRequest(request, model, {});
    EXPECT_TRUE(encoded.ok());
    return nlohmann::json::parse(encoded.value().body);
  };
  EXPECT_EQ(sent(claudeCode, "o3")["reasoning_effort"], "high");  // OpenAI has no "max"
  EXPECT_EQ(sent(claudeCode, "gpt-5-mini")["reasoning_effort"], "high");
  EXPECT_FALSE(sent(claudeCode, "gpt-4o").contains("reasoning_effort"));  // it would refuse the field
  const auto budgeted = testing::anthropicRequest(R"({"model":"m","max_tokens":100,"messages":[{"role":"user","content":"x"}],
    "thinking":{"type":"enabled","budget_tokens":2000}})");
  EXPECT_EQ(sent(budgeted, "o4-mini")["reasoning_effort"], "medium");
  const auto disabled = testing::anthropicRequest(R"({"model":"m","max_tokens":100,"messages":[{"role":"user","content":"x"}],
    "thinking":{"type":"disabled"}})");
  EXPECT_FALSE(sent(disabled, "o3").contains("reasoning_effort"));
}

TEST(ZhipuProvider, JwtMatchesTheReferenceToken) {
  // Key and token from Zhipu's SDK test (zhipuai-sdk-python-v4), timestamp fixed.
  EXPECT_EQ(zhipu::makeJwt("12345678.abcdefg", 1700000000000, 210000).value(),
            "eyJhbGciOiJIUzI1NiIsInNpZ25fdHlwZSI6IlNJR04iLCJ0eXAiOiJKV1QifQ."
            "eyJhcGlfa2V5IjoiMTIzNDU2NzgiLCJleHAiOjE3MDAwMDAyMTAwMDAsInRpbWVzdGFtcCI6MTcwMDAwMDAwMDAwMH0."
            "QwkBN-t1Q5A-mpFLcqgGAQG93TRmu1HurQNLoIcJKpY");
  EXPECT_FALSE(zhipu::makeJwt("no-secret", 0, 0));
  EXPECT_FALSE(zhipu::makeJwt(".secret", 0, 0));
}

TEST(ZhipuProvider, SendsTheRawKeyOrACachedJwt) {
  const auto request = testing::openAiRequest(R"({"model":"glm-4.6","messages":[{"role":"user","content":"hi"}]})");
  auto plain = makeProvider({{"name", "z"}, {"type", "zhipu"}, {"api_key", "id1.secret1"}});
  const auto sent = encodeWith(*plain, request, "glm-4.6");
  EXPECT_EQ(sent.url, "https://open.bigmodel.cn/api/paas/v4/chat/completions");
  EXPECT_EQ(testing::headerOf(sent, "Authorization"), "Bearer id1.secret1");

  auto jwt = makeProvider({{"name", "z"}, {"type", "zhipu"}, {"api_key", "id1.secret1"}, {"auth_mode", "jwt"}});
  const std::string first = testing::headerOf(encodeWith(*jwt, request, "glm-4.6"), "Authorization");
  const std::string second = testing::headerOf(encodeWith(*jwt, request, "glm-4.6"), "Authorization");
  EXPECT_EQ(first, second);  // cached, not re-signed per request
  ASSERT_EQ(first.rfind("Bearer ey", 0), 0u);
  const std::string token = first.substr(7);
  const json claims = testing::jwtClaims(token);
  ASSERT_TRUE(claims.is_object());
  EXPECT_EQ(claims["api_key"], "id1");
  EXPECT_EQ(claims["exp"].get<std::int64_t>() - claims["timestamp"].get<std::int64_t>(), 210000);
  EXPECT_NEAR(static_cast<double>(claims["timestamp"].get<std::int64_t>()), static_cast<double>(auth::nowEpochMs()), 60000.0);
  // Re-signing the claims we sent with the secret gives the same token.
  EXPECT_EQ(zhipu::makeJwt("id1.secret1", claims["timestamp"].get<std::int64_t>(), 210000).value(), token);

  EXPECT_THROW(makeProvider({{"name", "z"}, {"type", "zhipu"}, {"api_key", "nodot"}, {"auth_mode", "jwt"}}), config::ConfigError);
  EXPECT_THROW(makeProvider({{"name", "z"}, {"type", "zhipu"}, {"auth_mode", "oauth"}}), config::ConfigError);
}

TEST(ZhipuProvider, ClampsRangesAndRenamesFieldsOnBothPaths) {
  auto provider = makeProvider({{"name", "z"}, {"type", "zhipu"}});
  const auto request = testing::anthropicRequest(R"({"model":"glm","max_tokens":9,"temperature":1.0,"top_p":0,
      "metadata":{"user_id":"u-7"},"thinking":{"type":"enabled","budget_tokens":2048},"messages":[{"role":"user","content":"hi"}]})");
  const json body = json::parse(encodeWith(*provider, request, "glm-4.6").body);
  EXPECT_EQ(body["temperature"], 1.0);
  EXPECT_DOUBLE_EQ(body["top_p"].get<double>(), 0.01);
  EXPECT_EQ(body["user_id"], "u-7");
  EXPECT_FALSE(body.contains("user"));
  EXPECT_EQ(body["thinking"], json::parse(R"({"type":"enabled"})"));
  // The fast path edits only the out-of-range digits.
  auto passthrough = provider->passthroughRequest(R"({"model":"glm-4.6","temperature":1.7,"top_p":0.5,"messages":[]})", false, {});
  EXPECT_EQ(passthrough.body, R"({"model":"glm-4.6","temperature":1,"top_p":0.5,"messages":[]})");
}

TEST(ZhipuProvider, DecodesTheCapturedGlmStreamWithItsQuirks) {
  auto provider = makeProvider({{"name", "z"}, {"type", "zhipu"}});
  std::ifstream lines(std::string(LLMGATE_FIXTURES_DIR) + "/glm/glm46_openai_compat_stream_chunks.jsonl");
  std::string line, body;
  while (std::getline(lines, line)) body += "data: " + line + "\n\n";
  body += "data: [DONE]\n\n";
  const auto decoded = decodeWith(*provider, true, body);
  ASSERT_FALSE(decoded.error) << decoded.error->message;
  const auto& choice = decoded.response.choices.at(0);
  EXPECT_FALSE(choice.thinking.empty());
  ASSERT_EQ(choice.toolCalls.size(), 1u);
  EXPECT_EQ(choice.toolCalls[0].id, "call_c1b2d1cfe12340ba85700f80");
  EXPECT_EQ(choice.toolCalls[0].arguments, R"({"command":dir})");  // invalid JSON from the model, passed on as is
  EXPECT_EQ(choice.finish, core::FinishReason::ToolCalls);
  EXPECT_EQ(decoded.response.usage.inputTokens, 6243);  // the zero usage of earlier chunks does not win
  EXPECT_EQ(decoded.response.usage.outputTokens, 84);
  // And what an OpenAI client gets re-encoded still carries the arguments verbatim.
  api::openai::StreamEncoder encoder("c", "glm", 1, true);
  std::string out;
  for (const auto& event : decoded.events) encoder.encode(event, out);
  encoder.finish(out);
  EXPECT_NE(out.find(R"({\"command\":dir})"), std::string::npos);
  EXPECT_NE(out.find("\"prompt_tokens\":6243"), std::string::npos);

  const auto whole = decodeWith(*provider, false, testing::readFixture("glm/glm46_openai_compat_nonstream.json"));
  ASSERT_FALSE(whole.error);
  EXPECT_NE(whole.response.choices.at(0).text.find("README.md"), std::string::npos);
}

TEST(QwenProvider, ApiKeyModeByRegionAndThinkingSwitch) {
  auto intl = makeProvider({{"name", "q"}, {"type", "qwen"}, {"api_key", "sk-q"}});
  auto cn = makeProvider({{"name", "q"}, {"type", "qwen"}, {"api_key", "sk-q"}, {"region", "cn"}});
  const auto request = testing::anthropicRequest(R"({"model":"qwen-plus","max_tokens":9,"thinking":{"type":"enabled","budget_tokens":500},
      "messages":[{"role":"user","content":"hi"}]})");
  const auto sent = encodeWith(*intl, request, "qwen-plus");
  EXPECT_EQ(sent.url, "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/chat/completions");
  EXPECT_EQ(encodeWith(*cn, request, "qwen-plus").url, "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions");
  EXPECT_EQ(testing::headerOf(sent, "Authorization"), "Bearer sk-q");
  const json body = json::parse(sent.body);
  EXPECT_EQ(body["enable_thinking"], true);
  EXPECT_EQ(body["thinking_budget"], 500);
  EXPECT_THROW(makeProvider({{"name", "q"}, {"type", "qwen"}, {"region", "mars"}}), config::ConfigError);
}

class QwenOAuthFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "qwen_creds_" + std::to_string(::getpid()) + ".json";
    std::ofstream(path_) << R"({"access_token":"at-1","refresh_token":"rt-1","token_type":"Bearer",
                               "resource_url":"portal.qwen.ai","expiry_date":1900000000000,"id_token":"keep-me"})";
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_;
};

TEST_F(QwenOAuthFile, UsesTheAccountsResourceUrlAndRefreshGrant) {
  auto provider = makeProvider({{"name", "qc"}, {"type", "qwen"}, {"oauth_credentials", path_},
                                {"oauth_token_url", "http://127.0.0.1:9/token"}});
  ASSERT_EQ(provider->credentialCount(), 1u);
  const auto request = testing::openAiRequest(R"({"model":"coder-model","messages":[{"role":"user","content":"hi"}]})");
  const auto sent = encodeWith(*provider, request, "coder-model");
  EXPECT_EQ(sent.url, "https://portal.qwen.ai/v1/chat/completions");
  EXPECT_EQ(testing::headerOf(sent, "Authorization"), "Bearer at-1");
  EXPECT_EQ(testing::headerOf(sent, "X-DashScope-AuthType"), "qwen-oauth");

  const auth::OAuthAccount* account = provider->account(0);
  ASSERT_NE(account, nullptr);
  const auto refresh = account->refreshRequest(*account->token());
  EXPECT_EQ(refresh.url, "http://127.0.0.1:9/token");
  EXPECT_EQ(refresh.body, "grant_type=refresh_token&refresh_token=rt-1&client_id=f0304373b74a44d2b584a3fb70ca9e56");

  // A refresh answer replaces the tokens and the expiry, and the file keeps what it had.
  auto next = account->readRefreshAnswer(*account->token(), json::parse(
      R"({"access_token":"at-2","token_type":"Bearer","expires_in":3600,"resource_url":"https://other.qwen.ai/"})"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value().refreshToken, "rt-1");  // none in the answer: the old one stays
  EXPECT_NEAR(static_cast<double>(next.value().expiresAtMs), static_cast<double>(auth::nowEpochMs() + 3600000), 60000.0);
  const_cast<auth::OAuthAccount*>(account)->install(next.value());
  EXPECT_EQ(encodeWith(*provider, request, "coder-model").url, "https://other.qwen.ai/v1/chat/completions");
  std::ifstream file(path_);
  const json saved = json::parse(file);
  EXPECT_EQ(saved["access_token"], "at-2");
  EXPECT_EQ(saved["id_token"], "keep-me");
  EXPECT_EQ(saved["expiry_date"], next.value().expiresAtMs);
  EXPECT_FALSE(account->readRefreshAnswer(*account->token(), json::parse(R"({"error":"invalid_grant"})")).ok());
}

TEST_F(QwenOAuthFile, BadCredentialFilesStopStartUpWithTheKeyPath) {
  EXPECT_THROW(makeProvider({{"name", "qc"}, {"type", "qwen"}, {"oauth_credentials", path_ + ".missing"}}), config::ConfigError);
  std::ofstream(path_) << R"({"refresh_token":"rt"})";
  try {
    makeProvider({{"name", "qc"}, {"type", "qwen"}, {"oauth_credentials", {path_}}});
    FAIL() << "accepted a file without access_token";
  } catch (const config::ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("oauth_credentials"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("access_token missing"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace llmgate::providers
