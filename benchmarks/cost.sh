#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the figure that does not drift with machine
# noise. llmgate (one worker thread) and nginx as a plain reverse proxy (the reference line) each
# run under valgrind --tool=callgrind in front of the same static loopback upstream (nginx
# serving fixed answers); one keep-alive client sends the requests one at a time, paced well
# below what the instrumented proxy can do so that every request is counted alone. Counting is
# switched on after a warm-up, so start-up and first-connection work is left out.
#
# Scenarios: non-streaming OpenAI passthrough; streaming passthrough (42 events, also per relayed
# event); OpenAI client -> Anthropic upstream; Anthropic client -> OpenAI upstream; each at log
# level warn and info (info writes one access-log line per request). Each line splits the cost
# into llmgate's own code, libcurl, the C++ runtime (libstdc++), libc (the allocator among it)
# and the rest (spdlog and fmt, OpenSSL, zlib, the loader), user space only.
#
#   benchmarks/cost.sh [REQUESTS=500]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-500}
rate=100  # requests a second: well below what the proxies do under callgrind
seconds=$(awk "BEGIN { print $requests / $rate }")
scripts/deps.sh
command -v valgrind >/dev/null && command -v nginx >/dev/null ||
  { apt-get install -y -qq valgrind nginx-light >/dev/null 2>&1 || apt-get install -y -qq valgrind nginx >/dev/null; }
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLMGATE_BUILD_TESTS=OFF -DLLMGATE_BUILD_BENCHMARKS=OFF \
  -DLLMGATE_BUILD_LOAD_CLIENT=ON >/dev/null
cmake --build build-release --target llmgate llmgate_paced_load >/dev/null
client=build-release/benchmarks/llmgate_paced_load
[ -x "$client" ] || client=$(find build-release -name llmgate_paced_load -type f | head -1)

work=/tmp/llmgate-cost
rm -rf "$work" && mkdir -p "$work"
events=42
# The upstream: 18280 fixed JSON answers (both schemas), 18283 the SSE stream. nginx as the
# reference proxy: 18281 -> 18280 with upstream keep-alive.
source benchmarks/static_upstream.sh
write_static_upstream "$work" 18280 18283
write_nginx_conf "$work" proxy "master_process off;"$'\n' <<CONF
  upstream backend { server 127.0.0.1:18280; keepalive 16; }
  server {
    listen 127.0.0.1:18281;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
CONF
cat > "$work/llmgate.json" <<CONF
{"server": {"host": "127.0.0.1", "port": 18282, "threads": 1},
 "providers": [
  {"name": "openai", "type": "openai", "base_url": "http://127.0.0.1:18280/v1", "api_key": "k", "models": ["gpt-4o"]},
  {"name": "stream", "type": "openai", "base_url": "http://127.0.0.1:18283/v1", "api_key": "k", "models": ["gpt-stream"]},
  {"name": "anthropic", "type": "anthropic", "base_url": "http://127.0.0.1:18280", "api_key": "k", "models": ["claude-x"]}]}
CONF
printf '{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello."}]}' > "$work/plain.json"
printf '{"model":"gpt-stream","stream":true,"messages":[{"role":"user","content":"Say hello."}]}' > "$work/stream.json"
printf '{"model":"claude-x","messages":[{"role":"user","content":"Say hello."}]}' > "$work/to-anthropic.json"
printf '{"model":"gpt-4o","max_tokens":64,"messages":[{"role":"user","content":"Say hello."}]}' > "$work/from-anthropic.json"

nginx -c "$work/upstream.conf" &
upstream_pid=$!
profiled_pid=""
cleanup() {
  [ -n "$profiled_pid" ] && kill -KILL "$profiled_pid" 2>/dev/null || true
  kill "$upstream_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "cost: nothing listens on port $1" >&2
  return 1
}
wait_port 18280

# Sums callgrind_annotate's self cost per object into: total llmgate curl libstdcxx libc other.
split_by_object() {
  callgrind_annotate --inclusive=no --threshold=100 "$1" 2>/dev/null | awk -v binary="$2" '
    /^ *[0-9,]+ .*\[.*\]$/ {
      count = $1; gsub(",", "", count); object = $NF
      total += count
      if (index(object, binary) > 0) own += count
      else if (object ~ /libcurl/) curl += count
      else if (object ~ /libstdc\+\+/) cxx += count
      else if (object ~ /libc\.so|libc-|libm\.so/) libc += count
      else other += count
    }
    END { printf "%d %d %d %d %d %d\n", total, own, curl, cxx, libc, other }'
}

# Runs "$@" under callgrind, warms it up, counts $requests requests of PORT PATH BODY EXPECT;
# the profile stays in $work/NAME.callgrind. Prints: total own curl libstdcxx libc other (per
# request).
measure() {
  local name=$1 port=$2 path=$3 body=$4 expect=$5 binary=$6
  shift 6
  local out="$work/callgrind.out"
  rm -f "$out"*
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$@" >"$work/profiled.log" 2>&1 &
  profiled_pid=$!
  wait_port "$port"
  "$client" 127.0.0.1 "$port" "$path" "$work/$body" 200 0.5 1 "$expect" >/dev/null
  callgrind_control -i on "$profiled_pid" >/dev/null 2>&1
  local figures
  figures=$("$client" 127.0.0.1 "$port" "$path" "$work/$body" "$rate" "$seconds" 1 "$expect")
  callgrind_control -d "$profiled_pid" >/dev/null 2>&1
  kill -KILL "$profiled_pid" 2>/dev/null || true  # no second, whole-run dump at exit
  wait "$profiled_pid" 2>/dev/null || true
  profiled_pid=""
  case "$figures" in
    *" errors=0 "*) ;;
    *) echo "cost: requests failed: $figures" >&2; return 1 ;;
  esac
  local done_requests
  done_requests=$(sed -n 's/^requests=\([0-9]*\).*/\1/p' <<<"$figures")
  [ "${done_requests:-0}" -gt 0 ] || { echo "cost: no request counted ($figures)" >&2; return 1; }
  local dump="$work/$name.callgrind"
  mv "$(ls -t "$out".* | head -1)" "$dump"
  split_by_object "$dump" "$binary" | awk -v n="$done_requests" '{ printf "%d %d %d %d %d %d\n", $1/n, $2/n, $3/n, $4/n, $5/n, $6/n }'
}

row() {  # label figures [per-event divisor]
  local label=$1
  # measure runs in a command substitution, where set -e does not reach: its failure stops here.
  [ -n "$2" ] || { echo "cost: $label: no figures (see $work/profiled.log)" >&2; exit 1; }
  read -r total own curl cxx libc other <<<"$2"
  printf '%-46s %9s %9s %9s %9s %9s %9s' "$label" "$total" "$own" "$curl" "$cxx" "$libc" "$other"
  if [ -n "${3:-}" ]; then printf '   %s per event' "$((total / $3))"; fi
  printf '\n'
}

echo "instructions per request (callgrind, user space; $requests requests after a warm-up, one at a time)"
printf '%-46s %9s %9s %9s %9s %9s %9s\n' "" total llmgate libcurl libstdc++ libc other
nginx_binary=$(command -v nginx)
row "nginx proxy_pass, non-streaming (reference)" \
  "$(measure nginx 18281 /v1/chat/completions plain.json Hello nginx "$nginx_binary" -c "$work/proxy.conf")"
llmgate=$(pwd)/build-release/llmgate
for level in warn info; do
  run() { measure "$1-$level" 18282 "$2" "$3" "$4" build-release/llmgate "$llmgate" --config "$work/llmgate.json" --log-level "$level"; }
  row "llmgate $level: passthrough, non-streaming" "$(run passthrough /v1/chat/completions plain.json Hello)"
  row "llmgate $level: passthrough, streaming ($events events)" "$(run stream /v1/chat/completions stream.json DONE)" "$events"
  row "llmgate $level: OpenAI client -> Anthropic upstream" "$(run to-anthropic /v1/chat/completions to-anthropic.json Hello)"
  row "llmgate $level: Anthropic client -> OpenAI upstream" "$(run from-anthropic /v1/messages from-anthropic.json Hello)"
done
echo "profiles: $work/*.callgrind (callgrind_annotate --inclusive=yes FILE shows where each goes)"
