#!/usr/bin/env bash
# Many nodes, one queue (bench/fleet/fleet_bench.mjs): 2,000 requests through 1, 2 and 4 nodes on one
# PostgreSQL (started here, in a temporary folder) whose upstream is a loopback stand-in answering after
# a fixed delay; then GET /v1/batches/{id} with wrk on SQLite and on PostgreSQL. Prints Markdown tables.
#
# Usage: scripts/bench-fleet.sh
# Environment: BUILD_DIR (default build), REQUESTS (2000), DELAY_MS (200), PARALLEL (8 a node),
#              NODES (1,2,4), WRK_SECONDS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build}"
[[ -x "$build_dir/openbatch" ]] || { echo "build openbatch first: scripts/setup.sh" >&2; exit 1; }
[[ -d tests/e2e/node_modules/openai ]] || (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
if ! command -v wrk >/dev/null; then
  SUDO=; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
OPENBATCH_BIN="$PWD/$build_dir/openbatch" exec node bench/fleet/fleet_bench.mjs
