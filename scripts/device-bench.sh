#!/usr/bin/env bash
# Runs on a GPU machine without network access (the `device` tool): unpacks the Debian packages brought
# in .devcarry/ into a private root, builds llama.cpp with CUDA from the node-llama-cpp tarball brought
# along, builds openbatch against both, and runs the engine benchmark on a generated model; or, in the
# throughput mode, builds llama.cpp's tools too (for the H100 only, to build fast) and runs
# throughput_bench --gpu (openbatch against llama-server and llama-batched-bench).
# Not part of CI. Usage there: bash scripts/device-bench.sh [SHAPE|llama-only|throughput-build|throughput [OPTIONS]]
# (throughput-build only builds, so that a short first call leaves a warm machine for the run.)
set -euo pipefail
cd "$(dirname "$0")/.."
shape="${1:-qwen2.5-0.5b}"
[[ $# -gt 0 ]] && shift
root=/tmp/debroot
mkdir -p "$root"
for f in .devcarry/*.deb; do dpkg -x "$f" "$root"; done
# Debian's libcurl.so.4 needs libssh2, LDAP and more that the machine lacks: link the machine's own.
lib="$root/usr/lib/x86_64-linux-gnu"
if [[ -e /usr/lib/x86_64-linux-gnu/libcurl.so.4 ]]; then
  rm -f "$lib"/libcurl.so.4* && ln -sf /usr/lib/x86_64-linux-gnu/libcurl.so.4 "$lib/libcurl.so"
fi
export CMAKE_PREFIX_PATH="$root/usr"
export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
export CPATH="$root/usr/include"
export OPENBATCH_CACHE=/tmp/openbatch-cache OPENBATCH_NLC_TARBALL="$PWD/.devcarry/node-llama-cpp-3.22.1.tgz"
export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [[ "$shape" == throughput* ]]; then
  prefix=$(OPENBATCH_CUDA_ARCH=90 scripts/build-llama.sh --cuda --tools | tail -n 1)
else
  prefix=$(scripts/build-llama.sh --cuda | tail -n 1)
fi
[[ "$shape" == llama-only ]] && exit 0
cmake -S . -B /tmp/openbatch-build-cuda -DLLAMA_PREFIX="$prefix" -DOPENBATCH_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$root/usr" >/dev/null
cmake --build /tmp/openbatch-build-cuda -j"$(nproc)" --target openbatch engine_concurrency_bench throughput_bench \
  >/tmp/openbatch-build-cuda.log 2>&1 || { tail -40 /tmp/openbatch-build-cuda.log; exit 1; }
[[ "$shape" == throughput-build ]] && exit 0
if [[ "$shape" == throughput ]]; then
  exec /tmp/openbatch-build-cuda/throughput_bench --gpu --work-dir /tmp/openbatch-throughput "$@"
fi
mkdir -p /tmp/openbatch-models
model=/tmp/openbatch-models/$shape-q8_0.gguf
[[ -f $model ]] || /tmp/openbatch-build-cuda/openbatch make-model --shape "$shape" --quantize q8_0 --output "$model"
/tmp/openbatch-build-cuda/engine_concurrency_bench --model "$model" --requests 32 --tokens 128
