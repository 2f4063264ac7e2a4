#include "llmgate/config/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "llmgate/providers/provider.hpp"

#include <map>

namespace llmgate::config {
namespace {

EnvLookup envOf(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string errorOf(const std::string& text, const EnvLookup& env = envOf({})) {
  try {
    parseConfig(text, env);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

const char* kMinimal = R"({"providers":[{"name":"m","type":"mock","models":["mock"]}]})";

TEST(EnvSubstitution, ExpandsSetVariablesAndDefaults) {
  auto env = envOf({{"A", "1"}, {"EMPTY", ""}});
  EXPECT_EQ(substituteEnv("x${A}y", env).value, "x1y");
  EXPECT_EQ(substituteEnv("${B:-dflt}", env).value, "dflt");
  EXPECT_EQ(substituteEnv("${EMPTY:-dflt}", env).value, "dflt");
  EXPECT_EQ(substituteEnv("${A:-dflt}", env).value, "1");
  EXPECT_EQ(substituteEnv("$$A and $5", env).value, "$A and $5");
  auto missing = substituteEnv("key=${NOPE}", env);
  EXPECT_EQ(missing.value, "key=");
  ASSERT_EQ(missing.missing.size(), 1u);
  EXPECT_EQ(missing.missing[0], "NOPE");
  EXPECT_EQ(substituteEnv("${EMPTY}", env).missing, std::vector<std::string>{"EMPTY"});  // empty is unset
  EXPECT_THROW(substituteEnv("${A", env), ConfigError);
  EXPECT_THROW(substituteEnv("${}", env), ConfigError);
}

TEST(Config, DefaultsApplyWhenSectionsAreAbsent) {
  Config config = parseConfig(kMinimal, envOf({}));
  EXPECT_EQ(config.server.port, 3000);
  EXPECT_EQ(config.server.maxBodyBytes, 10 * 1024 * 1024);
  EXPECT_EQ(config.log.format, "text");
  EXPECT_TRUE(config.apiKeys.empty());
  ASSERT_EQ(config.providers.size(), 1u);
  EXPECT_EQ(config.providers[0].timeouts.connectMs, 10000);
  EXPECT_EQ(config.providers[0].timeouts.totalMs, 60000);
  EXPECT_EQ(config.providers[0].timeouts.idleMs, 60000);
}

TEST(Config, ReadsEveryServerKeyIncludingNumbersFromEnvironment) {
  Config config = parseConfig(R"({
    "server": {"host": "127.0.0.1", "port": "${PORT:-8080}", "threads": 3, "max_body_bytes": 2048,
               "max_header_bytes": 4096, "read_timeout_ms": 500, "write_timeout_ms": 600, "drain_timeout_ms": 700},
    "providers": [{"name": "m", "type": "mock"}]})", envOf({{"PORT", "9001"}}));
  EXPECT_EQ(config.server.host, "127.0.0.1");
  EXPECT_EQ(config.server.port, 9001);
  EXPECT_EQ(config.server.threads, 3);
  EXPECT_EQ(config.server.maxBodyBytes, 2048);
  EXPECT_EQ(config.server.maxHeaderBytes, 4096);
  EXPECT_EQ(config.server.readTimeoutMs, 500);
  EXPECT_EQ(config.server.writeTimeoutMs, 600);
  EXPECT_EQ(config.server.drainTimeoutMs, 700);
}

TEST(Config, ConversationsAndContextShaping) {
  const Config defaults = parseConfig(kMinimal, envOf({}));
  EXPECT_EQ(defaults.conversations.maxBytes, 64LL * 1024 * 1024);
  EXPECT_EQ(defaults.conversations.responseTtlSeconds, 3600);
  EXPECT_EQ(defaults.conversations.sessionTtlSeconds, 1800);
  EXPECT_EQ(defaults.conversations.sessionMaxTurns, 50);
  EXPECT_TRUE(defaults.contextShaping.empty());

  const Config set = parseConfig(R"({"providers":[{"name":"m","type":"mock","models":["mock"]}],
    "conversations":{"max_bytes":1000,"response_ttl_s":60,"session_ttl_s":30,"session_max_turns":4},
    "context_shaping":{"mock":{"keep_last_turns":3,"drop_duplicates":true},
                       "*":{"context_window_tokens":8000,"reserved_output_tokens":1000}}})",
                                 envOf({}));
  EXPECT_EQ(set.conversations.maxBytes, 1000);
  EXPECT_EQ(set.conversations.responseTtlSeconds, 60);
  EXPECT_EQ(set.conversations.sessionTtlSeconds, 30);
  EXPECT_EQ(set.conversations.sessionMaxTurns, 4);
  ASSERT_EQ(set.contextShaping.size(), 2u);
  EXPECT_EQ(set.contextShaping.at("mock").keepLastTurns, 3u);
  EXPECT_TRUE(set.contextShaping.at("mock").dropDuplicates);
  EXPECT_EQ(set.contextShaping.at("mock").contextWindowTokens, 0);
  EXPECT_EQ(set.contextShaping.at("*").contextWindowTokens, 8000);
  EXPECT_EQ(set.contextShaping.at("*").reservedOutputTokens, 1000);

  const std::string providers = R"("providers":[{"name":"m","type":"mock"}])";
  EXPECT_EQ(errorOf("{" + providers + R"(,"context_shaping":{"m":{}}})"),
            "context_shaping.m: no step is on (keep_last_turns, drop_duplicates, context_window_tokens)");
  EXPECT_EQ(errorOf("{" + providers + R"(,"context_shaping":{"m":{"keep_last_turn":2}}})"),
            "context_shaping.m.keep_last_turn: unknown key");
  EXPECT_EQ(errorOf("{" + providers + R"(,"context_shaping":{"m":{"context_window_tokens":100}}})"),
            "context_shaping.m.reserved_output_tokens: must be less than context_window_tokens");
  EXPECT_EQ(errorOf("{" + providers + R"(,"conversations":{"session_max_turns":0}})"),
            "conversations.session_max_turns: must be between 1 and 100000");
}

TEST(Config, NamedGatewayKeysAndRedis) {
  const Config set = parseConfig(R"({"providers":[{"name":"m","type":"mock","models":["mock"]}],
    "auth":{"api_keys":["plain"],
            "keys":[{"name":"team-a","key":"${TEAM_KEY}","models":["gpt-*"],"rpm":60,"tpm":1000,"max_concurrent":4,
                     "budget_tokens":100000,"budget_period":"month"},
                    {"name":"ci","key_sha256":"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae","disabled":true}]},
    "redis":{"url":"redis://cache:6379","timeout_ms":20,"key_prefix":"gw1:"}})",
                                 envOf({{"TEAM_KEY", "sk-team"}}));
  ASSERT_EQ(set.gatewayKeys.size(), 2u);
  const auto& team = set.gatewayKeys[0];
  EXPECT_EQ(team.name, "team-a");
  EXPECT_EQ(team.key, "sk-team");
  EXPECT_EQ(team.models, std::vector<std::string>{"gpt-*"});
  EXPECT_EQ(team.rpm, 60);
  EXPECT_EQ(team.tpm, 1000);
  EXPECT_EQ(team.maxConcurrent, 4);
  EXPECT_EQ(team.budgetTokens, 100000);
  EXPECT_EQ(team.budgetPeriod, "month");
  EXPECT_TRUE(set.gatewayKeys[1].disabled);
  EXPECT_TRUE(set.gatewayKeys[1].key.empty());
  EXPECT_EQ(set.apiKeys, std::vector<std::string>{"plain"});
  EXPECT_EQ(set.redis.url, "redis://cache:6379");
  EXPECT_EQ(set.redis.timeoutMs, 20);
  EXPECT_EQ(set.redis.keyPrefix, "gw1:");
  const Config defaults = parseConfig(kMinimal, envOf({}));
  EXPECT_TRUE(defaults.redis.url.empty());
  EXPECT_EQ(defaults.redis.timeoutMs, 50);

  const std::string providers = R"("providers":[{"name":"m","type":"mock"}])";
  EXPECT_EQ(errorOf("{" + providers + R"(,"auth":{"keys":[{"name":"a"}]}})"),
            "auth.keys[0].key: give the key or its key_sha256 (one of them)");
  EXPECT_EQ(errorOf("{" + providers + R"(,"auth":{"keys":[{"name":"a","key":"k","key_sha256":"ab"}]}})"),
            "auth.keys[0].key: give the key or its key_sha256 (one of them)");
  EXPECT_EQ(errorOf("{" + providers + R"(,"auth":{"keys":[{"name":"a","key_sha256":"ABC"}]}})"),
            "auth.keys[0].key_sha256: expected 64 lowercase hex digits");
  EXPECT_EQ(errorOf("{" + providers + R"(,"auth":{"keys":[{"name":"a","key":"k","budget_period":"year"}]}})"),
            "auth.keys[0].budget_period: expected hour, day, week or month");
  EXPECT_EQ(errorOf("{" + providers + R"(,"auth":{"keys":[{"name":"a","key":"k","rpm":-1}]}})"),
            "auth.keys[0].rpm: must be between 0 and 1000000000000");
  EXPECT_EQ(errorOf("{" + providers + R"(,"auth":{"keys":[{"name":"a","key":"k"},{"name":"a","key":"j"}]}})"),
            "auth: two keys are named \"a\"");
  EXPECT_EQ(errorOf("{" + providers + R"(,"auth":{"keys":{"name":"a"}}})"), "auth.keys: expected array of key objects");
  EXPECT_EQ(errorOf("{" + providers + R"(,"auth":{"keys_file":"/nonexistent/keys.json"}})"),
            "auth.keys_file: cannot read /nonexistent/keys.json");
  EXPECT_EQ(errorOf("{" + providers + R"(,"redis":{"timeout_ms":0}})"), "redis.timeout_ms: must be between 1 and 60000");
}

TEST(Config, RedisUrlsAsOperatorsWriteThem) {
  const auto redisOf = [](const std::string& url) {
    return parseConfig(R"({"providers":[{"name":"m","type":"mock"}],"redis":{"url":")" + url + R"("}})", envOf({})).redis;
  };
  const auto plain = redisOf("redis://cache:6380");
  EXPECT_EQ(plain.host, "cache");
  EXPECT_EQ(plain.port, 6380);
  EXPECT_TRUE(plain.password.empty());
  const auto full = redisOf("redis://app:s3cret@10.0.0.5:6379/2");
  EXPECT_EQ(full.user, "app");
  EXPECT_EQ(full.password, "s3cret");
  EXPECT_EQ(full.host, "10.0.0.5");
  EXPECT_EQ(full.database, 2);
  const auto password = redisOf("redis://:pw@localhost");
  EXPECT_EQ(password.user, "");
  EXPECT_EQ(password.password, "pw");
  EXPECT_EQ(password.port, 6379);
  for (const std::string bad : {"http://x:1", "redis://", "redis://h:0", "redis://h:99999", "redis://h:x", "redis://:pw@h/db"}) {
    const std::string error = errorOf(R"({"providers":[{"name":"m","type":"mock"}],"redis":{"url":")" + bad + R"("}})");
    EXPECT_EQ(error.rfind("redis.url: ", 0), 0u) << bad << ": " << error;
    EXPECT_EQ(error.find("pw"), std::string::npos) << "the url (and its password) is not repeated";
  }
}

TEST(Config, AReloadKeepsTheRedisItStartedWithWholly) {
  const auto configWith = [](const std::string& url) {
    return parseConfig(R"({"providers":[{"name":"m","type":"mock"}],"redis":{"url":")" + url + R"("}})", envOf({}));
  };
  const Config running = configWith("redis://app:old@10.0.0.5:6379/2");
  Config loaded = configWith("redis://other:new@10.0.0.9:6390/3");
  const auto changed = keepRestartOnlySettings(running, loaded);
  EXPECT_NE(std::find(changed.begin(), changed.end(), "redis.url"), changed.end());
  // Every reader of the config (the OAuth refresher of a new generation among them) sees the
  // Redis the limiter and the cache use.
  EXPECT_EQ(loaded.redis.url, running.redis.url);
  EXPECT_EQ(loaded.redis.host, "10.0.0.5");
  EXPECT_EQ(loaded.redis.port, 6379);
  EXPECT_EQ(loaded.redis.user, "app");
  EXPECT_EQ(loaded.redis.password, "old");
  EXPECT_EQ(loaded.redis.database, 2);
}

TEST(Config, ErrorsNameTheKeyPath) {
  EXPECT_EQ(errorOf(R"({"server":{"port":"abc"},"providers":[{"name":"m","type":"mock"}]})"),
            "server.port: expected integer, got \"abc\"");
  EXPECT_EQ(errorOf(R"({"server":{"port":70000},"providers":[{"name":"m","type":"mock"}]})"),
            "server.port: must be between 0 and 65535");
  EXPECT_EQ(errorOf(R"({"server":{"prot":1},"providers":[{"name":"m","type":"mock"}]})"), "server.prot: unknown key");
  EXPECT_EQ(errorOf(R"({"providers":[{"name":"m","type":"mock"},{"type":"openai"}]})"), "providers[1].name: required");
  EXPECT_EQ(errorOf(R"({"providers":[{"name":"m","type":"mock","models":"x"}]})"),
            "providers[0].models: expected array of strings, got string");
  EXPECT_EQ(errorOf(R"({"providers":[{"name":"m","type":"mock","timeouts":{"connect_ms":0}}]})"),
            "providers[0].timeouts.connect_ms: must be between 1 and 86400000");
  EXPECT_EQ(errorOf(R"({"providers":[{"name":"m","type":"mock"},{"name":"m","type":"mock"}]})"),
            "providers[1].name: duplicate provider name \"m\"");
  EXPECT_EQ(errorOf(R"({"providers":[]})"), "providers: expected a non-empty array of provider blocks");
  EXPECT_EQ(errorOf(R"({"log":{"format":"xml"},"providers":[{"name":"m","type":"mock"}]})"),
            "log.format: expected text or json");
  EXPECT_NE(errorOf("{not json").find("invalid JSON"), std::string::npos);
}

TEST(Config, MissingVariableInProviderDisablesItWithoutNamingAValue) {
  Config config = parseConfig(R"({"providers":[
      {"name":"m","type":"mock"},
      {"name":"o","type":"openai","api_key":"${OPENAI_API_KEY}"}]})", envOf({}));
  EXPECT_TRUE(config.providers[0].enabled);
  EXPECT_FALSE(config.providers[1].enabled);
  EXPECT_EQ(config.providers[1].disabledReason, "environment variable OPENAI_API_KEY is not set (or empty)");

  // OPENAI_API_KEY= (set, empty: what a compose file passes for an absent variable) is no key.
  Config emptyKey = parseConfig(R"({"providers":[{"name":"o","type":"openai","api_key":"${OPENAI_API_KEY}"}]})",
                                envOf({{"OPENAI_API_KEY", ""}}));
  EXPECT_FALSE(emptyKey.providers[0].enabled);

  Config withKey = parseConfig(R"({"providers":[{"name":"o","type":"openai","api_key":"${OPENAI_API_KEY}"}]})",
                               envOf({{"OPENAI_API_KEY", "sk-secret"}}));
  EXPECT_TRUE(withKey.providers[0].enabled);
  EXPECT_EQ(withKey.providers[0].apiKeys, std::vector<std::string>{"sk-secret"});
}

TEST(Config, MissingVariableOutsideProvidersIsAnError) {
  EXPECT_EQ(errorOf(R"({"server":{"host":"${HOST}"},"providers":[{"name":"m","type":"mock"}]})"),
            "server.host: environment variable HOST is not set or empty (use ${HOST:-default} for an optional value)");
}

TEST(Config, EmptyApiKeysAreDroppedSoOptionalKeysTurnAuthOff) {
  const char* text = R"({"auth":{"api_keys":["${K:-}","fixed"]},"providers":[{"name":"m","type":"mock"}]})";
  EXPECT_EQ(parseConfig(text, envOf({})).apiKeys, std::vector<std::string>{"fixed"});
  EXPECT_EQ(parseConfig(text, envOf({{"K", "k1"}})).apiKeys, (std::vector<std::string>{"k1", "fixed"}));
}

TEST(Config, ProvidersWithCredentialsAreNotServedBeyondLoopbackWithoutAGatewayKey) {
  const std::string providers = R"("providers":[{"name":"m","type":"mock"},{"name":"oa","type":"openai","api_key":"k"}])";
  auto problemOf = [&](const std::string& server, const std::string& extra = "") {
    return exposureProblem(parseConfig("{" + server + providers + extra + "}", envOf({})));
  };
  EXPECT_EQ(problemOf(""), "");  // loopback by default
  EXPECT_EQ(parseConfig("{" + providers + "}", envOf({})).server.host, "127.0.0.1");
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"}) {
    EXPECT_EQ(problemOf(std::string(R"("server":{"host":")") + host + R"("},)"), "") << host;
  }
  for (const char* host : {"0.0.0.0", "::", "0:0:0:0:0:0:0:0", "10.0.0.7", "::ffff:10.0.0.7", "128.0.0.1"}) {
    EXPECT_NE(problemOf(std::string(R"("server":{"host":")") + host + R"("},)"), "") << host;
  }
  const std::string exposed = problemOf(R"("server":{"host":"0.0.0.0"},)");
  EXPECT_NE(exposed.find("server.host 0.0.0.0 is reachable from other machines"), std::string::npos) << exposed;
  EXPECT_NE(exposed.find("(oa)"), std::string::npos) << exposed;
  EXPECT_EQ(problemOf(R"("server":{"host":"0.0.0.0"},)", R"(,"auth":{"api_keys":["g"]})"), "");
  EXPECT_EQ(problemOf(R"("server":{"host":"0.0.0.0","allow_unauthenticated":true},)"), "");
  // Only the mock, a provider without a key (a LAN vLLM, say), or the real provider disabled:
  // no credentials to lend, nothing to refuse.
  EXPECT_EQ(exposureProblem(parseConfig(
                R"({"server":{"host":"0.0.0.0"},"providers":[{"name":"vllm","type":"openai","base_url":"http://10.0.0.9/v1"}]})",
                envOf({}))),
            "");
  EXPECT_EQ(exposureProblem(parseConfig(R"({"server":{"host":"0.0.0.0"},"providers":[{"name":"m","type":"mock"}]})", envOf({}))), "");
  EXPECT_EQ(exposureProblem(parseConfig(
                R"({"server":{"host":"0.0.0.0"},"providers":[{"name":"oa","type":"openai","api_key":"k","enabled":false}]})",
                envOf({}))),
            "");
}

TEST(Config, ShippedConfigsParse) {
  for (const char* path : {LLMGATE_SOURCE_DIR "/config/default.json", LLMGATE_SOURCE_DIR "/config/example.full.json"}) {
    Config config = loadConfigFile(path, envOf({}));
    EXPECT_FALSE(config.providers.empty()) << path;
    bool mockEnabled = false;
    for (const auto& provider : config.providers) {
      mockEnabled = mockEnabled || (provider.type == "mock" && provider.enabled);
      // Type-specific keys are checked when the provider is built.
      EXPECT_NO_THROW(providers::createProvider(provider, provider.name)) << path << ": " << provider.name;
    }
    EXPECT_TRUE(mockEnabled) << path;
  }
}

}  // namespace
}  // namespace llmgate::config
