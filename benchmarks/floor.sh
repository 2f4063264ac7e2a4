#!/usr/bin/env bash
# Core time per request under wrk for three proxies of the same static upstream: nginx as a plain
# reverse proxy, the stack floor (benchmarks/stack_floor.cpp: Asio, Beast and libcurl with nothing
# of a gateway on top) and llmgate, for a plain and a streamed (42 events) passthrough answer.
# Each proxy runs pinned to core 0, where it is alone while wrk drives it; the upstream and wrk
# share core 1. A proxy's cost is core 0's busy time (user, system and softirq: per-process
# counters leave out the softirq work of its sockets) divided by the requests wrk completed.
# The three take turns within each round, ROUNDS times; the figures are the medians over rounds
# of each proxy's time and of the ratios within a round, which move less on a noisy machine.
#
#   benchmarks/floor.sh [ROUNDS=8] [SECONDS=3] [CONNECTIONS=32]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-8}
seconds=${2:-3}
connections=${3:-32}
source benchmarks/callgrind_lib.sh
prepare_cost_tools
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null

work=/tmp/llmgate-floor
rm -rf "$work" && mkdir -p "$work"
source benchmarks/static_upstream.sh
write_static_upstream "$work" 18480 18483
write_nginx_proxy "$work" 18480 18483
cat > "$work/llmgate.json" <<CONF
{"log": {"level": "warn"}, "server": {"host": "127.0.0.1", "port": 18482, "threads": 1},
 "providers": [
  {"name": "plain", "type": "openai", "base_url": "http://127.0.0.1:18480/v1", "api_key": "k", "models": ["gpt-4o"]},
  {"name": "stream", "type": "openai", "base_url": "http://127.0.0.1:18483/v1", "api_key": "k", "models": ["gpt-stream"]}]}
CONF
for spec in plain:gpt-4o: stream:gpt-stream:'"stream":true,'; do
  IFS=: read -r name model extra <<<"$spec"
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n' \
    "'{\"model\":\"$model\",$extra\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}'" > "$work/$name.lua"
done

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
taskset -c 1 nginx -c "$work/upstream.conf" & pids+=($!)
taskset -c 0 nginx -c "$work/proxy.conf" & pids+=($!)
floor=build-release/benchmarks/llmgate_stack_floor
headers=("Content-Type: application/json" "Authorization: Bearer k" "x-request-id: 0123456789abcdef")
taskset -c 0 "$floor" 18485 http://127.0.0.1:18480/v1/chat/completions "${headers[@]}" "Accept: application/json" & pids+=($!)
taskset -c 0 "$floor" 18486 http://127.0.0.1:18483/v1/chat/completions "${headers[@]}" "Accept: text/event-stream" & pids+=($!)
taskset -c 0 build-release/llmgate --config "$work/llmgate.json" & pids+=($!)
for port in 18480 18481 18482 18484 18485 18486; do wait_port "$port"; done

cpu_ticks() { awk '/^cpu0 / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
hz=$(getconf CLK_TCK)
# Microseconds of core 0 per request for one wrk run against PORT with SCRIPT.
core_us() {
  local before after
  before=$(cpu_ticks)
  taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" -s "$work/$2" "http://127.0.0.1:$1/v1/chat/completions" > "$work/wrk.out"
  after=$(cpu_ticks)
  grep -q "Non-2xx\|Socket errors" "$work/wrk.out" && { echo "floor: errors against port $1:" >&2; cat "$work/wrk.out" >&2; exit 1; }
  awk -v t="$((after - before))" -v hz="$hz" '/requests in/ {printf "%.2f\n", t / hz / $1 * 1e6}' "$work/wrk.out"
}
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

# Every proxy's answer is checked once: the same text, the stream's bytes identical.
for port in 18481 18482 18485; do
  curl -sf "http://127.0.0.1:$port/v1/chat/completions" -d '{"model":"gpt-4o","messages":[]}' | grep -q 'load upstream' ||
    { echo "floor: the answer through port $port is wrong" >&2; exit 1; }
done
for port in 18484 18486; do
  curl -sf "http://127.0.0.1:$port/v1/chat/completions" -d '{"model":"gpt-stream","stream":true,"messages":[]}' |
    cmp -s - "$work/stream.sse" || { echo "floor: the stream through port $port differs" >&2; exit 1; }
done
curl -sf http://127.0.0.1:18482/v1/chat/completions -d '{"model":"gpt-stream","stream":true,"messages":[]}' |
  cmp -s - "$work/stream.sse" || { echo "floor: llmgate's stream differs" >&2; exit 1; }

echo "core 0 time per request (us), medians of $rounds rounds of ${seconds}s, wrk -c$connections"
printf '%-8s %8s %8s %8s   %14s %16s %16s\n' workload nginx floor llmgate nginx/floor nginx/llmgate floor/llmgate
for spec in plain:18481:18485 stream:18484:18486; do
  IFS=: read -r name nginxPort floorPort <<<"$spec"
  : > "$work/$name.rounds"
  for _ in $(seq 1 "$rounds"); do
    echo "$(core_us "$nginxPort" "$name.lua") $(core_us "$floorPort" "$name.lua") $(core_us 18482 "$name.lua")" >> "$work/$name.rounds"
  done
  printf '%-8s %8s %8s %8s   %14s %16s %16s\n' "$name" \
    "$(awk '{print $1}' "$work/$name.rounds" | median)" "$(awk '{print $2}' "$work/$name.rounds" | median)" \
    "$(awk '{print $3}' "$work/$name.rounds" | median)" \
    "$(awk '{printf "%.3f\n", $1 / $2}' "$work/$name.rounds" | median)" \
    "$(awk '{printf "%.3f\n", $1 / $3}' "$work/$name.rounds" | median)" \
    "$(awk '{printf "%.3f\n", $2 / $3}' "$work/$name.rounds" | median)"
done
echo "rounds (nginx floor llmgate): $work/plain.rounds, $work/stream.rounds"
