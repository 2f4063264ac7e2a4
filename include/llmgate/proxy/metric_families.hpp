// Every metric family llmgate exposes, declared once (as Envoy's ALL_*_STATS): name, type and
// help. What records a family and what writes /metrics both name it from here, and a test holds
// /metrics to this list.
#pragma once

#include <array>

#include "llmgate/metrics/metrics.hpp"

namespace llmgate::proxy::families {

using metrics::FamilySpec;

// Recorded per request (GatewayMetrics).
inline constexpr FamilySpec kRequests{"llmgate_requests_total", "counter",
                                      "Requests answered, by endpoint, client dialect, provider, model and status class."};
inline constexpr FamilySpec kRequestDuration{"llmgate_request_duration_seconds", "histogram",
                                             "From receiving a request whole to its last byte sent."};
inline constexpr FamilySpec kTimeToFirstByte{"llmgate_time_to_first_byte_seconds", "histogram",
                                             "From receiving a request whole to the first response byte sent."};
inline constexpr FamilySpec kUpstreamDuration{"llmgate_upstream_duration_seconds", "histogram",
                                              "Time spent waiting on upstreams per request (all attempts)."};
inline constexpr FamilySpec kGatewayOverhead{"llmgate_gateway_overhead_seconds", "histogram",
                                             "Request duration minus the time spent waiting on upstreams."};
inline constexpr FamilySpec kTokens{"llmgate_tokens_total", "counter",
                                    "Tokens the upstreams reported (or llmgate estimated), by direction."};
inline constexpr FamilySpec kRetries{"llmgate_upstream_retries_total", "counter",
                                     "Attempts after a request's first, by the provider they went to."};
inline constexpr FamilySpec kFallbacks{"llmgate_fallbacks_total", "counter", "Attempts moved from one provider to another."};
inline constexpr FamilySpec kActiveStreams{"llmgate_active_streams", "gauge", "Streaming responses in progress."};
inline constexpr FamilySpec kInternalErrors{
    "llmgate_internal_errors_total", "counter",
    "Requests failed by an internal error (each answered 500 or closed; the process went on)."};

// Read at scrape time from their owners.
inline constexpr FamilySpec kBreakerState{
    "llmgate_breaker_state", "gauge",
    "Circuit breaker of each upstream deployment (key and model): 0 closed, 1 half-open, 2 open."};
inline constexpr FamilySpec kCoolingDown{"llmgate_endpoint_cooling_down", "gauge",
                                         "1 while a rate-limited deployment takes no traffic."};
inline constexpr FamilySpec kUpstreamRequests{"llmgate_upstream_requests_total", "counter",
                                              "HTTP requests sent to upstreams."};
inline constexpr FamilySpec kUpstreamConnections{"llmgate_upstream_connections_opened_total", "counter",
                                                 "New upstream connections; the other requests reused a pooled one."};
inline constexpr FamilySpec kConversionHits{"llmgate_conversion_cache_hits_total", "counter",
                                            "Translated requests served from the conversion cache."};
inline constexpr FamilySpec kConversionMisses{"llmgate_conversion_cache_misses_total", "counter",
                                              "Translated requests converted anew."};
inline constexpr FamilySpec kConversionEvictions{"llmgate_conversion_cache_evictions_total", "counter",
                                                 "Conversions dropped to make room."};
inline constexpr FamilySpec kConversionEntries{"llmgate_conversion_cache_entries", "gauge", "Conversions held."};
inline constexpr FamilySpec kConversationEntries{"llmgate_conversations_entries", "gauge",
                                                 "Stored responses and sessions held."};
inline constexpr FamilySpec kConversationBytes{"llmgate_conversations_bytes", "gauge",
                                               "Bytes held by stored responses and sessions (conversations.max_bytes bounds it)."};
inline constexpr FamilySpec kConversationEvictions{
    "llmgate_conversations_evicted_total", "counter",
    "Stored responses and sessions dropped before their time to make room."};
inline constexpr FamilySpec kCacheHits{"llmgate_response_cache_hits_total", "counter", "Answers served from the response cache."};
inline constexpr FamilySpec kCacheSharedHits{"llmgate_response_cache_shared_hits_total", "counter",
                                             "Of the response cache's hits, those found in Redis (kept by any replica)."};
inline constexpr FamilySpec kCacheMisses{"llmgate_response_cache_misses_total", "counter",
                                         "Response cache lookups that found nothing (the answer is then kept)."};
inline constexpr FamilySpec kCacheEvictions{"llmgate_response_cache_evictions_total", "counter",
                                            "Cached answers dropped before their time to make room."};
inline constexpr FamilySpec kCacheEntries{"llmgate_response_cache_entries", "gauge", "Answers in the response cache."};
inline constexpr FamilySpec kCacheBytes{"llmgate_response_cache_bytes", "gauge",
                                        "Bytes held by the response cache (response_cache.max_bytes bounds it)."};
inline constexpr FamilySpec kCoalesced{"llmgate_coalesced_requests_total", "counter",
                                       "Requests that followed an identical one in flight instead of asking the upstream."};
inline constexpr FamilySpec kKeyRequests{"llmgate_key_requests_total", "counter",
                                         "Requests admitted, by named gateway key (its name, never the key)."};
inline constexpr FamilySpec kKeyTokens{"llmgate_key_tokens_total", "counter",
                                       "Tokens the answers reported, by named gateway key and direction."};
inline constexpr FamilySpec kKeyRejected{"llmgate_key_rejected_total", "counter",
                                         "Requests refused 429 by a key's limits, by key and reason (rpm, tpm, concurrency, budget)."};
inline constexpr FamilySpec kKeyInFlight{"llmgate_key_in_flight_requests", "gauge", "Requests in flight, by named gateway key."};
inline constexpr FamilySpec kRedisConnections{"llmgate_redis_connections", "gauge",
                                              "Redis connections up (one per worker when redis.url is set)."};
inline constexpr FamilySpec kRedisFailures{"llmgate_redis_failures_total", "counter",
                                           "Redis commands that got no reply (down, slow or refused); none failed a request."};
inline constexpr FamilySpec kLocalDecisions{
    "llmgate_limits_local_decisions_total", "counter",
    "Admissions decided by this replica alone because Redis did not answer (limits then hold per replica)."};
inline constexpr FamilySpec kOAuthExpiry{"llmgate_oauth_token_expiry_seconds", "gauge",
                                         "Seconds until each OAuth account's access token expires."};
inline constexpr FamilySpec kOAuthRefreshes{"llmgate_oauth_refreshes_total", "counter",
                                            "OAuth token refresh requests sent."};
inline constexpr FamilySpec kOpenConnections{"llmgate_open_connections", "gauge", "Client connections open."};
inline constexpr FamilySpec kInFlight{"llmgate_in_flight_requests", "gauge",
                                      "Requests received and not yet fully answered."};
inline constexpr FamilySpec kAcceptErrors{
    "llmgate_accept_errors_total", "counter",
    "Failed accepts of client connections (out of file descriptors among them: accepting then pauses)."};
inline constexpr FamilySpec kConnectionsRefused{"llmgate_connections_refused_total", "counter",
                                                "Connections answered 503 at server.max_connections."};
inline constexpr FamilySpec kSeriesOverflow{
    "llmgate_metric_series_overflow_total", "counter",
    "Recordings whose labels no longer fitted their table and went to the \"overflow\" series."};
inline constexpr FamilySpec kUptime{"llmgate_uptime_seconds", "gauge", "Seconds since the gateway started."};
inline constexpr FamilySpec kConfigGeneration{"llmgate_config_generation", "gauge",
                                              "Config generation serving new requests (1 at start, +1 per reload)."};
inline constexpr FamilySpec kConfigReloads{"llmgate_config_reloads_total", "counter",
                                           "Config reloads (SIGHUP) by result; a failed one keeps the running config."};

inline constexpr std::array kAll{
    kRequests,         kRequestDuration,  kTimeToFirstByte,     kUpstreamDuration, kGatewayOverhead,
    kTokens,           kRetries,          kFallbacks,           kActiveStreams,    kInternalErrors,
    kBreakerState,     kCoolingDown,      kUpstreamRequests,    kUpstreamConnections,
    kConversionHits,   kConversionMisses, kConversionEvictions, kConversionEntries,
    kConversationEntries, kConversationBytes, kConversationEvictions,
    kCacheHits,        kCacheSharedHits,  kCacheMisses,      kCacheEvictions,      kCacheEntries,     kCacheBytes,       kCoalesced,
    kKeyRequests,      kKeyTokens,        kKeyRejected,         kKeyInFlight,
    kRedisConnections, kRedisFailures,    kLocalDecisions,
    kOAuthExpiry,      kOAuthRefreshes,   kOpenConnections,     kInFlight,         kAcceptErrors,
    kConnectionsRefused, kSeriesOverflow, kUptime,        kConfigGeneration, kConfigReloads};

}  // namespace llmgate::proxy::families
