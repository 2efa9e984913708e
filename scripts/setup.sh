#!/usr/bin/env bash
# Everything openbatch needs on a fresh Debian 12 machine: Debian packages, llama.cpp built from the
# source pinned in the npm package node-llama-cpp (cached outside the work tree), openbatch itself in
# build/, and the end-to-end tests' npm packages. Safe to run again: each step skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake git pkg-config ca-certificates curl openssl ccache nodejs npm
  nlohmann-json3-dev libsimdjson-dev libcpp-httplib-dev libcli11-dev libcurl4-openssl-dev
  libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev sqlite3 libwebp-dev
  libpq-dev postgresql-15 # the PostgreSQL store; the tests start a PostgreSQL 15 of their own
  chromium) # chromium: the dashboard's end-to-end test drives it headless (puppeteer-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere than Debian (the machine image); then leave them be.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  echo "[setup] installing Debian packages: ${missing[*]}" >&2
  SUDO=; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

llama_args=()
[[ "${OPENBATCH_CUDA:-0}" == 1 ]] && llama_args+=(--cuda)
[[ "${OPENBATCH_LLAMA_TOOLS:-0}" == 1 ]] && llama_args+=(--tools)
prefix=$(scripts/build-llama.sh "${llama_args[@]}" | tail -n 1)

build_dir="${OPENBATCH_BUILD_DIR:-build}"
jobs="${OPENBATCH_JOBS:-$(nproc)}"
cmake -S . -B "$build_dir" -DLLAMA_PREFIX="$prefix" -DCMAKE_BUILD_TYPE="${OPENBATCH_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build_dir" -j"$jobs" 2>&1 | grep -E "error|warning: unused|Error" || true
test -x "$build_dir/openbatch" || { echo "[setup] build failed" >&2; cmake --build "$build_dir" -j1 2>&1 | tail -40; exit 1; }

if [[ ! -d tests/e2e/node_modules/openai || ! -d tests/e2e/node_modules/pngjs || ! -d tests/e2e/node_modules/jpeg-js ||
  ! -d tests/e2e/node_modules/puppeteer-core || ! -d tests/e2e/node_modules/ajv ]]; then
  echo "[setup] installing the end-to-end tests' npm packages" >&2
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "[setup] ready: $build_dir/openbatch" >&2
