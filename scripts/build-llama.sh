#!/usr/bin/env bash
# Fetches llama.cpp's pinned source from the npm package node-llama-cpp, checks the tarball's integrity,
# and builds llama, ggml, common and mtmd (plus, with --tools, llama-server, llama-batched-bench and
# llama-quantize for the benchmarks) into a cache outside the work tree. Reuses the cache when present.
#
# Usage: scripts/build-llama.sh [--cuda] [--tools]
# Environment: OPENBATCH_CACHE (default ~/.cache/openbatch), OPENBATCH_JOBS (default: all cores),
# OPENBATCH_NLC_TARBALL (a node-llama-cpp tarball already at hand, for machines without npm access),
# OPENBATCH_CUDA_ARCH (with --cuda: CMAKE_CUDA_ARCHITECTURES, default native; "90" builds only for the
# H100 and is much faster to compile).
# Prints the install prefix on its last line of stdout.
set -euo pipefail

readonly NLC_VERSION="3.22.1"
readonly NLC_INTEGRITY="sha512-bltIipuWmc123H7tMIgDGKSsSrhmhlQYeVUC48XTjVW7XGJJiJJyCdlTMzQ/LiWoPkGDpcL4FviDpgw7qfTiDw=="
readonly LLAMA_TAG="v0.5.0"

cuda=OFF
tools=OFF
for arg in "$@"; do
  case "$arg" in
    --cuda) cuda=ON ;;
    --tools) tools=ON ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done
if [[ $cuda == ON ]] && ! command -v nvcc >/dev/null; then
  if [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH=/usr/local/cuda/bin:$PATH
  else echo "--cuda asked for but nvcc is not installed" >&2; exit 1; fi
fi

cuda_arch="${OPENBATCH_CUDA_ARCH:-native}"
arch_pattern='^[0-9a-z;-]+$'
[[ "$cuda_arch" =~ $arch_pattern ]] || { echo "bad OPENBATCH_CUDA_ARCH: $cuda_arch" >&2; exit 2; }

cache_root="${OPENBATCH_CACHE:-$HOME/.cache/openbatch}"
# The key covers the source version, the options and the CPU (GGML_NATIVE tunes for this one); a CUDA
# build also names the GPU architectures it holds code for.
cpu_sig=$( (uname -m; grep -m1 '^flags' /proc/cpuinfo || true) | sha1sum | cut -c1-8)
cuda_sig="cuda${cuda}"
[[ $cuda == ON ]] && cuda_sig="cudaON-sm${cuda_arch//;/_}"
# Our patches (patches/llama.cpp/) are part of the source: a change to them is a new source and build.
here="$(cd "$(dirname "$0")/.." && pwd)"
patch_sig=$(cat /dev/null "$here"/patches/llama.cpp/*.patch 2>/dev/null | sha1sum | cut -c1-8)
key="llama-${LLAMA_TAG}-nlc${NLC_VERSION}-p${patch_sig}-${cuda_sig}-${cpu_sig}"
src="$cache_root/src/llama.cpp-${LLAMA_TAG}-p${patch_sig}"
build="$cache_root/build/$key"
prefix="$cache_root/install/$key"
jobs="${OPENBATCH_JOBS:-$(nproc)}"
log() { echo "[build-llama] $*" >&2; }

fetch_source() {
  [[ -f "$src/.openbatch-ok" ]] && return
  local tmp; tmp=$(mktemp -d)
  local tgz="$tmp/node-llama-cpp-${NLC_VERSION}.tgz"
  if [[ -n "${OPENBATCH_NLC_TARBALL:-}" ]]; then
    # An offline machine: the tarball was brought along (its integrity is checked all the same).
    cp "$OPENBATCH_NLC_TARBALL" "$tgz"
  else
    log "fetching node-llama-cpp@${NLC_VERSION} from the npm registry"
    (cd "$tmp" && npm pack --silent "node-llama-cpp@${NLC_VERSION}" >/dev/null)
  fi
  local got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [[ "$got" != "$NLC_INTEGRITY" ]]; then
    log "integrity mismatch: expected $NLC_INTEGRITY, got $got"; exit 1
  fi
  tar -xzf "$tgz" -C "$tmp" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
  grep -q "\"$LLAMA_TAG\"" "$tmp/package/llama/llama.cpp.info.json" || { log "bundle is not $LLAMA_TAG"; exit 1; }
  rm -rf "$src"; mkdir -p "$(dirname "$src")"
  git clone -q "$tmp/package/llama/gitRelease.bundle" "$src" 2>/dev/null
  # Small patches of ours, applied at build (see patches/llama.cpp/README.md).
  for p in "$here"/patches/llama.cpp/*.patch; do
    [[ -e "$p" ]] || continue
    log "applying $(basename "$p")"; git -C "$src" apply "$p"
  done
  rm -rf "$tmp"
  touch "$src/.openbatch-ok"
}

build_libs() {
  local extra=()
  [[ $cuda == ON ]] && extra+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$cuda_arch")
  if command -v ccache >/dev/null; then
    extra+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    # Paths relative to the cache: a source with other patches still hits for the files they leave alone.
    export CCACHE_BASEDIR="$cache_root"
  fi
  # -Bsymbolic: llama.cpp's libraries keep their own symbols (its common library carries a cpp-httplib
  # of its own, which must not be mixed with Debian's that openbatch uses).
  local args=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DCMAKE_SHARED_LINKER_FLAGS=-Wl,-Bsymbolic \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_RPATH="$prefix/lib" \
    -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=ON -DLLAMA_TOOLS_INSTALL=ON \
    "${extra[@]}")
  local targets=(llama ggml llama-common mtmd)
  [[ $tools == ON ]] && targets+=(llama-server llama-batched-bench llama-quantize)
  # The stamp records the options built with and whether the tools were; anything else builds again,
  # incrementally in the same build folder. A build with the tools serves one without them.
  local stamp; stamp=$(echo "${args[*]}" | sha1sum | cut -c1-12)
  # Work trees share the cache: one build at a time in a build folder; a second caller waits, then
  # finds the stamp written.
  mkdir -p "$cache_root"
  exec 9>"$cache_root/.lock-$key"
  flock 9
  local have=""; [[ -f "$prefix/.openbatch-ok" ]] && have=$(cat "$prefix/.openbatch-ok")
  if [[ "$have" == "$stamp tools=ON" || ( $tools == OFF && "$have" == "$stamp tools=OFF" ) ]]; then return 0; fi
  log "configuring $key"
  cmake -S "$src" -B "$build" "${args[@]}" >"$cache_root/cmake-$key.log" 2>&1 \
    || { cat "$cache_root/cmake-$key.log" >&2; exit 1; }
  log "building ${targets[*]} with -j$jobs (a few minutes, once)"
  cmake --build "$build" -j"$jobs" --target "${targets[@]}" >"$cache_root/build-$key.log" 2>&1 \
    || { tail -50 "$cache_root/build-$key.log" >&2; exit 1; }
  install_tree
  echo "$stamp tools=$tools" >"$prefix/.openbatch-ok"
  return 0
}

# Lays out headers and shared libraries the way openbatch's CMake expects them. Files are replaced, not
# rewritten in place (--remove-destination): a process still running on the old libraries (a test, a
# server started from another work tree) keeps its mapping instead of crashing on a truncated file.
install_tree() {
  mkdir -p "$prefix/include" "$prefix/lib" "$prefix/bin"
  cp "$src"/include/llama.h "$src"/include/llama-cpp.h "$prefix/include/"
  cp "$src"/ggml/include/*.h "$prefix/include/"
  cp "$src"/tools/mtmd/mtmd.h "$src"/tools/mtmd/mtmd-helper.h "$prefix/include/"
  mkdir -p "$prefix/include/common"
  cp "$src"/common/*.h "$prefix/include/common/"
  # common's headers use llama.cpp's vendored nlohmann; keep it apart from Debian's.
  mkdir -p "$prefix/include/vendor"; cp -r "$src"/vendor/nlohmann "$prefix/include/vendor/"
  find "$build" -name '*.so*' \( -type f -o -type l \) -exec cp -P --remove-destination {} "$prefix/lib/" \; \
    2>/dev/null || true
  find "$build" -name 'libllama-common*.a' -exec cp --remove-destination {} "$prefix/lib/" \;
  for b in llama-server llama-batched-bench llama-quantize; do
    if [[ -x "$build/bin/$b" ]]; then cp --remove-destination "$build/bin/$b" "$prefix/bin/"; fi
  done
  return 0
}

# What openbatch takes from the source beyond the libraries, copied on every run (a prefix built by an
# older script gains them): the headers of common's sub-folders (its chat library includes them), and
# the real tokenizers and chat templates the test models are made from (make-model --shape qwen2.5-tiny).
install_extras() {
  local d
  for d in jinja parsers; do
    [[ -d "$src/common/$d" ]] || continue
    mkdir -p "$prefix/include/common/$d"
    cp -u "$src"/common/$d/*.h "$prefix/include/common/$d/" 2>/dev/null || true
    cp -u "$src"/common/$d/*.hpp "$prefix/include/common/$d/" 2>/dev/null || true
  done
  mkdir -p "$prefix/share/llama.cpp/models/templates"
  cp -u "$src"/models/ggml-vocab-qwen2.gguf "$src"/models/ggml-vocab-llama-bpe.gguf "$prefix/share/llama.cpp/models/"
  cp -u "$src"/models/templates/*.jinja "$prefix/share/llama.cpp/models/templates/"
}

fetch_source
build_libs
install_extras
echo "$prefix"
