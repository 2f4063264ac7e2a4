#include "llmgate/config/config.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace llmgate::config {
namespace {

using nlohmann::json;

std::string typeName(const json& value) { return value.type_name(); }

// Substitutes every string in place; variables missing under providers[i] disable that
// provider, anywhere else they are an error.
void substituteTree(json& node, const std::string& path, const EnvLookup& env,
                    std::vector<std::pair<std::string, std::string>>& missing) {
  if (node.is_string()) {
    auto result = substituteEnv(node.get_ref<const std::string&>(), env);
    for (auto& name : result.missing) missing.emplace_back(path, name);
    node = std::move(result.value);
  } else if (node.is_object()) {
    for (auto& [key, value] : node.items()) {
      if (!key.empty() && key.front() == '$') continue;  // comments are left as written
      substituteTree(value, path + "." + key, env, missing);
    }
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      substituteTree(node[i], path + "[" + std::to_string(i) + "]", env, missing);
    }
  }
}

UpstreamTimeouts readTimeouts(const JsonReader& provider) {
  UpstreamTimeouts timeouts;
  const json* block = provider.find("timeouts");
  if (block == nullptr) return timeouts;
  if (!block->is_object()) provider.fail("timeouts", "expected object, got " + typeName(*block));
  JsonReader reader(*block, provider.pathOf("timeouts"));
  reader.rejectUnknownKeys({"connect_ms", "first_byte_ms", "idle_ms", "total_ms", "stream_total_ms"});
  constexpr std::int64_t kDay = 24LL * 3600 * 1000;
  timeouts.connectMs = reader.integer("connect_ms", timeouts.connectMs, 1, kDay);
  timeouts.firstByteMs = reader.integer("first_byte_ms", timeouts.firstByteMs, 1, kDay);
  timeouts.idleMs = reader.integer("idle_ms", timeouts.idleMs, 1, kDay);
  timeouts.totalMs = reader.integer("total_ms", timeouts.totalMs, 1, kDay);
  timeouts.streamTotalMs = reader.integer("stream_total_ms", timeouts.streamTotalMs, 0, kDay);
  return timeouts;
}

resilience::RetryConfig readRetry(const JsonReader& provider) {
  resilience::RetryConfig retry;
  const json* block = provider.find("retry");
  if (block == nullptr) return retry;
  if (!block->is_object()) provider.fail("retry", "expected object");
  JsonReader reader(*block, provider.pathOf("retry"));
  reader.rejectUnknownKeys({"max_attempts", "base_delay_ms", "max_delay_ms", "jitter_percent", "budget_percent",
                            "budget_min_per_second", "same_deployment_after_timeout"});
  retry.maxAttempts = static_cast<int>(reader.integer("max_attempts", retry.maxAttempts, 1, 10));
  retry.baseDelay = resilience::Millis(reader.integer("base_delay_ms", retry.baseDelay.count(), 0, 600000));
  retry.maxDelay = resilience::Millis(reader.integer("max_delay_ms", retry.maxDelay.count(), 0, 3600000));
  retry.jitter = static_cast<double>(reader.integer("jitter_percent", 20, 0, 100)) / 100.0;
  retry.budgetRatio = static_cast<double>(reader.integer("budget_percent", 20, 0, 1000)) / 100.0;
  retry.budgetMinPerSecond = static_cast<double>(reader.integer("budget_min_per_second", 5, 0, 100000));
  retry.sameDeploymentAfterTimeout = reader.boolean("same_deployment_after_timeout", false);
  return retry;
}

resilience::BreakerConfig readBreaker(const JsonReader& provider) {
  resilience::BreakerConfig breaker;
  const json* block = provider.find("breaker");
  if (block == nullptr) return breaker;
  if (!block->is_object()) provider.fail("breaker", "expected object");
  JsonReader reader(*block, provider.pathOf("breaker"));
  reader.rejectUnknownKeys({"failure_threshold", "open_ms", "success_threshold", "half_open_probes"});
  breaker.failureThreshold = static_cast<int>(reader.integer("failure_threshold", breaker.failureThreshold, 1, 1000000));
  breaker.openFor = resilience::Millis(reader.integer("open_ms", breaker.openFor.count(), 1, 86400000));
  breaker.successThreshold = static_cast<int>(reader.integer("success_threshold", breaker.successThreshold, 1, 1000));
  breaker.halfOpenProbes = static_cast<int>(reader.integer("half_open_probes", breaker.halfOpenProbes, 1, 1000));
  return breaker;
}

ProviderConfig readProvider(const json& block, const std::string& path) {
  if (!block.is_object()) throw ConfigError(path + ": expected object, got " + typeName(block));
  JsonReader reader(block, path);
  ProviderConfig provider;
  provider.name = reader.requiredString("name");
  if (provider.name.empty() || provider.name.find('/') != std::string::npos) {
    reader.fail("name", "must be non-empty and contain no '/'");
  }
  provider.type = reader.requiredString("type");
  provider.enabled = reader.boolean("enabled", true);
  provider.baseUrl = reader.string("base_url", "");
  while (!provider.baseUrl.empty() && provider.baseUrl.back() == '/') provider.baseUrl.pop_back();
  if (std::string key = reader.string("api_key", ""); !key.empty()) provider.apiKeys.push_back(std::move(key));
  // Empty entries come from optional variables and mean "no key".
  for (auto& key : reader.stringList("api_keys")) {
    if (!key.empty()) provider.apiKeys.push_back(std::move(key));
  }
  provider.models = reader.stringList("models");
  provider.modelMap = reader.stringMap("model_map");
  for (auto& [name, value] : reader.stringMap("headers")) provider.headers.emplace_back(name, value);
  provider.timeouts = readTimeouts(reader);
  provider.retry = readRetry(reader);
  provider.breaker = readBreaker(reader);
  provider.block = block;
  return provider;
}

}  // namespace

JsonReader::JsonReader(const nlohmann::json& object, std::string path)
    : object_(object), path_(std::move(path)) {}

std::string JsonReader::pathOf(const char* key) const {
  return path_.empty() ? std::string(key) : path_ + "." + key;
}

void JsonReader::fail(const char* key, const std::string& what) const {
  throw ConfigError(pathOf(key) + ": " + what);
}

const nlohmann::json* JsonReader::find(const char* key) const {
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string JsonReader::string(const char* key, std::string fallback) const {
  const json* value = find(key);
  if (value == nullptr) return fallback;
  if (!value->is_string()) fail(key, "expected string, got " + typeName(*value));
  return value->get<std::string>();
}

std::string JsonReader::requiredString(const char* key) const {
  const json* value = find(key);
  if (value == nullptr) fail(key, "required");
  return string(key, "");
}

std::int64_t JsonReader::integer(const char* key, std::int64_t fallback, std::int64_t min,
                                 std::int64_t max) const {
  const json* value = find(key);
  if (value == nullptr) return fallback;
  std::int64_t number = 0;
  if (value->is_number_integer()) {
    number = value->get<std::int64_t>();
  } else if (value->is_string()) {
    // Strings appear after ${ENV} substitution ("port": "${PORT:-3000}").
    const auto& text = value->get_ref<const std::string&>();
    std::size_t used = 0;
    try {
      number = std::stoll(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size()) fail(key, "expected integer, got \"" + text + "\"");
  } else {
    fail(key, "expected integer, got " + typeName(*value));
  }
  if (number < min || number > max) {
    fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return number;
}

bool JsonReader::boolean(const char* key, bool fallback) const {
  const json* value = find(key);
  if (value == nullptr) return fallback;
  if (value->is_boolean()) return value->get<bool>();
  if (value->is_string()) {
    const auto& text = value->get_ref<const std::string&>();
    if (text == "true") return true;
    if (text == "false") return false;
  }
  fail(key, "expected boolean, got " + typeName(*value));
}

std::vector<std::string> JsonReader::stringList(const char* key) const {
  std::vector<std::string> out;
  const json* value = find(key);
  if (value == nullptr) return out;
  if (!value->is_array()) fail(key, "expected array of strings, got " + typeName(*value));
  for (std::size_t i = 0; i < value->size(); ++i) {
    if (!(*value)[i].is_string()) {
      fail(key, "element " + std::to_string(i) + ": expected string, got " + typeName((*value)[i]));
    }
    out.push_back((*value)[i].get<std::string>());
  }
  return out;
}

std::vector<std::string> JsonReader::stringOrList(const char* key) const {
  if (const json* value = find(key); value != nullptr && value->is_string()) return {value->get<std::string>()};
  return stringList(key);
}

std::map<std::string, std::string> JsonReader::stringMap(const char* key) const {
  std::map<std::string, std::string> out;
  const json* value = find(key);
  if (value == nullptr) return out;
  if (!value->is_object()) fail(key, "expected object of strings, got " + typeName(*value));
  for (const auto& [name, item] : value->items()) {
    if (!item.is_string()) fail(key, "\"" + name + "\": expected string, got " + typeName(item));
    out.emplace(name, item.get<std::string>());
  }
  return out;
}

void JsonReader::rejectUnknownKeys(const std::vector<std::string_view>& known) const {
  for (const auto& [key, value] : object_.items()) {
    if (!key.empty() && key.front() == '$') continue;  // "$comment" and friends annotate configs
    bool found = false;
    for (std::string_view name : known) found = found || key == name;
    if (!found) throw ConfigError(pathOf(key.c_str()) + ": unknown key");
  }
}

namespace {

// A parse error without the text it stopped in ("last read: '...'"): a key may be that text.
std::string withoutTextRead(const json::parse_error& error) {
  std::string what = error.what();
  if (const auto cut = what.find("; last read"); cut != std::string::npos) what.erase(cut);
  return what;
}

bool isSha256Hex(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

GatewayKey parseGatewayKey(const json& block, const std::string& path) {
  if (!block.is_object()) throw ConfigError(path + ": expected object");
  JsonReader reader(block, path);
  reader.rejectUnknownKeys({"name", "key", "key_sha256", "disabled", "models", "rpm", "tpm", "max_concurrent",
                            "budget_tokens", "budget_period"});
  GatewayKey key;
  key.name = reader.requiredString("name");
  key.key = reader.string("key", "");
  key.keySha256 = reader.string("key_sha256", "");
  if (key.key.empty() == key.keySha256.empty()) reader.fail("key", "give the key or its key_sha256 (one of them)");
  if (!key.keySha256.empty() && !isSha256Hex(key.keySha256)) reader.fail("key_sha256", "expected 64 lowercase hex digits");
  key.disabled = reader.boolean("disabled", false);
  key.models = reader.stringList("models");
  constexpr std::int64_t kMax = 1'000'000'000'000;
  key.rpm = reader.integer("rpm", 0, 0, kMax);
  key.tpm = reader.integer("tpm", 0, 0, kMax);
  key.maxConcurrent = reader.integer("max_concurrent", 0, 0, 1'000'000);
  key.budgetTokens = reader.integer("budget_tokens", 0, 0, kMax);
  key.budgetPeriod = reader.string("budget_period", key.budgetPeriod);
  if (key.budgetPeriod != "hour" && key.budgetPeriod != "day" && key.budgetPeriod != "week" && key.budgetPeriod != "month") {
    reader.fail("budget_period", "expected hour, day, week or month");
  }
  return key;
}

}  // namespace

void parseRedisUrl(RedisConfig& redis) {
  const auto fail = [](const std::string& what) { throw ConfigError("redis.url: " + what); };
  const auto number = [&](std::string_view text, int min, int max, const char* what) {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) fail(what);
    return value;
  };
  constexpr std::string_view kScheme = "redis://";
  std::string_view rest = redis.url;
  if (rest.rfind(kScheme, 0) != 0) fail("expected redis://[[user]:password@]host[:port][/db]");
  rest.remove_prefix(kScheme.size());
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    const auto colon = credentials.find(':');
    redis.user = colon == std::string_view::npos ? std::string() : std::string(credentials.substr(0, colon));
    redis.password = std::string(colon == std::string_view::npos ? credentials : credentials.substr(colon + 1));
  }
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (slash + 1 < rest.size()) redis.database = number(rest.substr(slash + 1), 0, 1 << 20, "the database after / must be a number");
    rest = rest.substr(0, slash);
  }
  if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    redis.port = number(rest.substr(colon + 1), 1, 65535, "the port must be a number from 1 to 65535");
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) fail("no host");
  redis.host = std::string(rest);
}

std::vector<GatewayKey> parseGatewayKeys(const json& list, const std::string& path) {
  if (!list.is_array()) throw ConfigError(path + ": expected array of key objects");
  std::vector<GatewayKey> keys;
  for (std::size_t i = 0; i < list.size(); ++i) keys.push_back(parseGatewayKey(list[i], path + "[" + std::to_string(i) + "]"));
  return keys;
}

std::vector<GatewayKey> loadGatewayKeysFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ConfigError("auth.keys_file: cannot read " + path);
  std::ostringstream text;
  text << file.rdbuf();
  json root;
  try {
    root = json::parse(text.str());
  } catch (const json::parse_error& error) {
    throw ConfigError("auth.keys_file: " + path + ": invalid JSON: " + withoutTextRead(error));
  }
  // The list itself, or an object holding it under "keys".
  if (root.is_object() && root.contains("keys")) return parseGatewayKeys(root["keys"], path + ": keys");
  return parseGatewayKeys(root, path);
}

Config parseConfig(const std::string& text, const EnvLookup& env) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& error) {
    throw ConfigError("invalid JSON: " + withoutTextRead(error));
  }
  if (!root.is_object()) throw ConfigError("top level: expected object, got " + typeName(root));

  std::vector<std::pair<std::string, std::string>> missing;
  substituteTree(root, "", env, missing);

  JsonReader top(root, "");
  top.rejectUnknownKeys({"server", "log", "upstream", "conversion_cache", "conversations", "context_shaping", "response_cache", "auth",
                         "redis", "providers", "aliases", "routes"});
  Config config;

  // Missing variables outside a provider block have no safe meaning.
  for (const auto& [path, name] : missing) {
    if (path.rfind(".providers[", 0) != 0) {
      throw ConfigError(path.substr(1) + ": environment variable " + name +
                        " is not set or empty (use ${" + name + ":-default} for an optional value)");
    }
  }

  if (const json* server = top.find("server")) {
    if (!server->is_object()) top.fail("server", "expected object");
    JsonReader reader(*server, "server");
    reader.rejectUnknownKeys({"host", "port", "threads", "max_body_bytes", "max_header_bytes",
                              "read_timeout_ms", "write_timeout_ms", "drain_timeout_ms", "drain_idle_grace_ms", "stream_keepalive_ms",
                              "max_connections", "allow_unauthenticated"});
    config.streamKeepaliveMs = reader.integer("stream_keepalive_ms", 0, 0, 3600000);
    auto& s = config.server;
    s.host = reader.string("host", s.host);
    s.port = static_cast<int>(reader.integer("port", s.port, 0, 65535));
    s.threads = static_cast<int>(reader.integer("threads", s.threads, 0, 1024));
    s.maxBodyBytes = reader.integer("max_body_bytes", s.maxBodyBytes, 1024, 1LL << 32);
    s.maxHeaderBytes = reader.integer("max_header_bytes", s.maxHeaderBytes, 1024, 1 << 20);
    s.readTimeoutMs = reader.integer("read_timeout_ms", s.readTimeoutMs, 100, 3600000);
    s.writeTimeoutMs = reader.integer("write_timeout_ms", s.writeTimeoutMs, 100, 3600000);
    s.drainTimeoutMs = reader.integer("drain_timeout_ms", s.drainTimeoutMs, 0, 3600000);
    s.drainIdleGraceMs = reader.integer("drain_idle_grace_ms", s.drainIdleGraceMs, 0, 60000);
    s.maxConnections = reader.integer("max_connections", s.maxConnections, 0, 100000000);
    s.allowUnauthenticated = reader.boolean("allow_unauthenticated", false);
  }
  if (const json* log = top.find("log")) {
    if (!log->is_object()) top.fail("log", "expected object");
    JsonReader reader(*log, "log");
    reader.rejectUnknownKeys({"level", "format"});
    config.log.level = reader.string("level", config.log.level);
    config.log.format = reader.string("format", config.log.format);
    static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    bool levelOk = false;
    for (const char* level : kLevels) levelOk = levelOk || config.log.level == level;
    if (!levelOk) reader.fail("level", "expected one of trace|debug|info|warn|error|critical|off");
    if (config.log.format != "text" && config.log.format != "json") {
      reader.fail("format", "expected text or json");
    }
  }
  if (const json* upstream = top.find("upstream")) {
    if (!upstream->is_object()) top.fail("upstream", "expected object");
    JsonReader reader(*upstream, "upstream");
    reader.rejectUnknownKeys({"max_cached_connections", "idle_seconds", "prewarm_connections"});
    config.upstream.maxCachedConnections =
        reader.integer("max_cached_connections", config.upstream.maxCachedConnections, 1, 100000);
    config.upstream.idleSeconds = reader.integer("idle_seconds", config.upstream.idleSeconds, 1, 86400);
    config.upstream.prewarmConnections =
        reader.integer("prewarm_connections", config.upstream.prewarmConnections, 0, 64);
  }
  if (const json* cache = top.find("conversion_cache")) {
    if (!cache->is_object()) top.fail("conversion_cache", "expected object");
    JsonReader reader(*cache, "conversion_cache");
    reader.rejectUnknownKeys({"entries", "max_body_bytes"});
    auto& c = config.conversionCache;
    c.entries = static_cast<std::size_t>(reader.integer("entries", static_cast<std::int64_t>(c.entries), 0, 1000000));
    c.maxBodyBytes = static_cast<std::size_t>(
        reader.integer("max_body_bytes", static_cast<std::int64_t>(c.maxBodyBytes), 0, 64LL * 1024 * 1024));
  }
  if (const json* conversations = top.find("conversations")) {
    if (!conversations->is_object()) top.fail("conversations", "expected object");
    JsonReader reader(*conversations, "conversations");
    reader.rejectUnknownKeys({"max_bytes", "response_ttl_s", "session_ttl_s", "session_max_turns"});
    auto& c = config.conversations;
    c.maxBytes = reader.integer("max_bytes", c.maxBytes, 0, 1LL << 40);
    c.responseTtlSeconds = reader.integer("response_ttl_s", c.responseTtlSeconds, 1, 30LL * 86400);
    c.sessionTtlSeconds = reader.integer("session_ttl_s", c.sessionTtlSeconds, 1, 30LL * 86400);
    c.sessionMaxTurns = reader.integer("session_max_turns", c.sessionMaxTurns, 1, 100000);
  }
  if (const json* cache = top.find("response_cache")) {
    if (!cache->is_object()) top.fail("response_cache", "expected object");
    JsonReader reader(*cache, "response_cache");
    reader.rejectUnknownKeys({"max_bytes", "ttl_s", "routes"});
    auto& c = config.responseCache;
    c.maxBytes = reader.integer("max_bytes", c.maxBytes, 0, 1LL << 40);
    c.ttlSeconds = reader.integer("ttl_s", c.ttlSeconds, 1, 30LL * 86400);
    if (const json* routes = reader.find("routes")) {
      if (!routes->is_object()) reader.fail("routes", "expected object of {route: cache settings}");
      for (const auto& [label, block] : routes->items()) {
        const std::string path = "response_cache.routes." + label;
        if (!block.is_object()) throw ConfigError(path + ": expected object");
        JsonReader route(block, path);
        route.rejectUnknownKeys({"sampled", "coalesce", "ttl_s"});
        ResponseCacheRoute settings;
        settings.sampled = route.boolean("sampled", false);
        settings.coalesce = route.boolean("coalesce", false);
        settings.ttlSeconds = route.integer("ttl_s", 0, 0, 30LL * 86400);
        c.routes.emplace(label, settings);
      }
    }
  }
  if (const json* shaping = top.find("context_shaping")) {
    if (!shaping->is_object()) top.fail("context_shaping", "expected object of {route: shaping}");
    for (const auto& [label, block] : shaping->items()) {
      const std::string path = "context_shaping." + label;
      if (!block.is_object()) throw ConfigError(path + ": expected object");
      JsonReader reader(block, path);
      reader.rejectUnknownKeys({"keep_last_turns", "drop_duplicates", "context_window_tokens", "reserved_output_tokens"});
      core::ContextShaping steps;
      steps.keepLastTurns = static_cast<std::size_t>(reader.integer("keep_last_turns", 0, 0, 100000));
      steps.dropDuplicates = reader.boolean("drop_duplicates", false);
      steps.contextWindowTokens = reader.integer("context_window_tokens", 0, 0, 100000000);
      steps.reservedOutputTokens = reader.integer("reserved_output_tokens", steps.reservedOutputTokens, 0, 100000000);
      if (!steps.any()) throw ConfigError(path + ": no step is on (keep_last_turns, drop_duplicates, context_window_tokens)");
      if (steps.contextWindowTokens > 0 && steps.reservedOutputTokens >= steps.contextWindowTokens) {
        reader.fail("reserved_output_tokens", "must be less than context_window_tokens");
      }
      config.contextShaping.emplace(label, steps);
    }
  }
  if (const json* auth = top.find("auth")) {
    if (!auth->is_object()) top.fail("auth", "expected object");
    JsonReader reader(*auth, "auth");
    reader.rejectUnknownKeys({"api_keys", "keys", "keys_file"});
    // Empty entries come from optional variables (${LLMGATE_API_KEY:-}) and mean "no key".
    for (auto& key : reader.stringList("api_keys")) {
      if (!key.empty()) config.apiKeys.push_back(std::move(key));
    }
    if (const json* keys = reader.find("keys")) config.gatewayKeys = parseGatewayKeys(*keys, "auth.keys");
    config.keysFile = reader.string("keys_file", "");
    if (!config.keysFile.empty()) {
      for (auto& key : loadGatewayKeysFile(config.keysFile)) config.gatewayKeys.push_back(std::move(key));
    }
    std::set<std::string> names;
    for (const auto& key : config.gatewayKeys) {
      if (!names.insert(key.name).second) throw ConfigError("auth: two keys are named \"" + key.name + "\"");
    }
  }
  if (const json* redis = top.find("redis")) {
    if (!redis->is_object()) top.fail("redis", "expected object");
    JsonReader reader(*redis, "redis");
    reader.rejectUnknownKeys({"url", "timeout_ms", "key_prefix"});
    config.redis.url = reader.string("url", "");
    config.redis.timeoutMs = reader.integer("timeout_ms", config.redis.timeoutMs, 1, 60000);
    config.redis.keyPrefix = reader.string("key_prefix", config.redis.keyPrefix);
    if (!config.redis.url.empty()) parseRedisUrl(config.redis);
  }
  config.aliases = top.stringMap("aliases");
  if (const json* routes = top.find("routes")) {
    if (!routes->is_object()) top.fail("routes", "expected object of route blocks");
    for (const auto& [name, block] : routes->items()) {
      const std::string path = "routes." + name;
      if (!block.is_object()) throw ConfigError(path + ": expected object");
      JsonReader reader(block, path);
      reader.rejectUnknownKeys({"strategy", "targets"});
      RouteConfig route;
      route.strategy = reader.string("strategy", route.strategy);
      static const char* kStrategies[] = {"ordered", "round_robin", "weighted", "least_latency", "least_busy"};
      bool known = false;
      for (const char* strategy : kStrategies) known = known || route.strategy == strategy;
      if (!known) reader.fail("strategy", "expected ordered, round_robin, weighted, least_latency or least_busy");
      const json* targets = reader.find("targets");
      if (targets == nullptr || !targets->is_array() || targets->empty()) reader.fail("targets", "expected a non-empty array");
      for (std::size_t i = 0; i < targets->size(); ++i) {
        const json& target = (*targets)[i];
        const std::string targetPath = path + ".targets[" + std::to_string(i) + "]";
        if (target.is_string()) {
          route.targets.emplace_back(target.get<std::string>(), 1);
          continue;
        }
        if (!target.is_object()) throw ConfigError(targetPath + ": expected \"provider/model\" or {model, weight}");
        JsonReader item(target, targetPath);
        item.rejectUnknownKeys({"model", "weight"});
        route.targets.emplace_back(item.requiredString("model"), static_cast<int>(item.integer("weight", 1, 1, 1000000)));
      }
      config.routes.emplace(name, std::move(route));
    }
  }

  const json* providers = top.find("providers");
  if (providers == nullptr || !providers->is_array() || providers->empty()) {
    top.fail("providers", "expected a non-empty array of provider blocks");
  }
  for (std::size_t i = 0; i < providers->size(); ++i) {
    const std::string path = "providers[" + std::to_string(i) + "]";
    ProviderConfig provider = readProvider((*providers)[i], path);
    for (const auto& existing : config.providers) {
      if (existing.name == provider.name) {
        throw ConfigError(path + ".name: duplicate provider name \"" + provider.name + "\"");
      }
    }
    for (const auto& [where, name] : missing) {
      if (where.rfind("." + path + ".", 0) == 0 && provider.enabled) {
        provider.enabled = false;
        provider.disabledReason = "environment variable " + name + " is not set (or empty)";
      }
    }
    config.providers.push_back(std::move(provider));
  }
  return config;
}

Config loadConfigFile(const std::string& path, const EnvLookup& env) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ConfigError("cannot read config file " + path);
  std::ostringstream text;
  text << file.rdbuf();
  try {
    return parseConfig(text.str(), env);
  } catch (const ConfigError& error) {
    throw ConfigError(path + ": " + error.what());
  }
}

namespace {

// A literal loopback address: 127.0.0.0/8, ::1, or IPv4-mapped 127.x (what the server can bind).
bool isLoopback(const std::string& host) {
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

// Whether serving `provider` spends something of the operator's: an API key or a credential file.
bool holdsCredentials(const ProviderConfig& provider) {
  return !provider.apiKeys.empty() || provider.block.contains("credentials") || provider.block.contains("oauth_credentials");
}

}  // namespace

std::string exposureProblem(const Config& config) {
  if (isLoopback(config.server.host) || !config.apiKeys.empty() || !config.gatewayKeys.empty() ||
      config.server.allowUnauthenticated) {
    return {};
  }
  std::string exposed;
  for (const auto& provider : config.providers) {
    if (!provider.enabled || !holdsCredentials(provider)) continue;
    exposed += (exposed.empty() ? "" : ", ") + provider.name;
  }
  if (exposed.empty()) return {};
  return "server.host " + config.server.host + " is reachable from other machines and providers with credentials are "
         "enabled (" + exposed + "), but no gateway key is set: anyone who can reach the port would spend them. Set a "
         "gateway key (auth.api_keys; LLMGATE_API_KEY with the default config), listen on loopback (--host 127.0.0.1), "
         "or accept it with server.allow_unauthenticated: true (LLMGATE_ALLOW_UNAUTHENTICATED=true with the default "
         "config)";
}

namespace {

template <typename Value>
void keepSetting(const char* key, const Value& inForce, Value& loaded, std::vector<std::string>& changed) {
  if (loaded == inForce) return;
  changed.emplace_back(key);
  loaded = inForce;
}

}  // namespace

std::vector<std::string> keepRestartOnlySettings(const Config& inForce, Config& loaded) {
  std::vector<std::string> changed;
  const auto& server = inForce.server;
  keepSetting("server.host", server.host, loaded.server.host, changed);
  keepSetting("server.port", server.port, loaded.server.port, changed);
  keepSetting("server.threads", server.threads, loaded.server.threads, changed);
  keepSetting("server.max_body_bytes", server.maxBodyBytes, loaded.server.maxBodyBytes, changed);
  keepSetting("server.max_header_bytes", server.maxHeaderBytes, loaded.server.maxHeaderBytes, changed);
  keepSetting("server.read_timeout_ms", server.readTimeoutMs, loaded.server.readTimeoutMs, changed);
  keepSetting("server.write_timeout_ms", server.writeTimeoutMs, loaded.server.writeTimeoutMs, changed);
  keepSetting("server.drain_timeout_ms", server.drainTimeoutMs, loaded.server.drainTimeoutMs, changed);
  keepSetting("server.drain_idle_grace_ms", server.drainIdleGraceMs, loaded.server.drainIdleGraceMs, changed);
  keepSetting("server.max_connections", server.maxConnections, loaded.server.maxConnections, changed);
  keepSetting("upstream.max_cached_connections", inForce.upstream.maxCachedConnections,
              loaded.upstream.maxCachedConnections, changed);
  keepSetting("upstream.idle_seconds", inForce.upstream.idleSeconds, loaded.upstream.idleSeconds, changed);
  keepSetting("log.format", inForce.log.format, loaded.log.format, changed);
  keepSetting("conversations.max_bytes", inForce.conversations.maxBytes, loaded.conversations.maxBytes, changed);
  keepSetting("response_cache.max_bytes", inForce.responseCache.maxBytes, loaded.responseCache.maxBytes, changed);
  keepSetting("redis.url", inForce.redis.url, loaded.redis.url, changed);
  keepSetting("redis.timeout_ms", inForce.redis.timeoutMs, loaded.redis.timeoutMs, changed);
  keepSetting("redis.key_prefix", inForce.redis.keyPrefix, loaded.redis.keyPrefix, changed);
  loaded.redis = inForce.redis;  // what the url says goes with it
  return changed;
}

}  // namespace llmgate::config
