#!/usr/bin/env bash
# Installs the Debian packages llmgate builds and tests with, when any is missing.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates
  libboost1.81-dev libcurl4-openssl-dev nlohmann-json3-dev libspdlog-dev libssl-dev zlib1g-dev libhiredis-dev libmimalloc-dev
  redis-server
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node.js runs the OpenAI SDK test; keep a node that is already there (it may not be Debian's).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  updated=1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# promtool (Debian's prometheus package) checks the /metrics exposition in the tests; a machine
# that cannot install it still builds and runs everything else (that one test is then skipped).
if ! command -v promtool >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  [ -n "${updated:-}" ] || $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null ||
    echo "prometheus (promtool) could not be installed: the promtool check will be skipped"
fi
