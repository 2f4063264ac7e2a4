#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the figure that does not drift with machine
# noise. llmgate (one worker thread) and nginx as a plain reverse proxy (the reference line) each
# run under valgrind --tool=callgrind in front of the same static loopback upstream (nginx
# serving fixed answers); one keep-alive client sends the requests one at a time, paced well
# below what the instrumented proxy can do so that every request is counted alone. Counting is
# switched on after a warm-up, so start-up and first-connection work is left out.
#
# Reference lines: nginx, and the stack floor (benchmarks/stack_floor.cpp: the same stack with
# nothing of a gateway on top), non-streaming and streaming.
# Scenarios: non-streaming OpenAI passthrough; streaming passthrough (42 events, also per relayed
# event); OpenAI client -> Anthropic upstream and Anthropic client -> OpenAI upstream, answered
# and streamed (the same 40 text deltas, translated one by one); each at log
# level warn and info (info writes one access-log line per request). Each line splits the cost
# into llmgate's own code, libcurl, the C++ runtime (libstdc++), libc with the allocator (mimalloc)
# and the rest (spdlog and fmt, OpenSSL, zlib, the loader), user space only.
#
#   benchmarks/cost.sh [REQUESTS=500]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-500}
rate=100  # requests a second: well below what the proxies do under callgrind
seconds=$(awk "BEGIN { print $requests / $rate }")
source benchmarks/callgrind_lib.sh
prepare_cost_tools

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
  {"name": "anthropic", "type": "anthropic", "base_url": "http://127.0.0.1:18280", "api_key": "k", "models": ["claude-x"]},
  {"name": "anthropic-stream", "type": "anthropic", "base_url": "http://127.0.0.1:18283", "api_key": "k", "models": ["claude-stream"]}]}
CONF
printf '{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello."}]}' > "$work/plain.json"
printf '{"model":"gpt-stream","stream":true,"messages":[{"role":"user","content":"Say hello."}]}' > "$work/stream.json"
printf '{"model":"claude-x","messages":[{"role":"user","content":"Say hello."}]}' > "$work/to-anthropic.json"
printf '{"model":"gpt-4o","max_tokens":64,"messages":[{"role":"user","content":"Say hello."}]}' > "$work/from-anthropic.json"
printf '{"model":"gpt-stream","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Say hello."}]}' > "$work/from-anthropic-stream.json"
printf '{"model":"claude-stream","stream":true,"messages":[{"role":"user","content":"Say hello."}]}' > "$work/to-anthropic-stream.json"

nginx -c "$work/upstream.conf" &
upstream_pid=$!
cleanup() {
  [ -n "$profiled_pid" ] && kill -KILL "$profiled_pid" 2>/dev/null || true
  kill "$upstream_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
wait_port 18280

echo "instructions per request (callgrind, user space; $requests requests after a warm-up, one at a time)"
printf '%-46s %9s %9s %9s %9s %9s %9s\n' "" total llmgate libcurl libstdc++ libc+alloc other
nginx_binary=$(command -v nginx)
row "nginx proxy_pass, non-streaming (reference)" \
  "$(measure nginx 18281 /v1/chat/completions plain.json Hello nginx "$nginx_binary" -c "$work/proxy.conf")"
# The chosen stack alone (benchmarks/stack_floor.cpp), sending upstream the header lines llmgate
# sends: what llmgate could not go below without replacing part of its stack.
floor=$(pwd)/build-release/benchmarks/llmgate_stack_floor
floor_headers=("Content-Type: application/json" "Authorization: Bearer k" "x-request-id: 0123456789abcdef")
row "stack floor (Asio, Beast, libcurl), non-streaming" \
  "$(measure floor 18284 /v1/chat/completions plain.json Hello llmgate_stack_floor "$floor" 18284 \
    http://127.0.0.1:18280/v1/chat/completions "${floor_headers[@]}" "Accept: application/json")"
row "stack floor, streaming ($events events)" \
  "$(measure floor-stream 18284 /v1/chat/completions stream.json DONE llmgate_stack_floor "$floor" 18284 \
    http://127.0.0.1:18283/v1/chat/completions "${floor_headers[@]}" "Accept: text/event-stream")" "$events"
llmgate=$(pwd)/build-release/llmgate
for level in warn info; do
  run() { measure "$1-$level" 18282 "$2" "$3" "$4" build-release/llmgate "$llmgate" --config "$work/llmgate.json" --log-level "$level"; }
  row "llmgate $level: passthrough, non-streaming" "$(run passthrough /v1/chat/completions plain.json Hello)"
  row "llmgate $level: passthrough, streaming ($events events)" "$(run stream /v1/chat/completions stream.json DONE)" "$events"
  row "llmgate $level: OpenAI client -> Anthropic upstream" "$(run to-anthropic /v1/chat/completions to-anthropic.json Hello)"
  row "llmgate $level: Anthropic client -> OpenAI upstream" "$(run from-anthropic /v1/messages from-anthropic.json Hello)"
  row "llmgate $level: OpenAI client -> Anthropic stream" "$(run to-anthropic-stream /v1/chat/completions to-anthropic-stream.json DONE)" "$events"
  row "llmgate $level: Anthropic client -> OpenAI stream" "$(run from-anthropic-stream /v1/messages from-anthropic-stream.json message_stop)" "$events"
done
echo "profiles: $work/*.callgrind (callgrind_annotate --inclusive=yes FILE shows where each goes)"
