#!/usr/bin/env bash
# The HTTP edge under load, with wrk (installed here from Debian if missing): one keep-alive
# connection asking GET /health (mean latency), then GET /v1/batches/{id} on 64 connections while
# that batch runs on the engine, with an API key as the SDKs send it. Prints a Markdown table.
#
# Usage: scripts/bench-http.sh [SECONDS]   (each wrk run; default 10)
# Environment: BUILD_DIR (default: build; openbatch must be built there: scripts/setup.sh),
#              WRK_THREADS (default: 2), CONNECTIONS (default: 64), REQUESTS (of the batch, default 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build}"
seconds="${1:-10}"
threads="${WRK_THREADS:-2}"
connections="${CONNECTIONS:-64}"
bin="$build_dir/openbatch"
[[ -x "$bin" ]] || { echo "build openbatch first: scripts/setup.sh" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
  SUDO=; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

model="$build_dir/models/tiny.gguf"
mkdir -p "$build_dir/models"
[[ -f "$model" ]] || "$bin" make-model --shape tiny --seed 1 --output "$model" >/dev/null 2>&1

key="sk-bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
OPENBATCH_API_KEYS="$key" "$bin" serve --model "$model" --model-id gpt-4o-mini --host 127.0.0.1 --port 0 \
  --data-dir "$work/data" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 300); do
  port=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$work/server.log" | grep -oE '[0-9]+$' || true)
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "${port:-}" ]] || { cat "$work/server.log" >&2; exit 1; }
base="http://127.0.0.1:$port"
auth="Authorization: Bearer $key"

# A batch long enough to run through both measurements.
requests="${REQUESTS:-20000}"
for i in $(seq 0 $((requests - 1))); do
  printf '{"custom_id":"r%d","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","max_tokens":256,"ignore_eos":true,"messages":[{"role":"user","content":"Describe item %d"}]}}\n' "$i" "$i"
done >"$work/tasks.jsonl"
file_id=$(curl -sf -H "$auth" -F purpose=batch -F "file=@$work/tasks.jsonl" "$base/v1/files" | grep -oE '"id":"file-[^"]+"' | cut -d'"' -f4)
batch_id=$(curl -sf -H "$auth" -H 'Content-Type: application/json' "$base/v1/batches" \
  -d "{\"input_file_id\":\"$file_id\",\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"24h\"}" |
  grep -oE '"id":"batch_[^"]+"' | cut -d'"' -f4)
status() { curl -sf -H "$auth" "$base/v1/batches/$batch_id" | grep -oE '"status":"[a-z_]+"' | cut -d'"' -f4; }
for _ in $(seq 1 100); do [[ "$(status)" == in_progress ]] && break; sleep 0.1; done

wrk -t1 -c1 -d"${seconds}s" --latency "$base/health" >"$work/health.txt"
wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -H "$auth" "$base/v1/batches/$batch_id" >"$work/batches.txt"
after=$(status)
done_count=$(curl -sf -H "$auth" "$base/v1/batches/$batch_id" | grep -oE '"completed":[0-9]+' | head -1 | cut -d: -f2)
curl -sf -H "$auth" -X POST "$base/v1/batches/$batch_id/cancel" >/dev/null || true

latency() { awk '/^    Latency/ {print $2; exit}' "$1"; }
percentile() { awk -v p="$2" '$1 == p {print $2; exit}' "$1"; }
rps() { awk '/^Requests\/sec/ {printf "%d", $2}' "$1"; }
errors() { awk '/Non-2xx|Socket errors/ {print}' "$1" | tr '\n' ' '; }
echo
echo "| measurement | result | target |"
echo "|---|---|---|"
echo "| GET /health, 1 keep-alive connection, mean latency | $(latency "$work/health.txt") (p50 $(percentile "$work/health.txt" 50%), p99 $(percentile "$work/health.txt" 99%); $(rps "$work/health.txt") requests/s) | < 2 ms |"
echo "| GET /v1/batches/{id}, $connections connections, while the batch runs | $(rps "$work/batches.txt") requests/s (mean $(latency "$work/batches.txt"), p99 $(percentile "$work/batches.txt" 99%)) | >= 10,000 |"
echo
echo "batch status after the runs: $after, $done_count of $requests requests done; $(nproc) cores; wrk ${seconds} s each"
[[ "$after" == in_progress ]] || echo "warning: the batch did not run through both measurements (REQUESTS=$((requests * 4)))"
[[ -z "$(errors "$work/batches.txt")$(errors "$work/health.txt")" ]] || echo "wrk reported: $(errors "$work/health.txt") $(errors "$work/batches.txt")"
