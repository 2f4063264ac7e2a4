#!/usr/bin/env bash
# Builds llmgate (Release) and starts it on config/default.json, port 3000. Extra arguments go
# to llmgate (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target llmgate
exec ./build/llmgate --config config/default.json "$@"
