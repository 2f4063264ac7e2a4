// The cross-provider contract: every provider type, behind the real server and reached over
// loopback in its own protocol, gives clients of both dialects the same text, stream and tool
// round trip; and the upstream receives the request shape its API documents (path, auth,
// roles, system placement, tool results).
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/jwt_claims.hpp"
#include "gateway_harness.hpp"
#include "llmgate/auth/oauth_account.hpp"
#include "protocol_upstreams.hpp"
#include "providers/zhipu/zhipu_provider.hpp"

namespace llmgate::testing {
namespace {

using nlohmann::json;

enum class Protocol { OpenAi, Anthropic, Gemini, Kiro };

struct ProviderCase {
  const char* type;  // also the test name
  Protocol protocol;
};

struct Contract {
  ProviderCase provider;
  core::Dialect client;
};

constexpr const char* kSystem = "Be brief.";

class ProviderContract : public ::testing::TestWithParam<Contract> {
 protected:
  void SetUp() override {
    const auto protocol = GetParam().provider.protocol;
    upstream_ = std::make_unique<TestUpstream>(protocol == Protocol::Gemini      ? geminiUpstream
                                               : protocol == Protocol::Kiro      ? kiroUpstream
                                               : protocol == Protocol::Anthropic ? anthropicUpstream
                                                                                 : openAiCompatibleUpstream);
    gateway_ = std::make_unique<GatewayHarness>(json{{"providers", {providerBlock()}}}.dump());
  }
  void TearDown() override {
    if (!credentials_.empty()) std::remove(credentials_.c_str());
  }

  std::string root() const { return "http://127.0.0.1:" + std::to_string(upstream_->port()); }

  json providerBlock() {
    const std::string type = GetParam().provider.type;
    json block{{"name", "p"}, {"type", type}, {"models", {"m"}}, {"model_map", {{"m", "up-model"}}}, {"retry", {{"max_attempts", 1}}}};
    if (type == "openai") block.update({{"base_url", root() + "/v1"}, {"api_key", "sk-openai"}});
    if (type == "anthropic") block.update({{"base_url", root()}, {"api_key", "sk-ant"}});
    if (type == "gemini") block.update({{"base_url", root() + "/v1beta"}, {"api_key", "AIza-key"}});
    if (type == "deepseek") block.update({{"base_url", root()}, {"api_key", "sk-deep"}});
    if (type == "qwen") block.update({{"base_url", root() + "/compatible-mode/v1"}, {"api_key", "sk-dash"}});
    if (type == "zhipu") block.update({{"base_url", root() + "/api/paas/v4"}, {"api_key", "kid.ksecret"}, {"auth_mode", "jwt"}});
    if (type == "kiro") {
      credentials_ = ::testing::TempDir() + "contract_kiro_" + std::to_string(::getpid()) + ".json";
      std::ofstream(credentials_) << json{{"accessToken", "kiro-at"}, {"refreshToken", "kiro-rt"}, {"authMethod", "social"},
                                          {"expiresAt", "2099-01-01T00:00:00.000Z"},
                                          {"profileArn", "arn:aws:codewhisperer:us-east-1:1:profile/T"}}.dump();
      block.update({{"base_url", root()}, {"credentials", credentials_}, {"social_refresh_url", root() + "/refreshToken"}});
      block["model_map"] = {{"m", "claude-sonnet-4-5"}};
    }
    if (type == std::string("qwen-oauth")) {
      credentials_ = ::testing::TempDir() + "contract_qwen_" + std::to_string(::getpid()) + ".json";
      std::ofstream(credentials_) << json{{"access_token", "oauth-at"}, {"refresh_token", "oauth-rt"},
                                          {"resource_url", root()}, {"expiry_date", auth::nowEpochMs() + 3600000}}.dump();
      block.update({{"type", "qwen"}, {"oauth_credentials", credentials_}, {"oauth_token_url", root() + "/token"}});
    }
    return block;
  }

  // What the upstream must have received for the last request.
  void checkUpstreamRequest(bool stream, bool toolTurn) const {
    const auto requests = upstream_->requests();
    ASSERT_FALSE(requests.empty());
    const auto& sent = requests.back();
    const std::string type = GetParam().provider.type;
    const json body = json::parse(sent.body);
    const std::map<std::string, std::string> paths{
        {"openai", "/v1/chat/completions"}, {"anthropic", "/v1/messages"},
        {"deepseek", "/chat/completions"},  {"qwen", "/compatible-mode/v1/chat/completions"},
        {"zhipu", "/api/paas/v4/chat/completions"}, {"qwen-oauth", "/v1/chat/completions"},
        {"kiro", "/generateAssistantResponse"},
        {"gemini", stream ? "/v1beta/models/up-model:streamGenerateContent?alt=sse" : "/v1beta/models/up-model:generateContent"}};
    EXPECT_EQ(sent.target, paths.at(type));
    if (type == "openai") EXPECT_EQ(sent.header("authorization"), "Bearer sk-openai");
    if (type == "anthropic") EXPECT_EQ(sent.header("x-api-key"), "sk-ant");
    if (type == "gemini") EXPECT_EQ(sent.header("x-goog-api-key"), "AIza-key");
    if (type == "deepseek") EXPECT_EQ(sent.header("authorization"), "Bearer sk-deep");
    if (type == "qwen") EXPECT_EQ(sent.header("authorization"), "Bearer sk-dash");
    if (type == "qwen-oauth") {
      EXPECT_EQ(sent.header("authorization"), "Bearer oauth-at");
      EXPECT_EQ(sent.header("x-dashscope-authtype"), "qwen-oauth");
    }
    if (type == "kiro") {
      EXPECT_EQ(sent.header("authorization"), "Bearer kiro-at");
      EXPECT_FALSE(sent.header("amz-sdk-invocation-id").empty());
    }
    if (type == "zhipu") {
      // A valid JWT for the key: re-signing its own claims gives the same token.
      const std::string token = sent.header("authorization").substr(7);
      const json claims = jwtClaims(token);
      ASSERT_TRUE(claims.is_object()) << token;
      const std::int64_t issued = claims.value("timestamp", std::int64_t{0});
      EXPECT_NEAR(static_cast<double>(issued), static_cast<double>(auth::nowEpochMs()), 120000.0);
      EXPECT_EQ(providers::zhipu::makeJwt("kid.ksecret", issued, 210000).value_or(""), token);
    }
    switch (GetParam().provider.protocol) {
      case Protocol::OpenAi: {
        EXPECT_EQ(body["model"], "up-model");
        EXPECT_EQ(body["messages"][0], json({{"role", "system"}, {"content", kSystem}}));
        if (toolTurn) {
          const json& call = body["messages"][2];
          EXPECT_EQ(call["role"], "assistant");
          EXPECT_EQ(call["tool_calls"][0]["function"]["name"], kToolName);
          EXPECT_EQ(body["messages"][3]["role"], "tool");
          EXPECT_EQ(body["messages"][3]["tool_call_id"], call["tool_calls"][0]["id"]);
        }
        break;
      }
      case Protocol::Anthropic:
        EXPECT_EQ(body["model"], "up-model");
        EXPECT_EQ(body["system"].is_string() ? body["system"].get<std::string>() : body["system"][0]["text"].get<std::string>(), kSystem);
        for (const auto& message : body["messages"]) EXPECT_NE(message["role"], "system");
        if (toolTurn) EXPECT_EQ(body["messages"][2]["content"].back()["type"], "tool_result");
        break;
      case Protocol::Kiro: {
        EXPECT_EQ(body["profileArn"], "arn:aws:codewhisperer:us-east-1:1:profile/T");
        const json& state = body["conversationState"];
        const json& current = state["currentMessage"]["userInputMessage"];
        EXPECT_EQ(current["modelId"], "claude-sonnet-4.5");
        // No system role: the prompt leads the first user turn.
        const json& first = state.contains("history") ? state["history"][0]["userInputMessage"] : current;
        EXPECT_EQ(first["content"].get<std::string>().rfind(std::string(kSystem) + "\n\n", 0), 0u) << first;
        if (toolTurn) {
          EXPECT_EQ(state["history"][1]["assistantResponseMessage"]["toolUses"][0]["name"], kToolName);
          EXPECT_EQ(current["userInputMessageContext"]["toolResults"][0]["toolUseId"],
                    state["history"][1]["assistantResponseMessage"]["toolUses"][0]["toolUseId"]);
        }
        break;
      }
      case Protocol::Gemini: {
        EXPECT_EQ(body["systemInstruction"]["parts"][0]["text"], kSystem);
        for (const auto& content : body["contents"]) EXPECT_TRUE(content["role"] == "user" || content["role"] == "model");
        if (toolTurn) {
          const json& call = body["contents"][1]["parts"][0];
          EXPECT_EQ(call["functionCall"]["name"], kToolName);
          // Only the Anthropic dialect can carry Gemini's thought signature back.
          if (GetParam().client == core::Dialect::Anthropic) EXPECT_EQ(call["thoughtSignature"], "c2ln");
          EXPECT_EQ(body["contents"][2]["parts"][0]["functionResponse"]["name"], kToolName);
        }
        break;
      }
    }
  }

  core::ChatResponse ask(const json& body, bool stream) {
    json request = body;
    request["model"] = "m";
    const bool anthropic = GetParam().client == core::Dialect::Anthropic;
    if (stream) request["stream"] = true;
    if (stream && !anthropic) request["stream_options"] = {{"include_usage", true}};
    if (anthropic) request["max_tokens"] = 100;
    const auto result = gateway_->post(anthropic ? "/v1/messages" : "/v1/chat/completions", request.dump());
    EXPECT_EQ(result.status, 200) << result.body;
    if (stream) EXPECT_EQ(result.headers.count("content-type") ? result.headers.at("content-type") : "", "text/event-stream");
    return clientAnswer(GetParam().client, result.body, stream);
  }

  json conversation(const std::string& text) const {
    if (GetParam().client == core::Dialect::Anthropic) {
      return {{"system", kSystem}, {"messages", {{{"role", "user"}, {"content", text}}}}};
    }
    return {{"messages", {{{"role", "system"}, {"content", kSystem}}, {{"role", "user"}, {"content", text}}}}};
  }

  json withTools(json body) const {
    const json schema = json::parse(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})");
    body["tools"] = GetParam().client == core::Dialect::Anthropic
                        ? json::array({{{"name", kToolName}, {"input_schema", schema}}})
                        : json::array({{{"type", "function"}, {"function", {{"name", kToolName}, {"parameters", schema}}}}});
    return body;
  }

  // The conversation after the model called the tool and the tool answered.
  json afterToolCall(json body, const core::ChatResponse& answer) const {
    const auto& call = answer.choices.at(0).toolCalls.at(0);
    if (GetParam().client == core::Dialect::Anthropic) {
      json content = json::array();
      const auto& choice = answer.choices[0];
      if (!choice.thinkingSignature.empty()) {
        content.push_back({{"type", "thinking"}, {"thinking", choice.thinking}, {"signature", choice.thinkingSignature}});
      }
      content.push_back({{"type", "tool_use"}, {"id", call.id}, {"name", call.name}, {"input", json::parse(call.arguments)}});
      body["messages"].push_back({{"role", "assistant"}, {"content", content}});
      body["messages"].push_back({{"role", "user"}, {"content", {{{"type", "tool_result"}, {"tool_use_id", call.id}, {"content", "18C"}}}}});
    } else {
      body["messages"].push_back({{"role", "assistant"}, {"content", nullptr},
                                  {"tool_calls", {{{"id", call.id}, {"type", "function"},
                                                   {"function", {{"name", call.name}, {"arguments", call.arguments}}}}}}});
      body["messages"].push_back({{"role", "tool"}, {"tool_call_id", call.id}, {"content", "18C"}});
    }
    return body;
  }

  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<GatewayHarness> gateway_;
  std::string credentials_;
};

TEST_P(ProviderContract, TextWholeAndStreamed) {
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "stream" : "whole");
    const auto answer = ask(conversation("Hi"), stream);
    ASSERT_EQ(answer.choices.size(), 1u);
    EXPECT_EQ(answer.choices[0].text, kUpstreamText);
    EXPECT_EQ(answer.choices[0].finish, core::FinishReason::Stop);
    EXPECT_EQ(answer.usage.inputTokens, 9);
    EXPECT_EQ(answer.usage.outputTokens, 4);
    checkUpstreamRequest(stream, false);
  }
}

TEST_P(ProviderContract, ToolRoundTripWholeAndStreamed) {
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "stream" : "whole");
    const json first = withTools(conversation("Weather in Paris?"));
    const auto call = ask(first, stream);
    ASSERT_EQ(call.choices.size(), 1u);
    ASSERT_EQ(call.choices[0].toolCalls.size(), 1u);
    EXPECT_EQ(call.choices[0].toolCalls[0].name, kToolName);
    EXPECT_EQ(json::parse(call.choices[0].toolCalls[0].arguments), json::parse(kToolArguments));
    EXPECT_FALSE(call.choices[0].toolCalls[0].id.empty());
    EXPECT_EQ(call.choices[0].finish, core::FinishReason::ToolCalls);
    checkUpstreamRequest(stream, false);

    const auto answer = ask(afterToolCall(first, call), stream);
    ASSERT_EQ(answer.choices.size(), 1u);
    EXPECT_EQ(answer.choices[0].text, "It is 18C.");
    checkUpstreamRequest(stream, true);
  }
}

const ProviderCase kProviders[] = {{"openai", Protocol::OpenAi},   {"anthropic", Protocol::Anthropic},
                                   {"gemini", Protocol::Gemini},   {"deepseek", Protocol::OpenAi},
                                   {"qwen", Protocol::OpenAi},     {"qwen-oauth", Protocol::OpenAi},
                                   {"zhipu", Protocol::OpenAi},    {"kiro", Protocol::Kiro}};

std::vector<Contract> allContracts() {
  std::vector<Contract> out;
  for (const auto& provider : kProviders) {
    for (auto client : {core::Dialect::OpenAi, core::Dialect::Anthropic}) out.push_back({provider, client});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(EveryProvider, ProviderContract, ::testing::ValuesIn(allContracts()), [](const auto& info) {
  std::string name = std::string(info.param.provider.type) +
                     (info.param.client == core::Dialect::OpenAi ? "_OpenAiClient" : "_AnthropicClient");
  for (auto& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
});

}  // namespace
}  // namespace llmgate::testing
