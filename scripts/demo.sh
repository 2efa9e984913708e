#!/usr/bin/env bash
# The main job: the guide's Example 1 (categorising movies into JSON) end to end: a Chat Completions
# call, then the whole batch workflow (JSONL file, upload, batch, polling, output file, results matched
# by custom_id) with the official openai npm package against a real server, then the same with
# openbatch's command line. --vision runs Example 2 instead (captioning pictures of furniture, served
# from a loopback HTTP server and inline as data: URLs).
#
#   scripts/demo.sh [--vision] [--rows N] [--generated]
#
# The model, first found of:
#   MODEL=path/to/model.gguf (and MMPROJ=path/to/mmproj.gguf with --vision)   your own file
#   HF_REPO=owner/name[:quant]                                                  a model from the hub
#   a real small model from the hub ($HF_ENDPOINT, default https://huggingface.co), when the hub answers
#     or the model is cached: Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q8_0 (--vision: SmolVLM-256M-Instruct)
#   a generated model with random weights (answers are random; the plumbing is real)
# --generated skips the hub and uses the generated model. --rows N (or ROWS=N) runs only the first N
# rows. DATASET=file.csv uses your own movies (column Overview).
set -euo pipefail
cd "$(dirname "$0")/.."

vision=0 generated=0 rows="${ROWS:-}"
while (($#)); do
  case "$1" in
    --vision) vision=1 ;;
    --generated) generated=1 ;;
    --rows) rows="${2:?--rows needs a number}"; shift ;;
    --rows=*) rows="${1#--rows=}" ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ -z "$rows" || "$rows" =~ ^[1-9][0-9]*$ ]] || { echo "demo: --rows takes a positive number, not '$rows'" >&2; exit 2; }

scripts/setup.sh
build_dir="${OPENBATCH_BUILD_DIR:-build}"
bin="$build_dir/openbatch"
if [[ ! -d examples/node_modules/openai ]]; then
  (cd examples && npm install --no-audit --no-fund --loglevel=error)
fi

# ---- the model
hub="${HF_ENDPOINT:-https://huggingface.co}"
hub="${hub%/}"
models_dir="${OPENBATCH_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/openbatch/models}"
if ((vision)); then default_repo="ggml-org/SmolVLM-256M-Instruct-GGUF:Q8_0"; else default_repo="Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q8_0"; fi
hub_answers() {  # the hub's API knows the repository, within 5 s
  local auth=()
  [[ -n "${HF_TOKEN:-}" ]] && auth=(-H "Authorization: Bearer $HF_TOKEN")
  curl -sf --max-time 5 -o /dev/null "${auth[@]}" "$hub/api/models/${1%%:*}"
}
cached() { compgen -G "$models_dir/${1%%:*}/*.gguf" >/dev/null; }

source_args=()
if [[ -n "${MODEL:-}" ]]; then
  source_args=(--model "$MODEL")
  ((vision)) && source_args+=(--mmproj "${MMPROJ:?with --vision, MMPROJ= names the projector of MODEL}")
  echo "[demo] model: $MODEL (MODEL=)" >&2
elif [[ -n "${HF_REPO:-}" ]]; then
  source_args=(--hf-repo "$HF_REPO")
  echo "[demo] model: $HF_REPO from $hub (HF_REPO=; downloaded once into $models_dir)" >&2
elif ((!generated)) && cached "$default_repo"; then
  source_args=(--hf-repo "$default_repo")
  echo "[demo] model: $default_repo, cached in $models_dir" >&2
elif ((!generated)) && hub_answers "$default_repo"; then
  source_args=(--hf-repo "$default_repo")
  echo "[demo] model: $default_repo from $hub (downloaded once into $models_dir)" >&2
else
  if ((vision)); then
    model="$build_dir/models/tiny-vision.gguf" mmproj="$build_dir/models/tiny-vision-mmproj.gguf"
    [[ -f "$model" && -f "$mmproj" ]] ||
      "$bin" make-model --shape tiny-vision --seed 1 --output "$model" --mmproj-output "$mmproj"
    source_args=(--model "$model" --mmproj "$mmproj")
  else
    model="$build_dir/models/bench-512x8-q8_0.gguf"
    [[ -f "$model" ]] || "$bin" make-model --shape bench-512x8 --quantize q8_0 --seed 1 --output "$model"
    source_args=(--model "$model")
  fi
  why="the hub ($hub) did not answer"
  ((generated)) && why="--generated"
  own="MODEL=path/to/model.gguf scripts/demo.sh" flag=""
  ((vision)) && own="MODEL=model.gguf MMPROJ=mmproj.gguf scripts/demo.sh --vision" flag=" --vision"
  echo "[demo] $why: using the generated model $model, whose weights are random, so the answers will be random; for real ones run $own or HF_REPO=owner/name[:quant] scripts/demo.sh$flag" >&2
fi

# ---- the server
data_dir=$(mktemp -d)
log="$data_dir/server.log"
: >"$log"  # there before the server's redirection makes it: the loop below reads it at once
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$data_dir"
}
trap cleanup EXIT
# The server fetches image URLs from public addresses only; the demo's pictures are on loopback.
image_args=()
((vision)) && image_args=(--image-allow-host 127.0.0.1)
"$bin" serve "${source_args[@]}" "${image_args[@]}" --model-id gpt-4o-mini --host 127.0.0.1 --port 0 \
  --data-dir "$data_dir/data" --api-key sk-demo 2>"$log" &
server=$!
pids+=("$server")
# A model from the hub may download first (progress in the log every 5 s): wait as long as the server lives.
port="" shown=""
for ((i = 0; i < 7200; ++i)); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
  [[ -n "$port" ]] && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
  if ((i % 20 == 19)); then
    line=$(grep -E "download|fetch" "$log" | tail -1 || true)
    [[ -n "$line" && "$line" != "$shown" ]] && { echo "[demo] $line" >&2; shown="$line"; }
  fi
  sleep 0.5
done
[[ -n "$port" ]] || { echo "server did not start" >&2; cat "$log" >&2; exit 1; }
echo "[demo] openbatch serving on port $port; the dashboard: http://127.0.0.1:$port/#key=sk-demo" >&2
export OPENAI_BASE_URL="http://127.0.0.1:$port/v1" OPENAI_API_KEY=sk-demo

# The first `rows` records of a CSV (quoted fields may span lines), written to a new CSV.
first_rows() {
  node --input-type=module -e '
    const { readCsv } = await import("./examples/guide_example1.mjs");
    const rows = readCsv(process.argv[1]).slice(0, Number(process.argv[2]) || undefined);
    const f = (v) => (/[",\r\n]/.test(v ?? "") ? `"${v.replaceAll("\"", "\"\"")}"` : (v ?? ""));
    const header = Object.keys(rows[0] ?? {});
    process.stdout.write([header, ...rows.map((r) => header.map((h) => r[h]))].map((r) => r.map(f).join(",")).join("\n") + "\n");
  ' "$1" "$2"
}

if ((vision)); then
  # ---- Example 2: the shop's pictures on a loopback server, and the items as a CSV
  dataset="$data_dir/furniture.csv"
  node examples/furniture_server.mjs "$dataset" "${rows:-8}" 2>"$data_dir/images.log" &
  pids+=("$!")
  for _ in $(seq 1 100); do [[ -s "$dataset" ]] && break; sleep 0.1; done
  [[ -s "$dataset" ]] || { cat "$data_dir/images.log" >&2; exit 1; }
  cat "$data_dir/images.log" >&2
  # 1. The guide's own code, in JavaScript with the official openai package.
  DATASET="$dataset" node examples/run_example2.mjs
  # 2. The same job with the command line: the image column goes with each row's user message.
  node -e "import('./examples/guide_example2.mjs').then(m => process.stdout.write(m.caption_system_prompt))" \
    >"$data_dir/prompt.txt"
  echo "== the same with the openbatch command line" >&2
  "$bin" prepare "$dataset" --model gpt-4o-mini --system "@$data_dir/prompt.txt" --user "{title}" \
    --image-column primary_image --temperature 0.2 --max-tokens 300 -o "$data_dir/tasks.jsonl"
  batch=$("$bin" submit "$data_dir/tasks.jsonl" --metadata job=furniture-demo --wait)
  "$bin" results "$batch" --join "$dataset" --column caption -o "$data_dir/furniture_out.csv"
  echo "== $batch: the captions" >&2
  node --input-type=module -e '
    const { readCsv } = await import("./examples/guide_example1.mjs");
    for (const r of readCsv(process.argv[1])) console.log(`${r.title}: ${r.caption}${r.error ? ` (error: ${r.error})` : ""}`);
  ' "$data_dir/furniture_out.csv"
  exit 0
fi

# ---- Example 1
dataset="${DATASET:-examples/data/movies.csv}"
if [[ -n "$rows" ]]; then
  first_rows "$dataset" "$rows" >"$data_dir/movies.csv"
  dataset="$data_dir/movies.csv"
fi
# 1. The guide's own code, in JavaScript with the official openai package, unchanged but for the URL.
DATASET="$dataset" node examples/run_example1.mjs

# 2. The same job with openbatch's command line: prepare, submit and watch, results joined to the rows.
node -e "import('./examples/guide_example1.mjs').then(m => process.stdout.write(m.categorize_system_prompt))" \
  >"$data_dir/prompt.txt"
echo "== the same with the openbatch command line" >&2
"$bin" prepare "$dataset" --model gpt-4o-mini --system "@$data_dir/prompt.txt" --user "{Overview}" \
  --json-object --temperature 0.1 -o "$data_dir/tasks.jsonl"
batch=$("$bin" submit "$data_dir/tasks.jsonl" --metadata job=movies-demo --wait)
"$bin" results "$batch" --join "$dataset" --column categories --spread -o "$data_dir/movies_out.csv"
echo "== $batch: the first rows of the joined CSV" >&2
head -n 4 "$data_dir/movies_out.csv"
