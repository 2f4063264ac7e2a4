#include "llmgate/routing/router.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace llmgate::routing {
namespace {

struct Fixture {
  explicit Fixture(const std::string& text, std::map<std::string, std::string> env = {}) {
    config = config::parseConfig(text, [env](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    });
    for (std::size_t i = 0; i < config.providers.size(); ++i) {
      providers.push_back(providers::createProvider(config.providers[i], "providers[" + std::to_string(i) + "]"));
    }
    router = std::make_unique<Router>(config, providers);
  }
  config::Config config;
  std::vector<std::unique_ptr<providers::Provider>> providers;
  std::unique_ptr<Router> router;
};

const char* kConfig = R"({
  "providers": [
    {"name": "mock", "type": "mock", "models": ["mock", "shared"]},
    {"name": "up", "type": "openai", "base_url": "http://127.0.0.1:1/v1", "api_key": "k",
     "models": ["gpt-4o", "shared"], "model_map": {"gpt-4o": "gpt-4o-2024-08-06"}},
    {"name": "off", "type": "openai", "api_key": "${MISSING}", "models": ["off-model"]}
  ],
  "aliases": {"fast": "mock", "smart": "up/gpt-4o", "gone": "off-model"}
})";

TEST(Router, ExactNameRoutesToTheFirstProviderListingIt) {
  Fixture f(kConfig);
  auto route = f.router->resolve("shared");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->targets.front().provider->name(), "mock");
  EXPECT_EQ(route->targets.front().upstreamModel, "shared");
}

TEST(Router, ModelMapRenamesTheUpstreamModel) {
  Fixture f(kConfig);
  auto route = f.router->resolve("gpt-4o");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->targets.front().provider->name(), "up");
  EXPECT_EQ(route->targets.front().upstreamModel, "gpt-4o-2024-08-06");
}

TEST(Router, ExplicitProviderSlashModelReachesAnyModelOfThatProvider) {
  Fixture f(kConfig);
  auto route = f.router->resolve("up/shared");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->targets.front().provider->name(), "up");
  EXPECT_EQ(route->targets.front().upstreamModel, "shared");
  auto unlisted = f.router->resolve("up/o3-mini");
  ASSERT_TRUE(unlisted);
  EXPECT_EQ(unlisted->targets.front().upstreamModel, "o3-mini");
  EXPECT_FALSE(f.router->resolve("up/"));
  EXPECT_FALSE(f.router->resolve("nosuch/model"));
}

TEST(Router, AliasesResolveToTheirTarget) {
  Fixture f(kConfig);
  auto fast = f.router->resolve("fast");
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->targets.front().provider->name(), "mock");
  EXPECT_EQ(fast->model, "fast");
  auto smart = f.router->resolve("smart");
  ASSERT_TRUE(smart);
  EXPECT_EQ(smart->targets.front().upstreamModel, "gpt-4o-2024-08-06");
}

TEST(Router, DisabledProvidersAreNotRoutedOrListed) {
  Fixture f(kConfig);
  EXPECT_FALSE(f.router->resolve("off-model"));
  EXPECT_FALSE(f.router->resolve("off/off-model"));
  EXPECT_FALSE(f.router->resolve("gone"));
  std::vector<std::string> ids;
  for (const auto& model : f.router->models()) ids.push_back(model.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"mock", "shared", "gpt-4o", "fast", "smart"}));
}

TEST(Router, UnknownModelDoesNotRoute) {
  Fixture f(kConfig);
  EXPECT_FALSE(f.router->resolve("gpt-5-turbo-ultra"));
}

TEST(Router, AliasToNothingIsAConfigError) {
  EXPECT_THROW(Fixture(R"({"providers":[{"name":"m","type":"mock","models":["mock"]}],"aliases":{"x":"typo"}})"),
               config::ConfigError);
}

TEST(Router, UnknownProviderTypeIsAConfigErrorNamingThePath) {
  try {
    Fixture(R"({"providers":[{"name":"m","type":"mystery"}]})");
    FAIL() << "expected ConfigError";
  } catch (const config::ConfigError& error) {
    EXPECT_EQ(std::string(error.what()).rfind("providers[0].type: unknown provider type \"mystery\"", 0), 0u);
  }
}

TEST(Router, PatternsRouteNamesNoOneListedAfterEveryExactFormInConfigOrder) {
  Fixture f(R"({"providers":[
    {"name":"claude","type":"anthropic","api_key":"${CLAUDE_KEY}","models":["claude-sonnet-5-5","claude-*"]},
    {"name":"kiro","type":"mock","models":["claude-*","auto"]},
    {"name":"up","type":"openai","base_url":"http://127.0.0.1:1/v1","api_key":"k","models":["gpt-4o","gpt-*","o[0-9]*"],
     "model_map":{"gpt-9":"gpt-9-preview"}}],
    "aliases":{"best":"claude-opus-9-9"}})");
  // The disabled provider's pattern routes nothing: the next enabled provider with one takes it.
  auto claude = f.router->resolve("claude-opus-5-5");
  ASSERT_TRUE(claude);
  EXPECT_EQ(claude->targets.front().provider->name(), "kiro");
  EXPECT_EQ(claude->targets.front().upstreamModel, "claude-opus-5-5");
  EXPECT_EQ(claude->label, "claude-*");
  auto reasoning = f.router->resolve("o7-mini");
  ASSERT_TRUE(reasoning);
  EXPECT_EQ(reasoning->targets.front().provider->name(), "up");
  EXPECT_EQ(reasoning->label, "o[0-9]*");
  // model_map applies to a name a pattern matched; an exact name still wins over the pattern.
  EXPECT_EQ(f.router->resolve("gpt-9")->targets.front().upstreamModel, "gpt-9-preview");
  EXPECT_EQ(f.router->resolve("gpt-4o")->label, "gpt-4o");
  // Aliases may point at a name only a pattern knows.
  EXPECT_EQ(f.router->resolve("best")->targets.front().provider->name(), "kiro");
  EXPECT_FALSE(f.router->resolve("omni"));
  EXPECT_FALSE(f.router->resolve("llama-3"));
  // Listings name concrete models only.
  for (const auto& listed : f.router->models()) EXPECT_FALSE(Router::isPattern(listed.id)) << listed.id;

  Fixture enabled(R"({"providers":[
    {"name":"claude","type":"anthropic","api_key":"k","models":["claude-*"]},
    {"name":"kiro","type":"mock","models":["claude-*"]}]})");
  EXPECT_EQ(enabled.router->resolve("claude-opus-5-5")->targets.front().provider->name(), "claude");
}

std::string shippedDefaultConfig() {
  std::ifstream file(LLMGATE_SOURCE_DIR "/config/default.json");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST(Router, TheDefaultConfigServesWhateverClaudeCodeAsksForWithOneCredential) {
  // Claude Code asks for its default model, a small one for side tasks, and names released later.
  const std::vector<std::string> asked{"claude-opus-5-5", "claude-haiku-4-5-20251001", "claude-sonnet-6-0"};
  Fixture anthropic(shippedDefaultConfig(), {{"ANTHROPIC_API_KEY", "sk-ant"}});
  for (const auto& model : asked) {
    auto route = anthropic.router->resolve(model);
    ASSERT_TRUE(route) << model;
    EXPECT_EQ(route->targets.front().provider->name(), "anthropic") << model;
  }
  const std::string creds = ::testing::TempDir() + "router_test_kiro.json";
  std::ofstream(creds) << R"({"accessToken":"a","refreshToken":"r","expiresAt":"2030-01-01T00:00:00Z","authMethod":"social"})";
  Fixture kiro(shippedDefaultConfig(), {{"KIRO_CREDS", creds}});
  for (const auto& model : asked) {
    auto route = kiro.router->resolve(model);
    ASSERT_TRUE(route) << model;
    EXPECT_EQ(route->targets.front().provider->name(), "kiro") << model;
  }
  std::remove(creds.c_str());
  // With neither, the names are unknown (a 404 naming the model), except the mock's.
  Fixture none(shippedDefaultConfig());
  EXPECT_FALSE(none.router->resolve("claude-opus-5-5"));
  EXPECT_TRUE(none.router->resolve("mock"));
}

}  // namespace
}  // namespace llmgate::routing
