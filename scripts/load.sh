#!/usr/bin/env bash
# Load comparison in ONE run: the upstream directly, nginx as a plain reverse proxy, and llmgate,
# each proxy pinned to the same single core (0); the upstream and wrk share the other core.
# Scenarios: non-streaming OpenAI passthrough, streaming passthrough (40 chunks), and an OpenAI
# client to an Anthropic-format upstream (the conversion path). Prints req/s, p50/p99 and ratios
# (also as the median of 12 interleaved short rounds, the steadiest figure on a noisy machine),
# and latency at fixed rates of 1k and 5k req/s (benchmarks/paced_load.cpp) with what each proxy adds.
# Also: time to first byte and per-chunk relay delay against a paced upstream, RSS with 5000
# concurrent open streams, llmgate's start-up time, CPU seconds per 10k requests of the proxy's core (llmgate and
# nginx), llmgate's RSS idle and under load, ab (ApacheBench) as the seed documents use it, and the
# throughput of one llmgate with 1 and with 2 worker threads.
#   scripts/load.sh [SECONDS_PER_RUN=5] [CONNECTIONS=32]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
connections=${2:-32}
ulimit -n 20000 2>/dev/null || true  # 5000 open streams need a client and an upstream socket each
scripts/deps.sh
command -v wrk >/dev/null && command -v nginx >/dev/null && command -v ab >/dev/null ||
  { apt-get install -y -qq wrk nginx-light apache2-utils >/dev/null 2>&1 || apt-get install -y -qq wrk nginx apache2-utils >/dev/null; }
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLMGATE_BUILD_TESTS=OFF -DLLMGATE_BUILD_BENCHMARKS=OFF \
  -DLLMGATE_BUILD_LOAD_CLIENT=ON >/dev/null
cmake --build build-release --target llmgate llmgate_paced_load >/dev/null

work=/tmp/llmgate-load
mkdir -p "$work"
# The upstream (static answers; 18180 JSON, 18183 the SSE stream) and nginx as a plain reverse
# proxy with upstream keep-alive (18181 -> 18180, 18184 -> 18183).
source benchmarks/static_upstream.sh
write_static_upstream "$work" 18180 18183
write_nginx_proxy "$work" 18180 18183
cat > "$work/llmgate.json" <<CONF
{"log": {"level": "warn"}, "providers": [
  {"name": "plain", "type": "openai", "base_url": "http://127.0.0.1:18180/v1", "models": ["gpt-4o"]},
  {"name": "stream", "type": "openai", "base_url": "http://127.0.0.1:18183/v1", "models": ["gpt-4o-stream"]},
  {"name": "claude", "type": "anthropic", "base_url": "http://127.0.0.1:18180", "models": ["claude"]},
  {"name": "paced", "type": "openai", "base_url": "http://127.0.0.1:18185/v1", "models": ["gpt-4o-paced"]}]}
CONF
body() { printf '{"model":"%s",%s"messages":[{"role":"user","content":"Say hello to the load test."}]}' "$1" "$2"; }
for spec in plain:gpt-4o: stream:gpt-4o-stream:'"stream":true,' convert:claude:; do
  IFS=: read -r name model extra <<<"$spec"
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n' "'$(body "$model" "$extra")'" > "$work/$name.lua"
done

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
taskset -c 1 nginx -c "$work/upstream.conf" & pids+=($!)
# A paced streaming upstream (chunks 10 ms or 1 s apart, each stamped with its send time).
taskset -c 1 node benchmarks/stream_probe.mjs upstream 18185 & pids+=($!)
taskset -c 0 nginx -c "$work/proxy.conf" & pids+=($!)
proxy_master=$!
# Start-up as llmgate reports it (process start to listening), median of 5 starts.
startups=()
for _ in 1 2 3 4 5; do
  ./build-release/llmgate --config "$work/llmgate.json" --host 127.0.0.1 --port 18189 --threads 1 --log-level info \
    2>"$work/start.log" & starter=$!
  for _ in $(seq 1 500); do grep -q 'ready in' "$work/start.log" && break; sleep 0.01; done
  startups+=("$(sed -n 's/.*ready in \([0-9.]*\) ms.*/\1/p' "$work/start.log")")
  kill "$starter"; wait "$starter" 2>/dev/null || true
done
startup_ms=$(printf '%s\n' "${startups[@]}" | sort -n | sed -n 3p)

taskset -c 0 ./build-release/llmgate --config "$work/llmgate.json" --host 127.0.0.1 --port 18182 --threads 1 & pids+=($!)
gate_pid=$!
sleep 1
proxy_pid=$(pgrep -P "$proxy_master" | head -n1)  # the worker does the proxying, not the master
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# Busy time of core 0, where the proxy under test runs alone: its user and system time plus the
# interrupt and softirq work of its sockets, which per-process counters leave out (not steal:
# the hypervisor's time, not the proxy's).
cpu_ticks() { awk '/^cpu0 / {print $2 + $4 + $7 + $8}' /proc/stat; }
idle_rss=$(rss_kb "$gate_pid")

# Every answer is checked once before it is measured.
curl -sf "http://127.0.0.1:18182/v1/chat/completions" -d "$(body claude "")" |
  grep -q '"content":"Hello from the load upstream."' || { echo "conversion path answer is wrong" >&2; exit 1; }
curl -sf "http://127.0.0.1:18182/v1/chat/completions" -d "$(body gpt-4o-stream '"stream":true,')" |
  cmp -s - "$work/stream.sse" || { echo "streaming passthrough bytes differ" >&2; exit 1; }
curl -sf "http://127.0.0.1:18181/v1/chat/completions" -d "$(body gpt-4o "")" | grep -q 'load upstream' ||
  { echo "nginx proxy answer is wrong" >&2; exit 1; }

run() {  # port script [pid to measure] -> "rps p50_ms p99_ms errors"; with a pid, also cpu_per_10k and load RSS
  local before after
  [ -n "${3:-}" ] && before=$(cpu_ticks "$3")
  [ -n "${3:-}" ] && (sleep "$((seconds / 2))"; rss_kb "$3" > "$work/load_rss") &
  taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$work/$2" "http://127.0.0.1:$1/v1/chat/completions" \
    > "$work/wrk.out"
  wait
  if [ -n "${3:-}" ]; then
    after=$(cpu_ticks "$3")
    awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" '/requests in/ {printf "%.3f\n", t / hz / $1 * 10000}' \
      "$work/wrk.out" > "$work/cpu_per_10k"
  fi
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx|Socket errors/ {err=err $0}
       function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
       END {printf "%.0f %.2f %.2f %s\n", rps, ms(p50), ms(p99), (err == "" ? "none" : err)}' "$work/wrk.out"
}

printf '%-34s %10s %9s %9s  %s\n' "scenario" "req/s" "p50 ms" "p99 ms" "errors"
for scenario in plain:18180:18181 stream:18183:18184; do
  IFS=: read -r name directPort nginxPort <<<"$scenario"
  read -r direct_rps direct_p50 direct_p99 direct_err < <(run "$directPort" "$name.lua")
  read -r nginx_rps nginx_p50 nginx_p99 nginx_err < <(run "$nginxPort" "$name.lua" "$proxy_pid")
  nginx_cpu=$(cat "$work/cpu_per_10k")
  read -r gate_rps gate_p50 gate_p99 gate_err < <(run 18182 "$name.lua" "$gate_pid")
  gate_cpu=$(cat "$work/cpu_per_10k")
  [ "$name" = plain ] && load_rss=$(cat "$work/load_rss")
  printf '%-34s %10s %9s %9s  %s\n' "$name: upstream directly" "$direct_rps" "$direct_p50" "$direct_p99" "$direct_err"
  printf '%-34s %10s %9s %9s  %s\n' "$name: nginx reverse proxy" "$nginx_rps" "$nginx_p50" "$nginx_p99" "$nginx_err"
  printf '%-34s %10s %9s %9s  %s\n' "$name: llmgate (fast path)" "$gate_rps" "$gate_p50" "$gate_p99" "$gate_err"
  awk -v g="$gate_rps" -v n="$nginx_rps" -v d="$direct_rps" -v name="$name" \
    'BEGIN {printf "%-34s llmgate/nginx %.2f   llmgate/direct %.2f\n", name ": throughput ratio", g/n, g/d}'
  printf '%-34s nginx %s s   llmgate %s s\n' "$name: CPU seconds per 10k requests" "$nginx_cpu" "$gate_cpu"
done
# Single runs move with this kind of machine's minute-to-minute speed, and nginx and llmgate do
# not move together: the steadiest figure is the median ratio of many short interleaved rounds.
ratios=$(for _ in $(seq 1 12); do
  nginx_round=$(taskset -c 1 wrk -t1 -c"$connections" -d2s -s "$work/plain.lua" http://127.0.0.1:18181/v1/chat/completions |
    awk '/Requests\/sec/ {print $2}')
  gate_round=$(taskset -c 1 wrk -t1 -c"$connections" -d2s -s "$work/plain.lua" http://127.0.0.1:18182/v1/chat/completions |
    awk '/Requests\/sec/ {print $2}')
  awk -v g="$gate_round" -v n="$nginx_round" 'BEGIN {printf "%.2f\n", g / n}'
done | sort -n | tr '\n' ' ')
printf '%-34s median %s   range %s - %s   (12 interleaved 2 s rounds)\n' "plain: llmgate/nginx by rounds" \
  "$(echo "$ratios" | awk '{print ($6 + $7) / 2}')" "$(echo "$ratios" | awk '{print $1}')" "$(echo "$ratios" | awk '{print $12}')"
read -r conv_rps conv_p50 conv_p99 conv_err < <(run 18182 convert.lua)
printf '%-34s %10s %9s %9s  %s\n' "convert: OpenAI client -> Claude" "$conv_rps" "$conv_p50" "$conv_p99" "$conv_err"

# Latency at fixed request rates (benchmarks/paced_load.cpp, open loop: latency counts from each
# request's due time, so stalls are charged to the requests queued behind them). Three runs per
# target, interleaved; the medians of their p50 and p99 are printed with what each proxy adds to
# the direct figures.
paced() {  # port rate -> "p50 p99" in microseconds
  taskset -c 1 ./build-release/benchmarks/llmgate_paced_load 127.0.0.1 "$1" /v1/chat/completions "$work/ab_body.json" \
    "$2" "$seconds" "$connections" "Hello from the load upstream." |
    sed -n 's/.*p50_us=\([0-9]*\).*p99_us=\([0-9]*\).*/\1 \2/p'
}
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
body gpt-4o "" > "$work/ab_body.json"
for rate in 1000 5000; do
  declare -A p50s=() p99s=()
  for _ in 1 2 3; do
    for target in direct:18180 nginx:18181 llmgate:18182; do
      IFS=: read -r who port <<<"$target"
      read -r p50 p99 < <(paced "$port" "$rate") || { echo "paced load against $who failed" >&2; exit 1; }
      p50s[$who]+="$p50 "; p99s[$who]+="$p99 "
    done
  done
  for who in direct nginx llmgate; do
    # shellcheck disable=SC2086
    eval "${who}_p50=$(median3 ${p50s[$who]}) ${who}_p99=$(median3 ${p99s[$who]})"
  done
  printf '%-34s direct p50 %s p99 %s us | nginx p50 %s p99 %s us | llmgate p50 %s p99 %s us\n' \
    "fixed rate $rate req/s" "$direct_p50" "$direct_p99" "$nginx_p50" "$nginx_p99" "$llmgate_p50" "$llmgate_p99"
  printf '%-34s nginx %+d / %+d us   llmgate %+d / %+d us (p50 / p99)\n' "fixed rate $rate req/s: added" \
    "$((nginx_p50 - direct_p50))" "$((nginx_p99 - direct_p99))" "$((llmgate_p50 - direct_p50))" "$((llmgate_p99 - direct_p99))"
done

# ApacheBench, as the seed documents run it (keep-alive, 32 concurrent, non-streaming passthrough).
ab_rps() {
  taskset -c 1 ab -q -k -n 20000 -c "$connections" -p "$work/ab_body.json" -T application/json \
    "http://127.0.0.1:$1/v1/chat/completions" 2>/dev/null | awk '/Requests per second/ {print int($4)}'
}
printf '%-34s nginx %s req/s   llmgate %s req/s\n' "ab -k -n 20000 -c $connections" "$(ab_rps 18181)" "$(ab_rps 18182)"
printf '%-34s %s ms (median of 5)\n' "llmgate start-up to listening" "$startup_ms"
printf '%-34s idle %s KiB   under load %s KiB\n' "llmgate RSS" "$idle_rss" "$load_rss"

# Paced streams (benchmarks/stream_probe.mjs): what llmgate adds to the first byte and to each
# chunk's trip, then 5000 streams held open at once.
taskset -c 1 node benchmarks/stream_probe.mjs relay http://127.0.0.1:18185/v1/chat/completions \
  http://127.0.0.1:18182/v1/chat/completions | sed 's/^/paced stream: /'
taskset -c 1 node benchmarks/stream_probe.mjs hold http://127.0.0.1:18182/v1/chat/completions 5000 "$gate_pid" |
  sed 's/^/open streams: /'

# Worker threads: llmgate with 1 and with 2 workers, not pinned, the upstream and wrk on core 1 as
# above. With 2 workers the second one shares core 1 with wrk and the upstream: on two cores, the
# load generator and the upstream take what a second worker would use on a bigger machine.
taskset -c 1 wrk -t1 -c1 -d1s -s "$work/plain.lua" http://127.0.0.1:18182/v1/chat/completions >/dev/null  # settle
kill "$gate_pid"; wait "$gate_pid" 2>/dev/null || true
./build-release/llmgate --config "$work/llmgate.json" --host 127.0.0.1 --port 18191 --threads 1 --log-level warn & pids+=($!)
./build-release/llmgate --config "$work/llmgate.json" --host 127.0.0.1 --port 18192 --threads 2 --log-level warn & pids+=($!)
sleep 1
declare -A scaled=()
for _ in 1 2 3 4 5; do
  for threads in 1 2; do
    scaled[$threads]+="$(taskset -c 1 wrk -t1 -c"$connections" -d3s -s "$work/plain.lua" \
      "http://127.0.0.1:1819$threads/v1/chat/completions" | awk '/Requests\/sec/ {printf "%.0f", $2}') "
  done
done
median5() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
# shellcheck disable=SC2086
one=$(median5 ${scaled[1]}) two=$(median5 ${scaled[2]})
printf '%-34s 1 worker %s req/s   2 workers %s req/s   2/1 %.2f   (medians of 5 interleaved 3 s rounds: %s| %s)\n' \
  "plain: worker threads" "$one" "$two" "$(awk -v a="$two" -v b="$one" 'BEGIN {print a / b}')" "${scaled[1]}" "${scaled[2]}"
