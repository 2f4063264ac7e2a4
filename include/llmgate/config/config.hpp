// Gateway configuration: a JSON file with ${ENV} substitution, validated once at start-up.
// Immutable after load; shared read-only between worker threads.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmgate/core/conversation.hpp"
#include "llmgate/resilience/endpoint_health.hpp"

namespace llmgate::config {

/// A validation failure; the message starts with the key path ("providers[1].base_url: ...").
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads typed fields of one JSON object and names the key path in every error.
class JsonReader {
 public:
  JsonReader(const nlohmann::json& object, std::string path);

  std::string string(const char* key, std::string fallback) const;
  std::string requiredString(const char* key) const;
  std::int64_t integer(const char* key, std::int64_t fallback, std::int64_t min, std::int64_t max) const;
  bool boolean(const char* key, bool fallback) const;
  std::vector<std::string> stringList(const char* key) const;
  /// One string or an array of them ("credentials": "a.json" or ["a.json", "b.json"]).
  std::vector<std::string> stringOrList(const char* key) const;
  std::map<std::string, std::string> stringMap(const char* key) const;
  /// Fails on any key not in `known` (catches typos such as "base_ulr").
  void rejectUnknownKeys(const std::vector<std::string_view>& known) const;
  const nlohmann::json* find(const char* key) const;
  std::string pathOf(const char* key) const;
  [[noreturn]] void fail(const char* key, const std::string& what) const;

 private:
  const nlohmann::json& object_;
  std::string path_;
};

struct UpstreamTimeouts {
  std::int64_t connectMs = 10000;      ///< TCP + TLS connect
  std::int64_t firstByteMs = 60000;    ///< request sent to first response byte
  std::int64_t idleMs = 60000;         ///< longest silence between stream chunks
  std::int64_t totalMs = 60000;        ///< whole non-streaming exchange
  std::int64_t streamTotalMs = 600000; ///< whole streaming exchange (0 = no limit)
};

struct ProviderConfig {
  std::string name;
  std::string type;
  bool enabled = true;
  std::string disabledReason;  ///< why enabled is false (names the variable, never a value)
  std::string baseUrl;
  std::vector<std::string> apiKeys;  ///< api_key and api_keys together; each key is an endpoint
  std::vector<std::string> models;              ///< client-visible model names it serves
  std::map<std::string, std::string> modelMap;  ///< client model -> upstream model
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra upstream headers
  UpstreamTimeouts timeouts;
  resilience::RetryConfig retry;
  resilience::BreakerConfig breaker;
  nlohmann::json block;  ///< the whole (substituted) block, for type-specific options
};

struct ServerConfig {
  std::string host = "127.0.0.1";  ///< loopback unless the config says otherwise
  int port = 3000;
  int threads = 0;  ///< 0 = number of cores
  std::int64_t maxBodyBytes = 10 * 1024 * 1024;
  std::int64_t maxHeaderBytes = 64 * 1024;
  std::int64_t readTimeoutMs = 30000;   ///< a whole request, and keep-alive idle time
  std::int64_t writeTimeoutMs = 60000;  ///< a client that reads nothing for this long is dropped
  std::int64_t drainTimeoutMs = 15000;  ///< SIGTERM: how long in-flight work may finish
  std::int64_t drainIdleGraceMs = 1000; ///< SIGTERM: how long idle keep-alive connections stay open
  std::int64_t maxConnections = 0;      ///< open client connections above which new ones get a 503 (0 = no cap)
  /// Serve providers with credentials on a non-loopback address without a gateway key.
  bool allowUnauthenticated = false;
};

struct UpstreamPoolConfig {
  std::int64_t maxCachedConnections = 64;  ///< idle connections kept per worker
  std::int64_t idleSeconds = 90;           ///< a pooled connection older than this is not reused
  std::int64_t prewarmConnections = 0;     ///< opened to each upstream by each worker at start and reload
};

/// The cache of translated upstream requests (proxy/conversion_cache.hpp).
struct ConversionCacheConfig {
  std::size_t entries = 100;              ///< 0 turns it off
  std::size_t maxBodyBytes = 256 * 1024;  ///< larger client bodies are converted every time
};

/// What the gateway keeps of conversations: stored Responses (store, previous_response_id) and
/// x-llmgate-session windows, in memory.
struct ConversationsConfig {
  std::int64_t maxBytes = 64LL * 1024 * 1024;  ///< all of it together; 0 stores nothing (restart to change)
  std::int64_t responseTtlSeconds = 3600;      ///< a stored response, from when it was stored
  std::int64_t sessionTtlSeconds = 1800;       ///< a session, from its last turn
  std::int64_t sessionMaxTurns = 50;           ///< a session keeps its last N turns
};

/// How a route uses the response cache (response_cache.routes).
struct ResponseCacheRoute {
  bool sampled = false;          ///< also answers sampled with temperature > 0 (or the provider's default)
  bool coalesce = false;         ///< identical requests in flight wait for the first and share its answer
  std::int64_t ttlSeconds = 0;   ///< 0: response_cache.ttl_s
};

/// Exact-match cache of complete answers, opt-in per route and per request (x-llmgate-cache).
struct ResponseCacheConfig {
  std::int64_t maxBytes = 64LL * 1024 * 1024;  ///< all entries together; 0 caches nothing (restart to change)
  std::int64_t ttlSeconds = 120;
  /// By route label (a model, route or alias name of the config), "*" for the rest.
  std::map<std::string, ResponseCacheRoute> routes;
};

/// A named gateway key (auth.keys, auth.keys_file): what it may use and how much.
struct GatewayKey {
  std::string name;       ///< in metrics and the access log (the key itself never is)
  std::string key;        ///< the key as clients send it, or
  std::string keySha256;  ///< its SHA-256 in hex, so that the file need not hold the key
  bool disabled = false;  ///< revoked: answered 401 like an unknown key
  std::vector<std::string> models;  ///< model names, route names or globs it may use; empty = all
  std::int64_t rpm = 0;             ///< requests per minute (token bucket); 0 = no limit
  std::int64_t tpm = 0;             ///< tokens per minute, input + output; 0 = no limit
  std::int64_t maxConcurrent = 0;   ///< requests in flight at once, per replica; 0 = no limit
  std::int64_t budgetTokens = 0;    ///< tokens per budget period; 0 = no budget
  std::string budgetPeriod = "day"; ///< hour | day | week | month, in UTC
};

/// Shared state for several replicas (rate limits and budgets); empty url = in memory only.
struct RedisConfig {
  std::string url;                 ///< redis://[[user]:password@]host[:port][/db]
  std::int64_t timeoutMs = 50;     ///< a command slower than this is answered from local state
  std::string keyPrefix = "llmgate:";
  // what the url says
  std::string host;
  int port = 6379;
  std::string user;
  std::string password;
  int database = 0;
};

struct LogConfig {
  std::string level = "info";
  std::string format = "text";  ///< text | json
};

/// A model name served by several targets (fallbacks and/or load balancing).
struct RouteConfig {
  std::string strategy = "ordered";  ///< ordered | round_robin | weighted | least_latency | least_busy
  std::vector<std::pair<std::string, int>> targets;  ///< (model or provider/model, weight)
};

struct Config {
  ServerConfig server;
  LogConfig log;
  UpstreamPoolConfig upstream;
  ConversionCacheConfig conversionCache;
  ConversationsConfig conversations;
  ResponseCacheConfig responseCache;
  /// Context shaping by route label (a model, route or alias name of the config), "*" for the rest.
  std::map<std::string, core::ContextShaping> contextShaping;
  std::vector<std::string> apiKeys;  ///< gateway keys without a name or limits
  std::vector<GatewayKey> gatewayKeys;  ///< named keys (auth.keys and auth.keys_file); both empty = auth off
  std::string keysFile;                 ///< auth.keys_file, read again at every reload
  RedisConfig redis;
  std::vector<ProviderConfig> providers;
  std::map<std::string, std::string> aliases;  ///< alias -> model or provider/model
  std::map<std::string, RouteConfig> routes;
  std::int64_t streamKeepaliveMs = 0;  ///< SSE comment to streaming clients while the first token is awaited (0 = off)
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

/// The process environment.
EnvLookup processEnv();

/// Why serving `config` would lend its providers' credentials to anyone who can reach the
/// port: it listens beyond loopback, a provider that holds credentials is enabled, no gateway
/// key is set and server.allow_unauthenticated is not. Empty when that is not the case.
std::string exposureProblem(const Config& config);

/// What a reload cannot apply (the listener, threads and limits of the server, the upstream
/// connection pools, the log format) is put back in `loaded` as `inForce` has it, so that
/// `loaded` describes the process as it will run; returns the keys that differed (they take
/// effect at the next start).
std::vector<std::string> keepRestartOnlySettings(const Config& inForce, Config& loaded);

/// Parses and validates config text. Throws ConfigError naming the key path.
Config parseConfig(const std::string& text, const EnvLookup& env);

/// Reads, parses and validates a file. Throws ConfigError.
Config loadConfigFile(const std::string& path, const EnvLookup& env);

/// Fills `redis`'s host, port, user, password and database from its url; throws ConfigError
/// (which never repeats the url: it may hold a password) when it is not a redis:// URL.
void parseRedisUrl(RedisConfig& redis);

/// A list of gateway key objects (auth.keys). Throws ConfigError naming `path`.
std::vector<GatewayKey> parseGatewayKeys(const nlohmann::json& list, const std::string& path);
/// auth.keys_file: that list as a JSON file, or an object with it under "keys".
std::vector<GatewayKey> loadGatewayKeysFile(const std::string& path);

/// Result of ${VAR} / ${VAR:-default} substitution in one string.
struct Substitution {
  std::string value;
  std::vector<std::string> missing;  ///< variables that were unset and had no default
};

/// Expands ${VAR} and ${VAR:-default} ("$$" is a literal "$"). Throws ConfigError on a
/// malformed reference.
Substitution substituteEnv(const std::string& text, const EnvLookup& env);

}  // namespace llmgate::config
