#!/usr/bin/env bash
# The main job: the guide's Example 1 (categorising movies into JSON) end to end on the default model:
# a Chat Completions call, then the whole batch workflow (JSONL file, upload, batch, polling, output
# file, results matched by custom_id) with the official openai npm package against a real server.
#
# MODEL=path/to/model.gguf uses your own GGUF model instead of the generated default (a random-weight
# model with the 512x8 benchmark shape, Q8_0). DATASET=file.csv uses your own movies (column Overview).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir="${OPENBATCH_BUILD_DIR:-build}"
if [[ ! -d examples/node_modules/openai ]]; then
  (cd examples && npm install --no-audit --no-fund --loglevel=error)
fi

model="${MODEL:-}"
if [[ -z "$model" ]]; then
  model="$build_dir/models/bench-512x8-q8_0.gguf"
  [[ -f "$model" ]] || "$build_dir/openbatch" make-model --shape bench-512x8 --quantize q8_0 --seed 1 --output "$model"
fi

data_dir=$(mktemp -d)
log="$data_dir/server.log"
"$build_dir/openbatch" serve --model "$model" --model-id gpt-4o-mini --host 127.0.0.1 --port 0 \
  --data-dir "$data_dir" --api-key sk-demo 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data_dir"' EXIT
port=""
for _ in $(seq 1 120); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
  [[ -n "$port" ]] && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done
[[ -n "$port" ]] || { echo "server did not start" >&2; cat "$log" >&2; exit 1; }
echo "[demo] openbatch serving $model on port $port" >&2
export OPENAI_BASE_URL="http://127.0.0.1:$port/v1" OPENAI_API_KEY=sk-demo
# 1. The guide's own code, in JavaScript with the official openai package, unchanged but for the URL.
node examples/run_example1.mjs

# 2. The same job with openbatch's command line: prepare, submit and watch, results joined to the rows.
dataset="${DATASET:-examples/data/movies.csv}"
node -e "import('./examples/guide_example1.mjs').then(m => process.stdout.write(m.categorize_system_prompt))" \
  >"$data_dir/prompt.txt"
echo "== the same with the openbatch command line" >&2
"$build_dir/openbatch" prepare "$dataset" --model gpt-4o-mini --system "@$data_dir/prompt.txt" --user "{Overview}" \
  --json-object --temperature 0.1 -o "$data_dir/tasks.jsonl"
batch=$("$build_dir/openbatch" submit "$data_dir/tasks.jsonl" --metadata job=movies-demo --wait)
"$build_dir/openbatch" results "$batch" --join "$dataset" --column categories --spread -o "$data_dir/movies_out.csv"
echo "== $batch: the first rows of the joined CSV" >&2
head -n 4 "$data_dir/movies_out.csv"
