#!/usr/bin/env bash
# The layering rules as checks that fail the build:
#   - each area (one library per folder of src/ and providers/, CMakeLists.txt) uses only the
#     areas it links: built as shared libraries with --no-undefined, anything else is an
#     undefined reference;
#   - every header compiles on its own (it includes what it uses);
#   - the IR, the providers and routing know no transport: no header or source of theirs
#     (include/llmgate/{core,providers,routing}, src/{core,routing}, providers/) pulls in libcurl
#     or Asio, directly or through another header;
#   - client dialects and providers meet only in the IR: nothing under providers/ or
#     include/llmgate/providers includes llmgate/api/.
set -euo pipefail
cd "$(dirname "$0")/.."
cxx=${CXX:-g++}
flags=(-std=c++20 -Iinclude -I. -x c++)
failed=0
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

for header in $(find include/llmgate providers src -name '*.hpp' | sort); do
  if ! "$cxx" "${flags[@]}" -fsyntax-only "$header" 2>"$errors"; then
    echo "not self-contained: $header"
    head -5 "$errors"
    failed=1
  fi
done

# Headers and sources of the IR, the providers and routing: their whole include closure.
for file in $(find include/llmgate/core include/llmgate/providers include/llmgate/routing src/core src/routing providers \
              -name '*.hpp' -o -name '*.cpp' | sort); do
  transport=$("$cxx" "${flags[@]}" -M "$file" | tr ' \\' '\n\n' | grep -E '/curl/|/boost/asio' | head -3 || true)
  if [ -n "$transport" ]; then
    echo "$file pulls in the transport:"
    echo "$transport" | sed 's/^/  /'
    failed=1
  fi
done

cmake -S . -B build-layering -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLLMGATE_LAYERING_CHECK=ON -DLLMGATE_BUILD_TESTS=OFF \
  -DLLMGATE_BUILD_BENCHMARKS=OFF -DLLMGATE_BUILD_LOAD_CLIENT=OFF >/dev/null
if ! cmake --build build-layering >"$errors" 2>&1; then
  grep -E -m 20 "undefined reference|error" "$errors" || tail -20 "$errors"
  echo "an area uses what it does not link (or the build failed): see above"
  failed=1
fi

if grep -rnE '#[[:space:]]*include[[:space:]]*[<"]llmgate/api/' providers/ include/llmgate/providers/; then
  echo "files under providers/ include a client dialect (llmgate/api/): they may meet only in the IR"
  failed=1
fi

if [ "$failed" -ne 0 ]; then
  echo "layering check failed"
  exit 1
fi
echo "layering check passed: every area links what it uses, $(find include/llmgate providers src -name '*.hpp' | wc -l) headers self-contained, core/providers/routing free of libcurl and Asio, providers/ free of llmgate/api/"
