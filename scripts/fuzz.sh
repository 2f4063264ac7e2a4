#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default 30), starting from
# the seed corpus in tests/fuzz/corpus. Any crash or broken property fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DLLMGATE_BUILD_FUZZERS=ON -DLLMGATE_BUILD_TESTS=OFF \
  -DLLMGATE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-fuzz --target fuzz_sse_parser fuzz_json_codecs fuzz_event_stream_parser fuzz_json_validator
for target in sse_parser:sse json_codecs:requests event_stream_parser:eventstream json_validator:json; do
  name=${target%%:*}
  corpus=${target##*:}
  work=$(mktemp -d)
  echo "fuzz_$name for ${seconds}s"
  if ! ./build-fuzz/tests/fuzz/fuzz_$name -max_total_time="$seconds" -print_final_stats=1 "$work" \
      "tests/fuzz/corpus/$corpus" >"$work.log" 2>&1; then
    tail -n 60 "$work.log"
    exit 1
  fi
  grep -E "^Done|stat::number_of_executed_units" "$work.log"
  rm -f "$work.log"
  rm -rf "$work"
done
