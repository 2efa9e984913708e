#!/usr/bin/env bash
# Runs every test: the unit tests (GoogleTest, through ctest) and the end-to-end tests, which start the
# real server binary on a loopback port with a generated tiny model and drive it with the official
# `openai` npm package.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir="${OPENBATCH_BUILD_DIR:-build}"

mkdir -p "$build_dir/models"
model="$build_dir/models/tiny.gguf"
[[ -f "$model" ]] || "$build_dir/openbatch" make-model --shape tiny --seed 1 --output "$model"
vision_model="$build_dir/models/tiny-vision.gguf" mmproj="$build_dir/models/tiny-vision-mmproj.gguf"
[[ -f "$vision_model" && -f "$mmproj" ]] ||
  "$build_dir/openbatch" make-model --shape tiny-vision --seed 1 --output "$vision_model" --mmproj-output "$mmproj"

echo "== unit tests" >&2
(cd "$build_dir" && ctest --output-on-failure --timeout 300 -j2)

echo "== end-to-end tests" >&2
export OPENBATCH_BIN="$PWD/$build_dir/openbatch" OPENBATCH_TEST_MODEL="$PWD/$model"
export OPENBATCH_TEST_VISION_MODEL="$PWD/$vision_model" OPENBATCH_TEST_MMPROJ="$PWD/$mmproj"
cd tests/e2e && node --test --test-concurrency=1 .
