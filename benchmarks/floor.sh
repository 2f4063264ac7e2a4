#!/usr/bin/env bash
# Core time per request under wrk for three proxies of the same static upstream: nginx as a plain
# reverse proxy, the stack floor (benchmarks/stack_floor.cpp: Asio, Beast and libcurl with nothing
# of a gateway on top) and llmgate, for a plain and a streamed (42 events) passthrough answer.
# Each proxy runs pinned to core 0, where it is alone while wrk drives it; the upstream and wrk
# share core 1. A proxy's cost is core 0's busy time (user, system, irq and softirq:
# per-process counters leave out the softirq work of its sockets) divided by the requests wrk
# completed. Each runs at the rate it reaches itself (wrk keeps CONNECTIONS requests in flight).
# The three take turns within each round (who goes first rotates), ROUNDS times; the figures are
# the medians over rounds of each proxy's time and of the ratios within a round, which move less
# on a noisy machine. The ratios are of times: nginx/floor 0.6 means the floor takes 1/0.6 of
# nginx's time a request, so reaches 0.6 of its rate on the same core.
# Last, llmgate's translated path (OpenAI client, Anthropic upstream) takes turns with its
# passthrough the same way: the share of the passthrough rate a translated request keeps.
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
  {"name": "stream", "type": "openai", "base_url": "http://127.0.0.1:18483/v1", "api_key": "k", "models": ["gpt-stream"]},
  {"name": "claude", "type": "anthropic", "base_url": "http://127.0.0.1:18480", "api_key": "k", "models": ["claude-x"]}]}
CONF
for spec in plain:gpt-4o: stream:gpt-stream:'"stream":true,' convert:claude-x:; do
  IFS=: read -r name model extra <<<"$spec"
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n' \
    "'{\"model\":\"$model\",$extra\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}'" > "$work/$name.lua"
done

for port in 18480 18481 18482 18483 18484 18485 18486; do
  ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null || { echo "floor: port $port is taken (a run left behind?)" >&2; exit 1; }
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

# user + system + irq + softirq of core 0 (not steal: the hypervisor's time, not the proxy's).
cpu_ticks() { awk '/^cpu0 / {print $2 + $4 + $7 + $8}' /proc/stat; }
hz=$(getconf CLK_TCK)
# Microseconds of core 0 per request for one wrk run against PORT with SCRIPT; fails the script
# (through the caller's check) on an error or a figure that is not a number.
core_us() {
  local before after
  sleep 0.5  # the previous run's connections are torn down outside this one's window
  before=$(cpu_ticks)
  taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" -s "$work/$2" "http://127.0.0.1:$1/v1/chat/completions" > "$work/wrk.out"
  after=$(cpu_ticks)
  grep -q "Non-2xx\|Socket errors" "$work/wrk.out" && { echo "floor: errors against port $1:" >&2; cat "$work/wrk.out" >&2; exit 1; }
  awk -v t="$((after - before))" -v hz="$hz" '/requests in/ && $1 > 0 {printf "%.2f\n", t / hz / $1 * 1e6; found = 1}
    END {exit !found}' "$work/wrk.out"
}
# One round: each of PORTS (nginx, floor, llmgate) measured with SCRIPT, starting from the
# ROUND-th (mod 3) so that no proxy always runs first; prints the three times in PORTS' order.
round() {
  local index=$1 script=$2
  shift 2
  local ports=("$@") times=() k
  for k in 0 1 2; do
    local at=$(((index + k) % 3))
    times[at]=$(core_us "${ports[at]}" "$script") || { echo "floor: no figure from port ${ports[at]}" >&2; return 1; }
  done
  echo "${times[0]} ${times[1]} ${times[2]}"
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
curl -sf http://127.0.0.1:18482/v1/chat/completions -d '{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}' |
  grep -q '"content":"Hello from the load upstream."' || { echo "floor: llmgate's translated answer is wrong" >&2; exit 1; }

echo "core 0 time per request (us), medians of $rounds rounds of ${seconds}s, wrk -c$connections"
printf '%-8s %8s %8s %8s   %14s %16s %16s\n' workload nginx floor llmgate nginx/floor nginx/llmgate floor/llmgate
for spec in plain:18481:18485 stream:18484:18486; do
  IFS=: read -r name nginxPort floorPort <<<"$spec"
  : > "$work/$name.rounds"
  for index in $(seq 1 "$rounds"); do
    times=$(round "$index" "$name.lua" "$nginxPort" "$floorPort" 18482) || exit 1
    echo "$times" >> "$work/$name.rounds"
  done
  printf '%-8s %8s %8s %8s   %14s %16s %16s\n' "$name" \
    "$(awk '{print $1}' "$work/$name.rounds" | median)" "$(awk '{print $2}' "$work/$name.rounds" | median)" \
    "$(awk '{print $3}' "$work/$name.rounds" | median)" \
    "$(awk '{printf "%.3f\n", $1 / $2}' "$work/$name.rounds" | median)" \
    "$(awk '{printf "%.3f\n", $1 / $3}' "$work/$name.rounds" | median)" \
    "$(awk '{printf "%.3f\n", $2 / $3}' "$work/$name.rounds" | median)"
done
# The translated path (an OpenAI client on an Anthropic upstream) and llmgate's passthrough in
# turns: the share of the passthrough rate a translated request keeps.
: > "$work/translated.rounds"
for index in $(seq 1 "$rounds"); do
  if ((index % 2)); then
    plain=$(core_us 18482 plain.lua) || exit 1
    translated=$(core_us 18482 convert.lua) || exit 1
  else
    translated=$(core_us 18482 convert.lua) || exit 1
    plain=$(core_us 18482 plain.lua) || exit 1
  fi
  echo "$plain $translated" >> "$work/translated.rounds"
done
printf 'translated: passthrough %s us, OpenAI client -> Anthropic upstream %s us: %s of the passthrough rate\n' \
  "$(awk '{print $1}' "$work/translated.rounds" | median)" "$(awk '{print $2}' "$work/translated.rounds" | median)" \
  "$(awk '{printf "%.3f\n", $1 / $2}' "$work/translated.rounds" | median)"
echo "rounds: $work/plain.rounds and $work/stream.rounds (nginx floor llmgate), $work/translated.rounds"
