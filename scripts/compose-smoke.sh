#!/usr/bin/env bash
# Smoke test of docker/compose.yaml under podman-compose: three replicas behind nginx answer both
# dialects (plain and streaming), share the traffic and their Redis (a cached answer asked on one
# replica is a hit on another), and neither a config reload of one replica
# (SIGHUP) nor stopping another (SIGTERM, it drains) under load costs a request. Takes everything down on exit. Under a minute without the build.
#   scripts/compose-smoke.sh
#   LLMGATE_SMOKE_SKIP_BUILD=1 scripts/compose-smoke.sh     reuse the llmgate image if present
# Other knobs: LLMGATE_LB_PORT (8080), LLMGATE_SMOKE_CLIENTS (8), LLMGATE_SMOKE_SECONDS (20),
# LLMGATE_SMOKE_STOP_AFTER (7, seconds into the load), LLMGATE_SMOKE_STOP (llmgate-2),
# LLMGATE_SMOKE_CLIENT=curl (curl instead of node and the SDKs in tests/sdk/node_modules).
set -euo pipefail

skip() { echo "compose-smoke: SKIPPED: $*"; exit 0; }
command -v podman >/dev/null || skip "podman not found"
command -v podman-compose >/dev/null || skip "podman-compose not found"
command -v curl >/dev/null || skip "curl not found"
timeout 120 podman run --rm docker.io/library/debian:bookworm-slim true >/dev/null 2>&1 \
  || skip "podman cannot run containers (podman run debian:bookworm-slim true failed)"

cd "$(dirname "$0")/.."
project=llmgate-smoke
port=${LLMGATE_LB_PORT:-8080}
clients=${LLMGATE_SMOKE_CLIENTS:-8}
seconds=${LLMGATE_SMOKE_SECONDS:-20}
stop_after=${LLMGATE_SMOKE_STOP_AFTER:-7}
victim=${LLMGATE_SMOKE_STOP:-llmgate-2}
lb=http://127.0.0.1:$port
# The smoke needs only the mock provider: keep the caller's provider keys out of its containers.
unset OPENAI_API_KEY ANTHROPIC_API_KEY GEMINI_API_KEY DEEPSEEK_API_KEY DASHSCOPE_API_KEY ZHIPUAI_API_KEY
export LLMGATE_API_KEY="smoke-$RANDOM$RANDOM" LLMGATE_LB_PORT=$port
key=$LLMGATE_API_KEY
compose=(timeout 180 podman-compose -p "$project" -f docker/compose.yaml)
work=$(mktemp -d)
failed=0
pids=()

say() { echo "compose-smoke: $*"; }
fail() { say "FAIL $*"; failed=1; }
die() { say "FAIL $*"; exit 1; }

teardown() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  "${compose[@]}" down >/dev/null 2>&1 || true
  # podman-compose 1.0 leaves the network behind.
  timeout 30 podman network rm -f "${project}_default" >/dev/null 2>&1 || true
  rm -rf "$work"
  say "(f) stack taken down"
  exit "$status"
}
trap teardown EXIT

if [[ ${LLMGATE_SMOKE_SKIP_BUILD:-} == 1 ]] && podman image exists llmgate; then
  say "reusing image llmgate ($(podman image inspect -f '{{.Id}}' llmgate | cut -c1-12))"
else
  say "building image llmgate"
  timeout 1800 podman build --network host --format docker -t llmgate -f docker/Dockerfile . >"$work/build.log" 2>&1 \
    || { tail -20 "$work/build.log"; die "podman build of llmgate failed"; }
fi
# Seconds when cached; rebuilt every run so that it carries the current docker/nginx.conf.
timeout 600 podman build --network host --format docker -t llmgate-nginx -f docker/nginx.Dockerfile docker >"$work/build-nginx.log" 2>&1 \
  || { tail -20 "$work/build-nginx.log"; die "podman build of llmgate-nginx failed"; }
timeout 600 podman build --network host --format docker -t llmgate-redis -f docker/redis.Dockerfile docker >"$work/build-redis.log" 2>&1 \
  || { tail -20 "$work/build-redis.log"; die "podman build of llmgate-redis failed"; }

"${compose[@]}" down >/dev/null 2>&1 || true
if curl -s -m 2 -o /dev/null "$lb/" 2>/dev/null; then die "port $port is already in use (set LLMGATE_LB_PORT)"; fi
"${compose[@]}" up -d --no-build >"$work/up.log" 2>&1 || { tail -20 "$work/up.log"; die "podman-compose up failed"; }

container() {
  podman ps -a --filter "label=io.podman.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -1
}
declare -A ctr
for service in redis llmgate-1 llmgate-2 llmgate-3 nginx; do
  ctr[$service]=$(container "$service")
  [[ -n ${ctr[$service]} ]] || die "no container for service $service"
done

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || die "$what did not answer within ${limit}s"
    sleep 0.5
  done
}
for service in llmgate-1 llmgate-2 llmgate-3; do
  wait_for 30 "$service" timeout 5 podman exec "${ctr[$service]}" curl -fsS -m 2 http://127.0.0.1:3000/health
done
wait_for 30 "nginx on $lb" curl -fsS -m 2 "$lb/health"
say "stack up: ${ctr[llmgate-1]} ${ctr[llmgate-2]} ${ctr[llmgate-3]} behind ${ctr[nginx]} on $lb"

post() {  # post PATH BODY [curl args...]: prints the body, fails on a transport error
  local path=$1 body=$2; shift 2
  curl -sS -m 15 "$lb$path" -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' -d "$body" "$@"
}
status=$(post /v1/chat/completions '{"model":"mock","messages":[{"role":"user","content":"hi"}]}' -o /dev/null -w '%{http_code}')
if [[ $status == 401 ]]; then
  say "PASS gateway key enforced through the LB (no key: 401)"
else
  fail "no key: HTTP $status, expected 401"
fi

# (a)-(c): the official SDKs when tests/sdk has them (npm ci there), else curl.
use_node=0
if [[ ${LLMGATE_SMOKE_CLIENT:-} != curl ]] && command -v node >/dev/null \
   && [[ -d tests/sdk/node_modules/openai && -d tests/sdk/node_modules/@anthropic-ai/sdk ]]; then
  use_node=1
fi
if ((use_node)); then
  timeout 120 node tests/sdk/compose_smoke.mjs checks "$lb" "$key" | sed 's/^/compose-smoke: /' || failed=1
else
  say "checking with curl (no node or no tests/sdk/node_modules)"
  out=$(post /v1/chat/completions '{"model":"mock","messages":[{"role":"user","content":"smoke a"}]}' -H "authorization: Bearer $key" || true)
  if [[ $out == *'You said: smoke a'* ]]; then
    say "PASS (a) openai chat.completions"
  else
    fail "(a) openai chat.completions: ${out:0:200}"
  fi
  out=$(post /v1/chat/completions '{"model":"mock","stream":true,"messages":[{"role":"user","content":"smoke b"}]}' -N -H "authorization: Bearer $key" || true)
  if [[ $(grep -v '^$' <<<"$out" | tail -1) == 'data: [DONE]' ]]; then
    say "PASS (b) openai stream ends with data: [DONE]"
  else
    fail "(b) openai stream: ${out: -200}"
  fi
  out=$(post /v1/messages '{"model":"mock","max_tokens":256,"messages":[{"role":"user","content":"smoke c"}]}' -H "x-api-key: $key" || true)
  if [[ $out == *'"stop_reason":"end_turn"'* ]]; then
    say "PASS (c) anthropic messages"
  else
    fail "(c) anthropic messages: ${out:0:200}"
  fi
  out=$(post /v1/messages '{"model":"mock","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"smoke c"}]}' -N -H "x-api-key: $key" || true)
  if [[ $(grep '^event:' <<<"$out" | tail -1) == 'event: message_stop' ]]; then
    say "PASS (c) anthropic stream ends with message_stop"
  else
    fail "(c) anthropic stream: ${out: -200}"
  fi
fi

# (d) Spread: each replica's own /metrics (llmgate_requests_total) before and after 30 requests.
requests_total() {
  timeout 10 podman exec "${ctr[$1]}" curl -fsS -m 5 http://127.0.0.1:3000/metrics \
    | awk '/^llmgate_requests_total\{/ { n += $NF } END { print n + 0 }'
}
declare -A before
for service in llmgate-1 llmgate-2 llmgate-3; do before[$service]=$(requests_total "$service"); done
for _ in $(seq 30); do
  post /v1/chat/completions '{"model":"mock","messages":[{"role":"user","content":"spread"}]}' -H "x-api-key: $key" -o /dev/null || true
done
spread=() zero=0
for service in llmgate-1 llmgate-2 llmgate-3; do
  n=$(($(requests_total "$service") - ${before[$service]}))
  spread+=("$service=$n")
  ((n > 0)) || zero=1
done
if ((zero == 0)); then
  say "PASS (d) 30 requests spread over all replicas: ${spread[*]}"
else
  fail "(d) a replica got no request: ${spread[*]}"
fi

# (h) Shared state: every replica connected to Redis, and an answer asked upstream through one
# replica served from Redis by another (nginx sends consecutive requests to the next replica).
shared_ok() {
  local service
  for service in llmgate-1 llmgate-2 llmgate-3; do
    timeout 10 podman exec "${ctr[$service]}" curl -fsS -m 5 -H "x-api-key: $key" http://127.0.0.1:3000/v1/health/detailed \
      | grep -q '"shared_state":{"backend":"redis"[^}]*"status":"ok"' || return 1
  done
}
end=$((SECONDS + 20))
until shared_ok; do ((SECONDS < end)) || break; sleep 0.5; done
if shared_ok; then
  say "PASS (h) every replica connected to Redis (/v1/health/detailed shared_state ok)"
else
  fail "(h) a replica is not connected to Redis"
fi
question="{\"model\":\"mock\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"shared $RANDOM$RANDOM\"}]}"
statuses=()
for _ in 1 2 3; do
  head=$(post /v1/chat/completions "$question" -H "x-api-key: $key" -H 'x-llmgate-cache: on' -o /dev/null -D - || true)
  status=$(grep -i '^x-llmgate-cache-status:' <<<"$head" | tr -d '\r' | awk '{print $2}' || true)
  level=$(grep -i '^x-llmgate-cache-level:' <<<"$head" | tr -d '\r' | awk '{print $2}' || true)
  statuses+=("${status:-none}${level:+/$level}")
done
if [[ ${statuses[*]} == 'miss hit/shared hit/shared' ]]; then
  say "PASS (h) one question through three replicas: ${statuses[*]} (one upstream answer, two from Redis)"
else
  fail "(h) one question through three replicas: ${statuses[*]}, expected miss hit/shared hit/shared"
fi

# (e) Bounded load; one replica is stopped (SIGTERM, llmgate drains) in the middle of it.
access_count() {  # requests a replica logged (its log survives the stop)
  timeout 20 podman logs "${ctr[$1]}" 2>&1 | grep -c '"msg":"access".*"path":"/v1/' || true
}
declare -A logged
for service in llmgate-1 llmgate-2 llmgate-3; do logged[$service]=$(access_count "$service"); done
load_since=$(date --iso-8601=seconds)
load_ms=$(date +%s%3N)
if ((use_node)); then
  timeout $((seconds + 60)) node tests/sdk/compose_smoke.mjs load "$lb" "$key" "$clients" "$seconds" 50000 >"$work/load.json" &
  load_pid=$!
else
  load_client() {  # curl fallback: one client, one line per request in its file
    local end=$((SECONDS + seconds)) out
    while ((SECONDS < end)); do
      out=$(post /v1/chat/completions '{"model":"mock-slow","stream":true,"messages":[{"role":"user","content":"load"}]}' -N -H "x-api-key: $key" 2>&1 || true)
      [[ $(grep -v '^$' <<<"$out" | tail -1) == 'data: [DONE]' ]] && echo ok || echo "fail ${out: -160}"
      out=$(post /v1/chat/completions '{"model":"mock","messages":[{"role":"user","content":"load"}]}' -H "x-api-key: $key" 2>&1 || true)
      [[ $out == *'You said: load'* ]] && echo ok || echo "fail ${out:0:160}"
    done
  }
  (for i in $(seq "$clients"); do load_client >"$work/load.$i" & done; wait) &
  load_pid=$!
fi
pids+=("$load_pid")
# A config reload (SIGHUP) of another replica under the same load: it must cost no request either.
reloaded=llmgate-1
sleep "$((stop_after / 2))"
timeout 30 podman kill --signal HUP "${ctr[$reloaded]}" >/dev/null 2>&1 || fail "podman kill --signal HUP ${ctr[$reloaded]} failed"
sleep "$((stop_after - stop_after / 2))"
stop_ms=$(date +%s%3N)
timeout 60 podman stop -t 20 "${ctr[$victim]}" >/dev/null 2>&1 || fail "podman stop ${ctr[$victim]} failed"
stopped_ms=$(date +%s%3N)
wait "$load_pid" || true
load_s=$((($(date +%s%3N) - load_ms) / 1000))
say "stopped $victim $((stop_ms - load_ms)) ms into the load (SIGTERM; it exited $((stopped_ms - stop_ms)) ms later)"

sent=0 ok=0 bad=0 kinds='' failures=''
if [[ -s $work/load.json ]]; then
  # shellcheck disable=SC2016  # JavaScript template literals, not shell expansions
  { read -r sent ok bad; read -r kinds; failures=$(cat); } < <(node -e '
    const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(s.sent, s.ok, s.failed);
    console.log(Object.entries(s.byKind).map(([k, v]) => `${k}=${v.sent}`).join(" "));
    const since = s.started - Number(process.argv[2]);  // at_ms counts from the client start
    for (const f of s.failures) console.log(`  ${f.kind} sent ${f.at_ms + since} ms into the load: ${f.error}`);' \
    "$work/load.json" "$load_ms") || true
else
  sent=$(cat "$work"/load.* 2>/dev/null | wc -l) ok=$(cat "$work"/load.* 2>/dev/null | grep -c '^ok' || true)
  bad=$((sent - ok)) kinds="curl" failures=$(grep -h '^fail' "$work"/load.* 2>/dev/null | head -20 | sed 's/^/  /' || true)
fi
share=()
for service in llmgate-1 llmgate-2 llmgate-3; do
  share+=("$service=$(($(access_count "$service") - ${logged[$service]}))")
done
say "(e) load: $clients clients, ${load_s}s: sent $sent, ok $ok, failed $bad ($kinds); replicas logged ${share[*]}"
if ((sent == 0)); then
  fail "(e) the load sent nothing"
elif ((bad > 0)); then
  fail "(e) $bad of $sent requests failed while $reloaded reloaded and $victim was stopped:"
  echo "$failures"
  say "nginx errors since the load started:"
  timeout 20 podman logs --since "$load_since" "${ctr[nginx]}" 2>&1 | grep -E '\[(warn|error|crit|alert|emerg)\]' | head -40 | sed 's/^/  /' || true
else
  say "PASS (e) no request failed while $reloaded reloaded and $victim was stopped"
  say "nginx errors since the load started (connect failures to a stopped replica are retried elsewhere):"
  timeout 20 podman logs --since "$load_since" "${ctr[nginx]}" 2>&1 | grep -E '\[(warn|error|crit|alert|emerg)\]' | head -10 | sed 's/^/  /' || true
fi
generation=$(timeout 10 podman exec "${ctr[$reloaded]}" curl -fsS -m 5 -H "x-api-key: $key" http://127.0.0.1:3000/v1/health/detailed \
  | grep -o '"generation":[0-9]*' || true)
if [[ $generation == '"generation":2' ]]; then
  say "PASS (g) $reloaded reloaded its config under the load (SIGHUP): /v1/health/detailed says generation 2"
else
  fail "(g) $reloaded after SIGHUP: ${generation:-no generation in /v1/health/detailed}"
fi
say "$victim's own last lines:"
timeout 20 podman logs "${ctr[$victim]}" 2>&1 | grep -v '"msg":"access"' | tail -4 | sed 's/^/  /' || true

if ((failed)); then say "FAILED"; exit 1; fi
say "all checks passed"
