#!/usr/bin/env bash
# What the gateway's own features cost a request, against the plain passthrough in the same run:
#  1. instructions per request under callgrind (as benchmarks/cost.sh counts them, log level
#     warn, one worker): passthrough; a named gateway key with limits kept in memory; the same key
#     with its limits in Redis (the script on Redis is Redis' cost, not counted here); a response
#     cache hit; the same hit found in Redis (the memory level too small to keep it: every
#     lookup asks Redis, as a replica does for what another one kept); a response cache refresh
#     (the miss path: the key, the answer read through the IR, and the store);
#  2. latency without callgrind (one keep-alive client at 500 requests a second): p50/p90/p99 of
#     the same paths, where Redis' round trip shows;
#  3. coalescing: 100 identical requests at once to a route whose upstream (another llmgate
#     serving its slow mock, 300 ms) answers in one call, with and without coalescing.
#
#   benchmarks/features.sh [REQUESTS=300]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-300}
rate=100
seconds=$(awk "BEGIN { print $requests / $rate }")
source benchmarks/callgrind_lib.sh
prepare_cost_tools
command -v redis-server >/dev/null || { echo "features: redis-server is needed (scripts/deps.sh installs it)" >&2; exit 1; }

work=/tmp/llmgate-features
rm -rf "$work" && mkdir -p "$work"
source benchmarks/static_upstream.sh
write_static_upstream "$work" 18290 18293

gateway_config() {  # FILE [EXTRA TOP-LEVEL MEMBERS] [RESPONSE CACHE MAX BYTES]
  cat > "$1" <<CONF
{"server": {"host": "127.0.0.1", "port": 18292, "threads": 1},
 "auth": {"api_keys": ["sk-plain"], "keys": [{"name": "bench", "key": "sk-bench", "rpm": 100000000, "tpm": 100000000000}]},
 "response_cache": {"max_bytes": ${3:-67108864}, "routes": {"gpt-cached": {}}},
 ${2:-}
 "providers": [
  {"name": "openai", "type": "openai", "base_url": "http://127.0.0.1:18290/v1", "api_key": "k", "models": ["gpt-4o", "gpt-cached"]}]}
CONF
}
gateway_config "$work/memory.json"
gateway_config "$work/redis.json" '"redis": {"url": "redis://127.0.0.1:18294"},'
gateway_config "$work/redis-cache.json" '"redis": {"url": "redis://127.0.0.1:18294"},' 1
printf '{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello."}]}' > "$work/plain.json"
printf '{"model":"gpt-cached","temperature":0,"messages":[{"role":"user","content":"Say hello."}]}' > "$work/cached.json"

nginx -c "$work/upstream.conf" &
upstream_pid=$!
redis-server --port 18294 --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >"$work/redis.log" 2>&1 &
redis_pid=$!
side_pids=()
cleanup() {
  [ -n "$profiled_pid" ] && kill -KILL "$profiled_pid" 2>/dev/null || true
  kill "$upstream_pid" "$redis_pid" "${side_pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
wait_port 18290
wait_port 18294

llmgate=$(pwd)/build-release/llmgate
key=("Authorization: Bearer sk-bench")
plain=("Authorization: Bearer sk-plain")  # a key without limits: what the baseline and the cache rows send
echo "instructions per request (callgrind, user space, log level warn; $requests requests after a warm-up, one at a time)"
printf '%-46s %9s %9s %9s %9s %9s %9s\n' "" total llmgate libcurl libstdc++ libc+alloc other
run() {  # NAME CONFIG BODY EXPECT
  measure "$1" 18292 /v1/chat/completions "$3" "$4" build-release/llmgate "$llmgate" --config "$work/$2" --log-level warn
}
extra_headers=("${plain[@]}")
row "passthrough, plain key (baseline)" "$(run passthrough memory.json plain.json Hello)"
extra_headers=("${key[@]}")
row "named key, limits in memory" "$(run key-memory memory.json plain.json Hello)"
row "named key, limits in Redis" "$(run key-redis redis.json plain.json Hello)"
extra_headers=("${plain[@]}")
row "response cache hit" "$(run cache-hit memory.json cached.json Hello)"
row "response cache hit, found in Redis" "$(run cache-hit-redis redis-cache.json cached.json Hello)"
extra_headers=("${plain[@]}" "x-llmgate-cache: refresh")
row "response cache miss path (refresh)" "$(run cache-refresh memory.json cached.json Hello)"
extra_headers=()

echo
echo "latency, no callgrind (one keep-alive client, 500 requests a second for 4 s, after a warm-up)"
latency() {  # LABEL CONFIG BODY [HEADER]
  local label=$1 config=$2 body=$3
  shift 3
  "$llmgate" --config "$work/$config" --log-level warn >"$work/latency.log" 2>&1 &
  local pid=$!
  wait_port 18292
  "$client" 127.0.0.1 18292 /v1/chat/completions "$work/$body" 500 1 1 Hello "$@" >/dev/null
  local figures
  figures=$("$client" 127.0.0.1 18292 /v1/chat/completions "$work/$body" 500 4 1 Hello "$@")
  kill "$pid" && wait "$pid" 2>/dev/null || true
  printf '%-46s %s\n' "$label" "$(sed 's/ max_us=.*//' <<<"$figures")"
}
latency "passthrough, plain key (baseline)" memory.json plain.json "${plain[@]}"
latency "named key, limits in memory" memory.json plain.json "${key[@]}"
latency "named key, limits in Redis" redis.json plain.json "${key[@]}"
latency "response cache hit" memory.json cached.json "${plain[@]}"
latency "response cache hit, found in Redis" redis-cache.json cached.json "${plain[@]}"

echo
echo "coalescing: 100 identical requests at once; the upstream answers each call in 300 ms"
cat > "$work/slow-upstream.json" <<CONF
{"server": {"host": "127.0.0.1", "port": 18295, "threads": 1},
 "providers": [{"name": "mock", "type": "mock", "models": ["slow"], "latency_ms": 300}]}
CONF
cat > "$work/coalescing.json" <<CONF
{"server": {"host": "127.0.0.1", "port": 18296, "threads": 2},
 "response_cache": {"routes": {"slow": {"coalesce": true}}},
 "providers": [{"name": "up", "type": "openai", "base_url": "http://127.0.0.1:18295/v1", "api_key": "k", "models": ["slow"],
                "retry": {"max_attempts": 1}}]}
CONF
"$llmgate" --config "$work/slow-upstream.json" --log-level warn >"$work/slow.log" 2>&1 &
side_pids+=($!)
"$llmgate" --config "$work/coalescing.json" --log-level warn >"$work/coalescing.log" 2>&1 &
side_pids+=($!)
wait_port 18295
wait_port 18296
upstream_calls() {
  curl -s 127.0.0.1:18295/metrics | awk '/^llmgate_requests_total\{.*endpoint="chat_completions"/ { sum += $NF } END { print sum + 0 }'
}
burst() {  # LABEL [HEADER]
  local label=$1 before after started ended ok
  shift
  before=$(upstream_calls)
  started=$(date +%s%N)
  ok=$(seq 1 100 | xargs -P 100 -I{} curl -s -o /dev/null -w '%{http_code}\n' 127.0.0.1:18296/v1/chat/completions \
         -H 'content-type: application/json' ${1:+-H "$1"} \
         -d '{"model":"slow","temperature":0,"messages":[{"role":"user","content":"same question"}]}' | grep -c '^200$' || true)
  ended=$(date +%s%N)
  after=$(upstream_calls)
  printf '%-46s answered 200: %s/100, upstream calls: %s, wall time: %s ms\n' "$label" "$ok" "$((after - before))" \
    "$(((ended - started) / 1000000))"
}
burst "coalescing off (x-llmgate-cache: off)" "x-llmgate-cache: off"
burst "coalescing on"
echo "profiles: $work/*.callgrind"
