// The finished lines of a running batch (issue 17): GET /v1/batches/{id}/output?after=CURSOR and
// `openbatch results ID --follow`, which prints lines before the batch completes and every line once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { toFile } from 'openai';
import { startServer, waitForBatch, BIN } from './harness.mjs';
import { startStandin } from './standin_upstream.mjs';

// The requests run on a stand-in upstream answering after 100 ms, two at a time: a batch of 40 lines
// lasts about 2 s on any machine, so "while it runs" does not depend on how fast the machine is.
let server;
let upstream;
before(async () => {
  upstream = await startStandin({ delayMs: 100 });
  server = await startServer({ model: null, args: ['--upstream', upstream.baseURL, '--parallel', '2'] });
});
after(async () => { await server?.stop(); await upstream?.close(); });

const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({
  custom_id: `row-${i}`, method: 'POST', url: '/v1/chat/completions',
  body: { model: 'gpt-4o-mini', max_tokens: i === 7 ? -1 : 32, ignore_eos: true, messages: [{ role: 'user', content: `Row ${i}` }] },
}));
async function createBatch() {
  const { client } = server;
  const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'rows.jsonl'), purpose: 'batch' });
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}
const get = (path, key = 'sk-test') => fetch(`${server.baseURL}${path}`, { headers: { authorization: `Bearer ${key}` } });

test('output?after= gives the lines finished so far, in the order they finished, with a cursor', async () => {
  const batch = await createBatch();
  let cursor = 0;
  const seen = [];
  let sawRunning = false;
  for (;;) {
    const r = await get(`/batches/${batch.id}/output?after=${cursor}`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /jsonl/);
    const status = r.headers.get('openbatch-batch-status');
    const next = Number(r.headers.get('openbatch-cursor'));
    const got = (await r.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(next, cursor + got.length);
    if (got.length && status === 'in_progress') sawRunning = true;
    seen.push(...got);
    cursor = next;
    if (['completed', 'failed', 'cancelled', 'expired'].includes(status) && !got.length) break;
    await new Promise((res) => setTimeout(res, 30));
  }
  assert.ok(sawRunning, 'lines came while the batch was in progress');
  const ids = seen.map((l) => l.custom_id);
  assert.equal(ids.length, new Set(ids).size, 'no line twice');
  const done = await server.client.batches.retrieve(batch.id);
  assert.equal(done.status, 'completed');
  // What was read while it ran is a prefix of all; the lines stored after the last read are in the files.
  assert.ok(seen.length > 0 && seen.length <= lines.length);
  assert.equal(seen.find((l) => l.custom_id === 'row-7')?.response.status_code ?? 400, 400);

  const bad = await get(`/batches/${batch.id}/output?after=-1`);
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.param, 'after');
  assert.equal((await get(`/batches/batch_nope/output`)).status, 404);
});

test('results --follow prints lines before the batch completes and every line exactly once', async () => {
  const batch = await createBatch();
  const child = spawn(BIN, ['results', batch.id, '--follow', '--errors', '--poll', '0.1'], {
    env: { ...process.env, OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: 'sk-test' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = ''; let err = '';
  let statusAtFirstLine = null;
  child.stderr.on('data', (d) => { err += d; });
  const first = new Promise((resolve) => child.stdout.on('data', (d) => { out += d; resolve(); }));
  await first;
  statusAtFirstLine = (await server.client.batches.retrieve(batch.id)).status;
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, err);
  assert.equal(statusAtFirstLine, 'in_progress', 'the first lines came while the batch ran');
  const printed = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const ids = printed.map((l) => l.custom_id).sort();
  assert.deepEqual(ids, lines.map((l) => JSON.parse(l).custom_id).sort(), 'every line once, the error line included');
  assert.equal((await waitForBatch(server.client, batch.id)).status, 'completed');
});
