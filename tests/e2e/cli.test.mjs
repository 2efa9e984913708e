// The openbatch command line (issue 5): prepare, submit --wait, batches, files and results --join
// against the real server, progress in a pipe and in a pseudo-terminal, and `run` with no server,
// interrupted and resumed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN, MODEL } from './harness.mjs';
import { startStandin } from './standin_upstream.mjs';

// A CSV reader for checking what the binary writes (RFC 4180: quotes, doubled quotes, newlines).
function parseCsv(text) {
  const rows = []; let row = []; let field = ''; let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}
const csvField = (v) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

// Runs the binary; resolves with { code, stdout, stderr }.
function cli(args, { env = {}, input } = {}) {
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
    p.stdin.on('error', () => {});  // a command that exits without reading stdin closes the pipe (EPIPE)
    p.stdin.end(input ?? '');
  });
}

const dir = mkdtempSync(join(tmpdir(), 'openbatch-cli-'));
const movies = [
  { Title: 'The Hidden Signal', Year: '2018', Overview: 'In a jazz club, a band "of thieves", a mule, and a spy.' },
  { Title: 'Commas, Everywhere', Year: '1961', Overview: 'Line one of the plot.\nLine two, with a comma.\r\nLine three.' },
  { Title: 'Café Ünïcode ✓', Year: '1957', Overview: 'Ein Käfer reist nach Zürich — 東京 too.' },
  { Title: 'Empty', Year: '', Overview: '' },
  ...Array.from({ length: 8 }, (_, i) => ({ Title: `Movie ${i}`, Year: String(2000 + i), Overview: `Plot "${i}", told twice, twice.` })),
];
const csvPath = join(dir, 'movies.csv');
writeFileSync(csvPath, ['Title,Year,Overview', ...movies.map((m) => [m.Title, m.Year, m.Overview].map(csvField).join(','))].join('\r\n') + '\r\n');
writeFileSync(join(dir, 'prompt.txt'), 'Categorise the movie. Answer as JSON: {"categories": [...], "summary": "..."}');

let server; let env;
// A second server, on a stand-in upstream that holds every answer: its batches stay in progress until
// cancelled, on any machine, so that a cancel or a Ctrl-C always comes while requests are left.
let heldUpstream; let heldServer; let heldEnv;
before(async () => {
  server = await startServer();
  env = { OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: 'sk-test' };
  heldUpstream = await startStandin({ delayMs: 0, held: true });
  heldServer = await startServer({ model: null, args: ['--upstream', heldUpstream.baseURL] });
  heldEnv = { OPENAI_BASE_URL: heldServer.baseURL, OPENAI_API_KEY: 'sk-test' };
});
after(async () => {
  await server?.stop();
  heldUpstream?.release();
  await heldServer?.stop();
  await heldUpstream?.close();
});

// The batch as `batches show --json` prints it.
async function showBatch(id, cliEnv) {
  const r = await cli(['batches', 'show', id, '--json'], { env: cliEnv });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('prepare writes one request per CSV row, quoted fields intact', async () => {
  const tasks = join(dir, 'tasks.jsonl');
  const r = await cli(['prepare', csvPath, '--model', 'gpt-4o-mini', '--system', `@${join(dir, 'prompt.txt')}`,
    '--user', 'Title: {Title}\n{Overview}', '--json-object', '--temperature', '0.1', '--max-tokens', '24', '-o', tasks]);
  assert.equal(r.code, 0, r.stderr);
  const lines = readFileSync(tasks, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, movies.length);
  lines.forEach((l, i) => {
    assert.equal(l.custom_id, `task-${i}`);
    assert.equal(l.method, 'POST');
    assert.equal(l.url, '/v1/chat/completions');
    assert.equal(l.body.model, 'gpt-4o-mini');
    assert.equal(l.body.temperature, 0.1);
    assert.equal(l.body.max_tokens, 24);
    assert.deepEqual(l.body.response_format, { type: 'json_object' });
    assert.equal(l.body.messages[0].role, 'system');
    assert.match(l.body.messages[0].content, /^Categorise/);
    assert.equal(l.body.messages[1].content, `Title: ${movies[i].Title}\n${movies[i].Overview}`);
  });
});

test('prepare: --id-column, --image-column, --json-schema, and clear usage errors (exit 2)', async () => {
  const schema = join(dir, 'schema.json');
  writeFileSync(schema, JSON.stringify({ type: 'object', properties: { summary: { type: 'string' } }, required: ['summary'] }));
  const jsonlInput = join(dir, 'rows.jsonl');
  writeFileSync(jsonlInput, '{"sku":"A1","name":"chair","img":"https://x/a.png"}\n{"sku":"B2","name":"table","img":""}\n');
  const out = join(dir, 'img.jsonl');
  let r = await cli(['prepare', jsonlInput, '--model', 'm', '--user', '{name}', '--id-column', 'sku',
    '--image-column', 'img', '--json-schema', `@${schema}`, '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  const [a, b] = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(a.custom_id, 'A1');
  assert.deepEqual(a.body.messages[0].content, [{ type: 'text', text: 'chair' }, { type: 'image_url', image_url: { url: 'https://x/a.png' } }]);
  assert.equal(b.custom_id, 'B2');
  assert.equal(b.body.messages[0].content, 'table');
  assert.equal(a.body.response_format.type, 'json_schema');
  assert.equal(a.body.response_format.json_schema.schema.required[0], 'summary');

  r = await cli(['prepare', csvPath, '--model', 'm', '--user', '{Nope}', '-o', join(dir, 'x.jsonl')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no column named 'Nope' \(columns: Title, Year, Overview\)/);
  r = await cli(['prepare', csvPath, '--model', 'm', '--user', '{Title}', '--id-column', 'Year', '-o', join(dir, 'x.jsonl')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /empty Year/);
  r = await cli(['prepare', csvPath, '--user', '{Title}', '-o', join(dir, 'x.jsonl')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--model is required/);
  r = await cli(['prepare', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Example/);
});

test('prepare -> submit --wait (plain progress in a pipe) -> results --join: every row matched, in order', async () => {
  const tasks = join(dir, 'tasks.jsonl');
  const sub = await cli(['submit', tasks, '--wait', '--poll', '0.2', '--metadata', 'job=movies'], { env });
  assert.equal(sub.code, 0, sub.stderr);
  const batchId = sub.stdout.trim();
  assert.match(batchId, /^batch_/);
  assert.ok(!sub.stderr.includes('\r'), 'no redraw in a pipe');
  const progress = sub.stderr.split('\n').filter((l) => l.startsWith(batchId));
  assert.ok(progress.length >= 1, sub.stderr);
  assert.match(progress.at(-1), new RegExp(`${batchId} completed ${movies.length}/${movies.length} done, 0 failed, [0-9.]+ tok/s`));

  const show = await cli(['batches', 'show', batchId, '--json'], { env });
  assert.equal(show.code, 0, show.stderr);
  const batch = JSON.parse(show.stdout);
  assert.equal(batch.status, 'completed');
  assert.deepEqual(batch.metadata, { job: 'movies' });

  const joined = join(dir, 'joined.csv');
  const res = await cli(['results', batchId, '--join', csvPath, '--column', 'categories', '-o', joined], { env });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, new RegExp(`${movies.length} rows, ${movies.length} with a result, 0 failed, 0 without`));
  const rows = parseCsv(readFileSync(joined, 'utf8'));
  assert.equal(rows.length, movies.length);
  rows.forEach((row, i) => {
    assert.equal(row.Title, movies[i].Title);
    assert.equal(row.Year, movies[i].Year);
    assert.equal(row.Overview, movies[i].Overview);  // quoted commas, quotes, \n and \r\n intact
    assert.equal(typeof row.categories, 'string');
    assert.equal(row.error, '');
  });

  // --spread: JSON-object contents in columns (json_object mode guarantees an object).
  const spread = await cli(['results', batchId, '--join', csvPath, '--spread'], { env });
  assert.equal(spread.code, 0, spread.stderr);
  const srows = parseCsv(spread.stdout);
  assert.equal(srows.length, movies.length);
  for (const row of srows) {
    const obj = JSON.parse(row.result);
    for (const [k, v] of Object.entries(obj)) assert.equal(row[`result.${k}`], typeof v === 'string' ? v : JSON.stringify(v));
  }

  // Plain download: the output file's lines.
  const out = join(dir, 'out.jsonl');
  const dl = await cli(['results', batchId, '-o', out, '--errors'], { env });
  assert.equal(dl.code, 0, dl.stderr);
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, movies.length);
  assert.deepEqual(lines.map((l) => l.custom_id).sort(), movies.map((_, i) => `task-${i}`).sort());

  // batches ls / files ls|show|rm
  const ls = await cli(['batches', 'ls', '--json'], { env });
  assert.equal(ls.code, 0, ls.stderr);
  assert.ok(JSON.parse(ls.stdout).some((b) => b.id === batchId));
  const lsText = await cli(['batches', 'ls'], { env });
  assert.match(lsText.stdout, new RegExp(`${batchId}\\s+completed`));
  const files = JSON.parse((await cli(['files', 'ls', '--json'], { env })).stdout);
  const input = files.find((f) => f.id === batch.input_file_id);
  assert.equal(input.purpose, 'batch');
  const fshow = await cli(['files', 'show', input.id, '--json'], { env });
  assert.equal(JSON.parse(fshow.stdout).id, input.id);
  const rm = await cli(['files', 'rm', batch.output_file_id, '--json'], { env });
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(JSON.parse(rm.stdout).deleted, true);
  const gone = await cli(['files', 'show', batch.output_file_id], { env });
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^files: /);
});

test('submit --wait exits 3 for a batch that fails validation, 5 for a cancelled one', async () => {
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] } }) + '\n');
  const r = await cli(['submit', bad, '--wait', '--poll', '0.2'], { env });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /failed\n\s+model_not_found: .*\(line 1\)/);

  // On the held upstream: the batch is in progress, none of it answered, when the cancel comes.
  const many = join(dir, 'many.jsonl');
  writeFileSync(many, Array.from({ length: 200 }, (_, i) => JSON.stringify({ custom_id: `c${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', max_tokens: 200, messages: [{ role: 'user', content: `item ${i}` }] } })).join('\n') + '\n');
  const sub = await cli(['submit', many], { env: heldEnv });
  assert.equal(sub.code, 0, sub.stderr);
  const id = sub.stdout.trim();
  await heldUpstream.waitFor(() => heldUpstream.held() > 0, 'a request of the batch at the gate');
  const cancel = await cli(['batches', 'cancel', id], { env: heldEnv });
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.match(cancel.stdout, /status:\s+cancell/);
  const w = await cli(['batches', 'wait', id, '--poll', '0.2'], { env: heldEnv });
  assert.equal(w.code, 5, w.stderr);
  const b = await showBatch(id, heldEnv);
  assert.equal(b.status, 'cancelled');
  assert.deepEqual(b.request_counts, { total: 200, completed: 0, failed: 200 });
});

test('on a terminal the progress line is redrawn in place (script -qc)', async () => {
  const tasks = join(dir, 'tasks.jsonl');
  const p = spawnSync('script', ['-qec', `exec ${BIN} submit ${tasks} --wait --poll 0.1`, '/dev/null'],
    { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120000 });
  assert.equal(p.status, 0, p.stdout + p.stderr);
  const screen = p.stdout;
  assert.match(screen, /\r[^\r\n]*batch_\w+ (validating|in_progress|finalizing|completed) \[[#.]{24}\] \d+\/\d+ done/);
  assert.match(screen, new RegExp(`completed \\[#{24}\\] ${movies.length}/${movies.length} done, 0 failed`));
  assert.match(screen, /\x1b\[K/);
});

test('run with no server: same output lines; interrupted, then resumed without duplicates', async (t) => {
  // The requests run on a gated stand-in upstream, so that the kill and the interruption land where the
  // test says, whatever the machine's speed: 10 answers go out, the rest wait at the gate.
  const upstream = await startStandin({ delayMs: 0, holdAfter: 10 });
  t.after(() => upstream.close());
  const runArgs = (parallel) => ['run', tasks, '-o', out, '--upstream', upstream.baseURL, '--model-id', 'gpt-4o-mini', '--parallel', String(parallel)];
  const tasks = join(dir, 'run_tasks.jsonl');
  const n = 120;
  writeFileSync(tasks, Array.from({ length: n }, (_, i) => JSON.stringify({ custom_id: `r-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', max_tokens: 48, seed: i, messages: [{ role: 'user', content: `Describe item ${i}.` }] } })).join('\n') + '\n');
  const out = join(dir, 'run_out.jsonl');
  const count = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).length : 0);
  // Resolves once the output holds `lines` lines and a request waits at the gate (the run is mid-way).
  const midway = async (lines, what) => {
    await upstream.waitFor(() => upstream.answered() === lines && upstream.held() > 0, what);
    for (let i = 0; i < 3000 && count() < lines; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(count(), lines, `${what}: every answer written`);
  };

  // First run: killed (SIGKILL, no chance to tidy up) with 10 lines written and the others waiting.
  const p = spawn(BIN, runArgs(2), { stdio: 'ignore' });
  const exited = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal })));
  await midway(10, 'the first run');
  p.kill('SIGKILL');
  const first = await exited;
  assert.equal(first.signal, 'SIGKILL', 'killed mid-run');
  const partial = count();
  assert.equal(partial, 10, `the killed run wrote ${partial}`);

  // Second run: 5 more answers, then SIGINT stops it cleanly with exit 130 while requests wait.
  const q = spawn(BIN, runArgs(2), { stdio: ['ignore', 'ignore', 'pipe'] });
  let qerr = '';
  q.stderr.on('data', (d) => { qerr += d; });
  const qexit = new Promise((resolve) => q.on('exit', (code) => resolve(code)));
  upstream.open(5);
  await midway(partial + 5, 'the second run');
  q.kill('SIGINT');
  const qcode = await qexit;
  assert.equal(qcode, 130, qerr);
  assert.match(qerr, /interrupted; run the same command again to continue/);
  assert.equal(readFileSync(out, 'utf8').at(-1), '\n', 'only whole lines');
  assert.equal(count(), partial + 5, 'the interrupted run wrote what was answered, nothing else');

  // Third run finishes the rest.
  upstream.release();
  const left = n - count();
  assert.equal(left, n - 15);
  const r = await cli(runArgs(4));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /15 of 120 requests already in/);
  const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const ids = lines.map((l) => l.custom_id);
  assert.equal(new Set(ids).size, ids.length, 'no duplicate custom_id');
  assert.equal(ids.length, n);
  assert.equal(upstream.answered(), n, 'each request answered once');
  for (const l of lines) {
    assert.match(l.id, /^batch_req_/);
    assert.equal(l.error, null);
    assert.equal(l.response.status_code, 200);
    assert.match(l.response.request_id, /^req_/);
    assert.equal(l.response.body.object, 'chat.completion');
  }
  // Progress went to stderr as plain lines.
  assert.match(r.stderr, /run_tasks\.jsonl done 120\/120 done, 0 failed/);
  // A fourth run has nothing to do.
  const again = await cli(runArgs(2));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /120 of 120 requests already in/);
});

test('Ctrl-C on a terminal asks whether to cancel: yes cancels (exit 5), no only stops watching (exit 6)', async () => {
  // On the held upstream: the batch is in progress with every request left when Ctrl-C comes.
  const many = join(dir, 'long.jsonl');
  const n = 50;
  writeFileSync(many, Array.from({ length: n }, (_, i) => JSON.stringify({ custom_id: `l${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', max_tokens: 400, messages: [{ role: 'user', content: `item ${i}` }] } })).join('\n') + '\n');
  for (const [answer, code, said] of [['y', 5, /cancelling batch/], ['n', 6, /stopped watching; batch batch_\w+ goes on/]]) {
    // `exec`: without it dash (script's shell when SHELL is unset, as in CI) stays the pty's foreground
    // process, dies of the SIGINT itself, and script reports 130 whatever openbatch answers.
    const p = spawn('script', ['-qec', `exec ${BIN} submit ${many} --wait --poll 0.2`, '/dev/null'],
      { env: { ...process.env, ...heldEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    p.stdout.on('data', (d) => { screen += d; });
    const exited = new Promise((resolve) => p.on('exit', (c) => resolve(c)));
    const until = async (re) => {
      for (let i = 0; i < 2000 && !re.test(screen); i++) await new Promise((r) => setTimeout(r, 10));
      assert.match(screen, re);
    };
    await until(/in_progress \[/);
    p.stdin.write('\x03');  // the terminal turns it into SIGINT
    await until(/Cancel batch batch_\w+ too\? \[y\/N\]/);
    p.stdin.write(`${answer}\n`);
    assert.equal(await exited, code, screen);
    assert.match(screen, said);
    const id = /(batch_\w+)/.exec(screen)[1];
    const b = await showBatch(id, heldEnv);
    if (answer === 'y') {
      assert.equal(b.status, 'cancelled');
      assert.deepEqual(b.request_counts, { total: n, completed: 0, failed: n });
    } else {
      assert.equal(b.status, 'in_progress', 'the batch goes on');
      assert.equal(b.request_counts.completed + b.request_counts.failed, 0);
      const cancel = await cli(['batches', 'cancel', id], { env: heldEnv });  // leave the server idle
      assert.equal(cancel.code, 0, cancel.stderr);
    }
  }
});

test('results --join --id-column fills the error column for a request that failed; run sends it to --errors-output', async () => {
  const rows = join(dir, 'items.jsonl');
  const items = [{ sku: 'S-1', text: 'a chair' }, { sku: 'S-2', text: 'x '.repeat(9000) }, { sku: 'S-3', text: 'a lamp' }];
  writeFileSync(rows, items.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const tasks = join(dir, 'items_tasks.jsonl');
  let r = await cli(['prepare', rows, '--model', 'gpt-4o-mini', '--user', 'Describe {text}', '--id-column', 'sku', '--max-tokens', '16', '-o', tasks]);
  assert.equal(r.code, 0, r.stderr);
  const sub = await cli(['submit', tasks, '--wait', '--poll', '0.2'], { env });
  assert.equal(sub.code, 0, sub.stderr);
  const id = sub.stdout.trim();
  r = await cli(['results', id, '--join', rows, '--id-column', 'sku', '--column', 'answer'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /3 rows, 2 with a result, 1 failed, 0 without a result/);
  const out = parseCsv(r.stdout);
  assert.deepEqual(out.map((o) => o.sku), ['S-1', 'S-2', 'S-3']);
  assert.equal(out[1].answer, '');
  assert.match(out[1].error, /\S/);
  assert.equal(out[0].error, '');
  assert.equal(out[2].error, '');
  // Without --join, --errors adds the error file's line.
  r = await cli(['results', id, '--errors'], { env });
  assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l).custom_id).sort(), ['S-1', 'S-2', 'S-3']);

  const outFile = join(dir, 'items_out.jsonl');
  const errFile = join(dir, 'items_err.jsonl');
  r = await cli(['run', tasks, '-o', outFile, '--errors-output', errFile, '--model', MODEL]);
  assert.equal(r.code, 0, r.stderr);
  const ok = readFileSync(outFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const bad = readFileSync(errFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(ok.map((l) => l.custom_id).sort(), ['S-1', 'S-3']);
  assert.equal(bad.length, 1);
  assert.equal(bad[0].custom_id, 'S-2');
  assert.equal(bad[0].response.status_code, 400);
  assert.equal(bad[0].response.body.error.type, 'invalid_request_error');
});

test('clear errors: no server (exit 1), unknown batch (exit 1), bad tasks file for run (exit 2)', async () => {
  let r = await cli(['batches', 'ls'], { env: { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^batches: GET http:\/\/127\.0\.0\.1:9\/v1\/batches\?limit=100: /);
  r = await cli(['results', 'batch_nope'], { env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^results: /);
  const bad = join(dir, 'bad_run.jsonl');
  writeFileSync(bad, '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[]}}\nnot json\n');
  r = await cli(['run', bad, '-o', join(dir, 'bad_out.jsonl'), '--model', MODEL]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /line 2: invalid_json_line/);
  r = await cli(['nope']);
  assert.equal(r.code, 2);
});
