#!/usr/bin/env bash
# Builds llmgate and runs every test with ctest: unit, integration (real server + loopback
# upstreams) and the official OpenAI Node SDK suite.
#   scripts/test.sh             RelWithDebInfo build in build/
#   scripts/test.sh --sanitize  the same suite under ASan+UBSan in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
build=build
flags=()
if [[ "${1:-}" == "--sanitize" ]]; then
  build=build-asan
  flags=(-DCMAKE_BUILD_TYPE=Debug -DLLMGATE_SANITIZE=ON -DLLMGATE_BUILD_BENCHMARKS=OFF)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
{ [ -d tests/sdk/node_modules/openai ] && [ -x tests/sdk/node_modules/.bin/claude ] && [ -x tests/sdk/node_modules/.bin/codex ]; } || npm ci --prefix tests/sdk --no-audit --no-fund --loglevel=error
cmake -S . -B "$build" -G Ninja "${flags[@]}" >/dev/null
cmake --build "$build"
ctest --test-dir "$build" --output-on-failure -j2
