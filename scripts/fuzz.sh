#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang 14 with AddressSanitizer and UBSan; installs clang-14,
# libfuzzer-14-dev and libwebp-dev from Debian if missing) and runs one for SECONDS. The corpus grows in
# build-fuzz/corpus/TARGET across runs, seeded from the tests' own data; inputs that crash are kept in
# build-fuzz/crashes/TARGET/ and the script fails. Inputs in fuzz/regressions/TARGET/ (crashes found
# before, each fixed) are replayed first.
#
# Usage: scripts/fuzz.sh TARGET SECONDS      TARGET: batch_lines, chat_request, responses_request,
#        scripts/fuzz.sh all SECONDS                 completion_request, embeddings_request, csv, data_url,
#                                                    image_format, sse, http_request (or all: each in turn)
# Environment: OPENBATCH_JOBS (build jobs, default: all cores), FUZZ_BUILD_DIR (default: build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: scripts/fuzz.sh TARGET SECONDS}"
seconds="${2:?usage: scripts/fuzz.sh TARGET SECONDS}"
build_dir="${FUZZ_BUILD_DIR:-build-fuzz}"
jobs="${OPENBATCH_JOBS:-$(nproc)}"
targets=(batch_lines chat_request responses_request completion_request embeddings_request csv data_url image_format sse http_request)

if [[ "$target" == all ]]; then
  for t in "${targets[@]}"; do "$0" "$t" "$seconds"; done
  exit 0
fi
[[ " ${targets[*]} " == *" $target "* ]] || { echo "unknown target '$target' (${targets[*]})" >&2; exit 2; }

missing=()
for p in clang-14 libfuzzer-14-dev libwebp-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -DOPENBATCH_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build_dir" -j"$jobs" --target "${target}_fuzz" >/dev/null

seeds="$build_dir/seeds/$target" corpus="$build_dir/corpus/$target" crashes="$build_dir/crashes/$target"
mkdir -p "$corpus" "$crashes"
if [[ ! -d "$seeds" ]]; then
  mkdir -p "$seeds"
  python3 - "$target" "$seeds" <<'PY'
import base64, json, struct, sys, zlib, pathlib
target, out = sys.argv[1], pathlib.Path(sys.argv[2])
def put(name, data):
    (out / name).write_bytes(data if isinstance(data, bytes) else data.encode())
def png(w, h):
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    raw = b''.join(b'\0' + b'\x80' * (w * 3) for _ in range(h))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
def images():
    return {'png': png(3, 2),
            'gif': b'GIF89a' + struct.pack('<HH', 5, 4) + b'\0\0\0;',
            'bmp': b'BM' + struct.pack('<IHHI', 70, 0, 0, 54) + struct.pack('<IiiHHIIiiII', 40, 4, -3, 1, 24, 0, 0, 0, 0, 0, 0),
            'jpeg': b'\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00'
                    b'\xff\xc0\x00\x11\x08\x00\x06\x00\x08\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xd9',
            'webp-cut': b'RIFF\x24\x00\x00\x00WEBPVP8 ',
            **{'webp-' + f.stem: f.read_bytes() for f in sorted(pathlib.Path('tests/e2e/fixtures').glob('*.webp'))}}
line = lambda i, **body: json.dumps({'custom_id': f'r{i}', 'method': 'POST', 'url': '/v1/chat/completions',
    'body': {'model': 'tiny', 'messages': [{'role': 'user', 'content': 'hi'}], **body}})
if target == 'http_request':
    get = 'GET /echo HTTP/1.1\r\nHost: x\r\n\r\n'
    put('get', get)
    put('keep-alive', get + 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' + get)
    put('chunked', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\n' + get)
    put('chunked-long', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' + ('20\r\n' + 'x' * 32 + '\r\n') * 12 + '0\r\n\r\n')
    put('gzip', b'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 20\r\n\r\n' + zlib.compress(b'x' * 1000)[:20])
    put('lengths', 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1e2\r\n\r\n' + 'POST /echo HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc')
    put('upload', 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 60\r\n\r\n--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc\r\n--b--\r\n')
    put('guarded', 'POST /guarded HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' + get)
elif target == 'batch_lines':
    for i, case in enumerate(open('src/batch/testdata/bad_input_lines.jsonl')):
        c = json.loads(case)
        put(f'case{i}', '\n'.join(l if isinstance(l, str) else json.dumps(l) for l in c['lines']) + '\n')
    put('good', '\ufeff' + '\n'.join([line(1), line(2, max_tokens=5), '', line(3, response_format={'type': 'json_object'})]))
elif target == 'chat_request':
    for i, case in enumerate(open('src/openai/testdata/chat_request_errors.jsonl')):
        put(f'case{i}', json.dumps(json.loads(case)['body']))
    put('full', json.dumps({'model': 'gpt-4o-mini', 'n': 2, 'seed': 1, 'stop': ['x'], 'logprobs': True, 'top_logprobs': 2,
        'logit_bias': {'5': -100}, 'stream': True, 'stream_options': {'include_usage': True},
        'response_format': {'type': 'json_schema', 'json_schema': {'name': 'r', 'strict': True, 'schema': {
            'type': 'object', 'properties': {'a': {'type': 'array', 'items': {'enum': ['x', 1]}}}, 'required': ['a']}}},
        'messages': [{'role': 'system', 'content': 's'}, {'role': 'user', 'content': [{'type': 'text', 'text': 't'},
            {'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,' + base64.b64encode(png(2, 2)).decode(), 'detail': 'low'}}]},
            {'role': 'assistant', 'content': 'a'}]}))
    put('tools', json.dumps({'model': 'm', 'tool_choice': {'type': 'function', 'function': {'name': 'f'}},
        'parallel_tool_calls': False, 'reasoning_effort': 'low',
        'tools': [{'type': 'function', 'function': {'name': 'f', 'description': 'd', 'strict': True,
            'parameters': {'type': 'object', 'properties': {'x': {'type': 'integer'}}, 'required': ['x']}}}],
        'messages': [{'role': 'user', 'content': 'call f'},
            {'role': 'assistant', 'content': None, 'tool_calls': [{'id': 'call_1', 'type': 'function',
                'function': {'name': 'f', 'arguments': '{"x": 1}'}}]},
            {'role': 'tool', 'tool_call_id': 'call_1', 'content': '2'}]}))
elif target == 'responses_request':
    for i, case in enumerate(open('src/openai/testdata/responses_request_errors.jsonl')):
        put(f'case{i}', json.dumps(json.loads(case)['body']))
    put('full', json.dumps({'model': 'gpt-4o-mini', 'instructions': 'be brief', 'max_output_tokens': 64, 'temperature': 0.2,
        'top_p': 0.9, 'store': False, 'stream': True, 'metadata': {'z': '1', 'a': '2'}, 'reasoning': {'effort': 'low'},
        'text': {'format': {'type': 'json_schema', 'name': 'r', 'strict': True, 'schema': {'type': 'object',
            'properties': {'a': {'type': 'string'}}, 'required': ['a'], 'additionalProperties': False}}},
        'input': [{'role': 'user', 'content': [{'type': 'input_text', 'text': 't'},
            {'type': 'input_image', 'image_url': 'data:image/png;base64,' + base64.b64encode(png(2, 2)).decode(), 'detail': 'low'}]},
            {'role': 'assistant', 'content': [{'type': 'output_text', 'text': 'a'}]}]}))
    put('tools', json.dumps({'model': 'm', 'tool_choice': {'type': 'function', 'name': 'f'}, 'parallel_tool_calls': False,
        'tools': [{'type': 'function', 'name': 'f', 'description': 'd', 'strict': True,
            'parameters': {'type': 'object', 'properties': {'x': {'type': 'integer'}}, 'required': ['x']}}],
        'input': [{'role': 'user', 'content': 'call f'},
            {'type': 'function_call', 'call_id': 'call_1', 'name': 'f', 'arguments': '{"x": 1}'},
            {'type': 'function_call_output', 'call_id': 'call_1', 'output': '2'}]}))
elif target == 'completion_request':
    for i, case in enumerate(open('src/openai/testdata/completion_request_errors.jsonl')):
        put(f'case{i}', json.dumps(json.loads(case)['body']))
    for i, prompt in enumerate(['Once upon a time', ['a', 'b'], [1, 2, 3], [[1, 2], [3]], '']):
        put(f'prompt{i}', json.dumps({'model': 'gpt-4o-mini', 'prompt': prompt}))
    put('full', json.dumps({'model': 'm', 'prompt': ['x', 'y'], 'max_tokens': 8, 'temperature': 0.5, 'top_p': 0.9, 'n': 2,
        'best_of': 2, 'seed': 1, 'stop': ['\n'], 'logprobs': 2, 'echo': True, 'presence_penalty': 0.1,
        'logit_bias': {'5': -100}, 'stream': True, 'stream_options': {'include_usage': True}, 'suffix': ''}))
elif target == 'embeddings_request':
    for i, inp in enumerate(['a red chair', ['a', 'b'], [1, 2, 3], [[1, 2], [3]], '', [], [[]]]):
        put(f'in{i}', json.dumps({'model': 'embedder', 'input': inp}))
    put('opts', json.dumps({'model': 'text-embedding-3-small', 'input': ['x'], 'encoding_format': 'base64', 'dimensions': 8, 'user': 'u'}))
elif target == 'csv':
    movies = open('examples/data/movies.csv', 'rb').read()
    put('movies', movies[:4096])
    put('movies-crlf', movies[:2048].replace(b'\n', b'\r\n'))
    put('quoted', '\ufeffid,"a, b","c ""q"""\r\n1,"line\nbreak",x\r\n2,,\n')
elif target in ('image_format', 'data_url'):
    for name, data in images().items():
        put(name, data if target == 'image_format' else 'data:image/' + name + ';base64,' + base64.b64encode(data).decode())
    if target == 'data_url':
        put('text', 'data:text/plain;base64,aGVsbG8=')
        put('plain', 'data:image/png,notbase64')
elif target == 'sse':
    chunk = lambda delta, finish=None, **extra: 'data: ' + json.dumps({'id': 'c', 'object': 'chat.completion.chunk', 'created': 1,
        'model': 'm', 'choices': [{'index': 0, 'delta': delta, 'finish_reason': finish, 'logprobs': None}], **extra}) + '\n\n'
    stream = chunk({'role': 'assistant', 'content': ''}) + chunk({'content': 'Hel'}) + chunk({'content': 'lo'}) + \
        chunk({}, 'stop') + 'data: ' + json.dumps({'choices': [], 'usage': {'prompt_tokens': 3, 'completion_tokens': 2, 'total_tokens': 5}}) + \
        '\n\ndata: [DONE]\n\n'
    put('stream', '\x07' + stream)
    put('crlf', '\x20' + stream.replace('\n', '\r\n'))
    put('error', '\x03' + 'data: {"error": {"message": "busy", "type": "server_error", "code": null}}\n\n')
    put('comments', '\x05: keep-alive\n\nevent: x\n' + stream)
PY
fi

dict=()
[[ "$target" == *_request || "$target" == batch_lines || "$target" == sse ]] &&
  dict=(-dict=fuzz/json.dict)
bin="$build_dir/fuzz/${target}_fuzz"
if compgen -G "fuzz/regressions/$target/*" >/dev/null; then
  "$bin" fuzz/regressions/"$target"/* >/dev/null 2>&1 || { echo "$target: a regression input crashes again" >&2; "$bin" fuzz/regressions/"$target"/*; }
fi
log="$build_dir/$target.log"
set +e
"$bin" "${dict[@]}" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$crashes/" "$corpus" "$seeds" >"$log" 2>&1
rc=$?
set -e
execs=$(awk '/^stat::number_of_executed_units/ {print $2}' "$log")
per_second=$(awk '/^stat::average_exec_per_sec/ {print $2}' "$log")
files=$(find "$corpus" -type f | wc -l)
bytes=$(du -sb "$corpus" | cut -f1)
echo "$target: ${seconds} s, $execs runs ($per_second/s), corpus $files inputs ($bytes bytes), exit $rc"
if ((rc != 0)); then
  grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -20 >&2
  exit 1
fi
