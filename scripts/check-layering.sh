#!/usr/bin/env bash
# The layering rules as checks that fail the build:
#   - each area (one library per folder of src/ and providers/, CMakeLists.txt) uses only the
#     areas it links: built as shared libraries with --no-undefined, anything else is an
#     undefined reference;
#   - every header compiles on its own (it includes what it uses);
#   - the IR, the providers and routing know no transport: nothing under include/llmgate/core,
#     providers or routing pulls in libcurl or Asio, directly or through another header;
#   - client dialects and providers meet only in the IR: no file under providers/ includes
#     llmgate/api/.
set -euo pipefail
cd "$(dirname "$0")/.."
cxx=${CXX:-g++}
flags=(-std=c++20 -Iinclude -I. -x c++)
failed=0

for header in $(find include/llmgate providers src -name '*.hpp' | sort); do
  if ! "$cxx" "${flags[@]}" -fsyntax-only "$header" 2>/tmp/llmgate-layering.err; then
    echo "not self-contained: $header"
    head -5 /tmp/llmgate-layering.err
    failed=1
  fi
done

for header in $(find include/llmgate/core include/llmgate/providers include/llmgate/routing -name '*.hpp' | sort); do
  transport=$("$cxx" "${flags[@]}" -M "$header" | tr ' \\' '\n\n' | grep -E '/curl/|/boost/asio' | head -3 || true)
  if [ -n "$transport" ]; then
    echo "$header pulls in the transport:"
    echo "$transport" | sed 's/^/  /'
    failed=1
  fi
done

cmake -S . -B build-layering -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLLMGATE_LAYERING_CHECK=ON -DLLMGATE_BUILD_TESTS=OFF \
  -DLLMGATE_BUILD_BENCHMARKS=OFF -DLLMGATE_BUILD_LOAD_CLIENT=OFF >/dev/null
if ! cmake --build build-layering >/tmp/llmgate-layering-build.log 2>&1; then
  grep -E "undefined reference|error" /tmp/llmgate-layering-build.log | head -20
  echo "an area uses what it does not link (or the build failed): see above"
  failed=1
fi

if grep -rn '#include "llmgate/api/' providers/; then
  echo "files under providers/ include a client dialect (llmgate/api/): they may meet only in the IR"
  failed=1
fi

if [ "$failed" -ne 0 ]; then
  echo "layering check failed"
  exit 1
fi
echo "layering check passed: every area links what it uses, $(find include/llmgate providers src -name '*.hpp' | wc -l) headers self-contained, core/providers/routing free of libcurl and Asio, providers/ free of llmgate/api/"
