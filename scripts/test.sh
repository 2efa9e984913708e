#!/usr/bin/env bash
# Runs every test: the unit tests (GoogleTest, through ctest) and the end-to-end tests, which start the
# real server binary on a loopback port with a generated tiny model and drive it with the official
# `openai` npm package.
set -euo pipefail
cd "$(dirname "$0")/.."
# llama-server too: the real-template tests check that openbatch's prompts are llama-server's.
OPENBATCH_LLAMA_TOOLS=1 scripts/setup.sh
build_dir="${OPENBATCH_BUILD_DIR:-build}"

mkdir -p "$build_dir/models"
model="$build_dir/models/tiny.gguf"
[[ -f "$model" ]] || "$build_dir/openbatch" make-model --shape tiny --seed 1 --output "$model"
vision_model="$build_dir/models/tiny-vision.gguf" mmproj="$build_dir/models/tiny-vision-mmproj.gguf"
[[ -f "$vision_model" && -f "$mmproj" ]] ||
  "$build_dir/openbatch" make-model --shape tiny-vision --seed 1 --output "$vision_model" --mmproj-output "$mmproj"

# Qwen2.5-VL's shape (M-RoPE, Qwen2's tokenizer, its template) and Qwen3-VL's (interleaved M-RoPE,
# DeepStack, Qwen3's tokenizer, the Qwen3.5 template), each with its projector.
for shape in qwen2.5-vl-tiny qwen3-vl-tiny; do
  vl="$build_dir/models/$shape.gguf" vl_mmproj="$build_dir/models/$shape-mmproj.gguf"
  [[ -f "$vl" && -f "$vl_mmproj" ]] ||
    "$build_dir/openbatch" make-model --shape "$shape" --seed 1 --output "$vl" --mmproj-output "$vl_mmproj"
done

# Models with the real tokenizers and chat templates of llama.cpp's source (Qwen2.5, Llama 3.2, Qwen3).
# Untamed copies (every tensor N(0, 0.02)): the tool-call and JSON tests' hard case.
for shape in qwen2.5-tiny llama3-tiny qwen3-tiny; do
  [[ -f "$build_dir/models/$shape.gguf" ]] ||
    "$build_dir/openbatch" make-model --shape "$shape" --seed 1 --output "$build_dir/models/$shape.gguf"
  [[ -f "$build_dir/models/$shape-untamed.gguf" ]] ||
    "$build_dir/openbatch" make-model --shape "$shape" --seed 1 --untamed --output "$build_dir/models/$shape-untamed.gguf"
done
llama_prefix=$(scripts/build-llama.sh --tools | tail -n 1)

echo "== unit tests" >&2
(cd "$build_dir" && ctest --output-on-failure --timeout 300 -j2)

echo "== end-to-end tests" >&2
export OPENBATCH_BIN="$PWD/$build_dir/openbatch" OPENBATCH_TEST_MODEL="$PWD/$model"
export OPENBATCH_TEST_VISION_MODEL="$PWD/$vision_model" OPENBATCH_TEST_MMPROJ="$PWD/$mmproj"
export OPENBATCH_TEST_REAL_MODELS="$PWD/$build_dir/models" OPENBATCH_LLAMA_SERVER="$llama_prefix/bin/llama-server"
cd tests/e2e && node --test --test-concurrency=1 .
