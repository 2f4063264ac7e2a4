# Sourced by benchmarks/cost.sh and benchmarks/features.sh: the Release build and the tools they
# need, and the callgrind measurement both make.
#
#   prepare_cost_tools   installs valgrind and nginx when missing, builds llmgate,
#                        llmgate_paced_load and llmgate_stack_floor (Release, build-release/)
#                        and sets $client.
# Then, with $work, $rate, $seconds and $requests set:
#   measure NAME PORT PATH BODY EXPECT BINARY COMMAND...   (extra request headers in the
#       array $extra_headers) prints total own curl libstdcxx libc other, per request
#   row LABEL FIGURES [PER-EVENT DIVISOR]                  prints one table line
#   wait_port PORT
prepare_cost_tools() {
  scripts/deps.sh
  command -v valgrind >/dev/null && command -v nginx >/dev/null ||
    { apt-get install -y -qq valgrind nginx-light >/dev/null 2>&1 || apt-get install -y -qq valgrind nginx >/dev/null; }
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLMGATE_BUILD_TESTS=OFF -DLLMGATE_BUILD_BENCHMARKS=OFF \
    -DLLMGATE_BUILD_LOAD_CLIENT=ON >/dev/null
  cmake --build build-release --target llmgate llmgate_paced_load llmgate_stack_floor >/dev/null
  client=build-release/benchmarks/llmgate_paced_load
  [ -x "$client" ] || client=$(find build-release -name llmgate_paced_load -type f | head -1)
}

extra_headers=()
profiled_pid=""

wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "cost: nothing listens on port $1" >&2
  return 1
}

# Sums callgrind_annotate's self cost per object into: total llmgate curl libstdcxx libc (with the
# allocator, libmimalloc) other.
split_by_object() {
  callgrind_annotate --inclusive=no --threshold=100 "$1" 2>/dev/null | awk -v binary="$2" '
    /^ *[0-9,]+ .*\[.*\]$/ {
      count = $1; gsub(",", "", count); object = $NF
      total += count
      if (index(object, binary) > 0) own += count
      else if (object ~ /libcurl/) curl += count
      else if (object ~ /libstdc\+\+/) cxx += count
      else if (object ~ /libc\.so|libc-|libm\.so|libmimalloc/) libc += count
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
  "$client" 127.0.0.1 "$port" "$path" "$work/$body" 200 0.5 1 "$expect" "${extra_headers[@]}" >/dev/null
  callgrind_control -i on "$profiled_pid" >/dev/null 2>&1
  local figures
  figures=$("$client" 127.0.0.1 "$port" "$path" "$work/$body" "$rate" "$seconds" 1 "$expect" "${extra_headers[@]}")
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

