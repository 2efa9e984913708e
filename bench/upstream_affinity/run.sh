#!/usr/bin/env bash
# Prefix affinity against round-robin over two llama-server upstreams: see affinity_bench.mjs.
#   bench/upstream_affinity/run.sh            (after a build: build/openbatch, build/models/qwen2.5-tiny.gguf)
# Environment: MODEL (default build/models/qwen2.5-tiny.gguf), RUNS, PROMPTS, PER_PROMPT, SYSTEM_WORDS,
# MAX_TOKENS (8), IGNORE_EOS (1: every answer MAX_TOKENS long), SLOTS, THREADS, PARALLEL, LLAMA_ARGS (more llama-server arguments).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export OPENBATCH_BIN=${OPENBATCH_BIN:-$root/build/openbatch}
export LLAMA_SERVER=${LLAMA_SERVER:-$("$root/scripts/build-llama.sh" --tools | tail -n1)/bin/llama-server}
export MODEL=${MODEL:-$root/build/models/qwen2.5-tiny.gguf}
[ -f "$MODEL" ] || "$OPENBATCH_BIN" make-model --shape qwen2.5-tiny --output "$MODEL"
exec node "$root/bench/upstream_affinity/affinity_bench.mjs"
