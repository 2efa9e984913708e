#!/usr/bin/env bash
# Builds what the throughput benchmark needs (llama.cpp with llama-server, llama-batched-bench and
# llama-quantize; openbatch) and runs it: the guide-shaped workload and one without a shared prefix,
# each through openbatch's Batch API, llama-server at --parallel 8, 16 and 32, and llama-batched-bench.
# The defaults (a generated 512x8 Q8_0 model, 64 requests a workload) finish in a few minutes on a
# 2-core CPU; pass --requests 512 --runs 3 for the README's figures on a quiet machine.
#
# Usage: scripts/bench-throughput.sh [throughput_bench options]   (see build/throughput_bench --help)
# Environment: OPENBATCH_JOBS (build jobs, default: all cores), BUILD_DIR (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build}"
jobs="${OPENBATCH_JOBS:-$(nproc)}"
prefix=$(OPENBATCH_JOBS="$jobs" scripts/build-llama.sh --tools | tail -n 1)
cmake -S . -B "$build_dir" -DLLAMA_PREFIX="$prefix" >/dev/null
cmake --build "$build_dir" -j"$jobs" --target openbatch throughput_bench >/dev/null
args=("$@")
# 64 requests unless the caller chose.
[[ " ${args[*]-} " == *" --requests"* ]] || args=(--requests 64 "${args[@]}")
exec "$build_dir/throughput_bench" "${args[@]}"
