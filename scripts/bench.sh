#!/usr/bin/env bash
# Builds the micro benchmarks (Release) and prints their figures and the ratios to the baselines
# measured in the same run (medians of 5 repetitions).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLMGATE_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench --target llmgate_micro_benchmarks
out=$(mktemp)
./build-bench/benchmarks/llmgate_micro_benchmarks --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out" --benchmark_out_format=csv
echo
echo "ratios (median real time; >1 means llmgate's way is faster than the baseline):"
awk -F, '/_median"/ { gsub(/"/, "", $1); sub(/_median$/, "", $1); t[$1] = $3 }
  END {
    printf "  model rewrite: splice vs parse+dump        %.1fx\n", t["BM_ModelRewriteBaselineParseDump"] / t["BM_ModelRewriteSplice"]
    printf "  chunk encoding: hand-built vs JSON DOM     %.1fx\n", t["BM_StreamEncoderBaselineJsonDom"] / t["BM_StreamEncoderTextDeltas"]
    printf "  SSE parser (16 KiB reads) vs bare line scan %.2fx the baseline time\n", t["BM_SseParser/16384"] / t["BM_SseBaselineLineScan"]
    printf "  event-stream decoder (16 KiB reads) vs CRC32 pass alone %.2fx the baseline time\n", t["BM_EventStreamParser/16384"] / t["BM_EventStreamBaselineCrcOnly"]
    printf "  conversion cache: hit vs miss              %.1fx\n", t["BM_ConversionCacheMiss"] / t["BM_ConversionCacheHit"]
    printf "  request validation vs json::accept         %.1fx\n", t["BM_ValidateRequestBaselineAccept"] / t["BM_ValidateRequest"]
  }' "$out"
grep -E '^"?BM_(EventStream|Kiro|SseParser|ValidateRequest).*_median' "$out" | awk -F, '{ gsub(/"/, "", $1); printf "  %-40s %8.0f MB/s\n", $1, $6 / 1e6 }' || true
rm -f "$out"
