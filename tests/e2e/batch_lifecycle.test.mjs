// Batches through the official openai package against the real server: validation failures, run-time
// errors, cancel, expiry, pagination, delete, owner isolation, and a server killed mid-batch (issue 3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { fileLines as lines, startServer, waitForBatch as waitFor } from './harness.mjs';
import { COMPLETION_TOKENS, startStandin } from './standin_upstream.mjs';

const task = (i, body = {}) => ({
  custom_id: `task-${i}`, method: 'POST', url: '/v1/chat/completions',
  body: { model: 'gpt-4o-mini', max_tokens: 48, seed: i, messages: [{ role: 'system', content: 'You describe furniture.' }, { role: 'user', content: `Item ${i}: a chair.` }], ...body },
});
const jsonl = (lines) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l)) + '\n').join('');

// Polls the batch until until(batch) holds; throws after timeoutMs, saying where it stands.
async function waitUntil(client, id, until, what, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const b = await client.batches.retrieve(id);
    if (until(b)) return b;
    if (Date.now() > deadline) throw new Error(`batch ${id} is ${b.status} ${JSON.stringify(b.request_counts)}, not ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function upload(client, text, name = 'tasks.jsonl') {
  return client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' });
}
test('a file with bad lines fails validation, each error naming its line', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const { client } = server;
  // A line that is not even a JSON object is refused at upload, naming the line.
  await assert.rejects(upload(client, jsonl([task(0), '{not json', task(1)])), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.error.code, 'invalid_file_format');
    assert.match(err.error.message, /line 2 is not a JSON object/);
    return true;
  });
  const file = await upload(client, jsonl([
    task(0),
    { ...task(1), body: 'not an object' },
    { method: 'POST', url: '/v1/chat/completions', body: task(2).body },
    task(0),
    { ...task(4), url: '/v1/embeddings' },
    { ...task(5), body: { ...task(5).body, model: 'gpt-3.5-turbo' } },
    { ...task(6), body: { ...task(6).body, stream: true } },
    { ...task(7), method: 'GET' },
  ]));
  const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const b = await waitFor(client, created.id, ['failed']);
  assert.ok(b.failed_at > 0);
  const byLine = Object.fromEntries(b.errors.data.map((e) => [e.line, e]));
  assert.equal(typeof byLine[2].code, 'string');  // the body is not an object
  assert.equal(byLine[3].code, 'missing_required_parameter');
  assert.equal(byLine[3].param, 'custom_id');
  assert.equal(byLine[4].code, 'duplicate_custom_id');
  assert.equal(byLine[5].code, 'invalid_url');
  assert.ok(['mismatched_model', 'model_not_found'].includes(byLine[6].code));
  assert.equal(byLine[7].code, 'streaming_unsupported');
  assert.ok(byLine[8], 'a GET line is rejected');
  for (const e of b.errors.data) assert.equal(typeof e.message, 'string');
  // OpenAI's recorded wording.
  assert.equal(byLine[3].message, "Missing required parameter: 'custom_id'.");
  assert.equal(byLine[5].message, 'The URL provided for this request does not match the batch endpoint.');
  assert.equal(byLine[7].message, 'Chat Completions: Streaming is not supported in the Batch API.');
  assert.equal(byLine[7].param, 'body.stream');
});

test('a batch whose input file does not exist fails as OpenAI\'s does: "Cannot find file"', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const { client } = server;
  const created = await client.batches.create({ input_file_id: 'file-doesnotexist', endpoint: '/v1/chat/completions', completion_window: '24h' });
  assert.equal(created.status, 'validating');
  const b = await waitFor(client, created.id, ['failed']);
  assert.deepEqual(b.errors, {
    object: 'list',
    data: [{ code: 'invalid_request', message: 'Cannot find file file-doesnotexist, or this API key does not have access to it.', param: 'file_id', line: null }],
  });
});

test('create-time errors, 404s and 409s use OpenAI\'s envelope', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const { client } = server;
  const file = await upload(client, jsonl([task(0)]));
  const reject = async (p, status, code) => assert.rejects(p, (e) => e.status === status && (!code || e.error?.code === code));
  await reject(client.batches.create({ input_file_id: file.id, endpoint: '/v1/nope', completion_window: '24h' }), 400, 'invalid_value');
  await reject(client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '1h' }), 400, 'invalid_value');
  await reject(client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { a: 1 } }), 400, 'invalid_type');
  await reject(client.batches.retrieve('batch_doesnotexist'), 404);
  await reject(client.files.retrieve('file-doesnotexist'), 404);
  const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { run: 'one' } });
  assert.deepEqual(b.metadata, { run: 'one' });
  const done = await waitFor(client, b.id, ['completed']);
  await reject(client.batches.cancel(done.id), 409);
});

test('a request that fails at run time goes to the error file and the batch completes', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const { client } = server;
  const file = await upload(client, jsonl([task(0), task(1, { max_tokens: -1 }), task(2, { messages: [{ role: 'user', content: 'x '.repeat(9000) }] }), task(3)]));
  const b = await waitFor(client, (await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id, ['completed']);
  assert.deepEqual(b.request_counts, { total: 4, completed: 2, failed: 2 });
  const out = await lines(client, b.output_file_id);
  const err = await lines(client, b.error_file_id);
  assert.deepEqual(out.map((l) => l.custom_id).sort(), ['task-0', 'task-3']);
  assert.deepEqual(err.map((l) => l.custom_id).sort(), ['task-1', 'task-2']);
  for (const l of err) {
    assert.equal(l.response.status_code, 400);
    assert.equal(l.response.body.error.type, 'invalid_request_error');
  }
  assert.equal(err.find((l) => l.custom_id === 'task-1').response.body.error.param, 'max_tokens');
});

test('cancel stops a running batch and keeps what finished', async (t) => {
  // A stand-in upstream lets ten answers out and holds the rest at its gate: the cancel comes with ten
  // requests done and the others left, whatever the machine's speed.
  const upstream = await startStandin({ delayMs: 0, holdAfter: 10 });
  const server = await startServer({ model: null, args: ['--upstream', upstream.baseURL, '--parallel', '2'] });
  t.after(async () => {
    upstream.release();
    await server.stop();
    await upstream.close();
  });
  const { client } = server;
  const n = 100;
  const file = await upload(client, jsonl(Array.from({ length: n }, (_, i) => task(i))));
  const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  await upstream.waitFor(() => upstream.answered() === 10 && upstream.held() > 0, 'ten answers out, the next held');
  const running = await waitUntil(client, b.id, (x) => x.request_counts.completed === 10, 'ten done');
  assert.equal(running.status, 'in_progress');
  assert.deepEqual(running.request_counts, { total: n, completed: 10, failed: 0 });
  const cancelling = await client.batches.cancel(b.id);
  assert.ok(['cancelling', 'cancelled'].includes(cancelling.status));
  const done = await waitFor(client, b.id, ['cancelled'], 20000);
  assert.ok(done.cancelled_at > 0);
  assert.deepEqual(done.request_counts, { total: n, completed: 10, failed: n - 10 }, 'it stopped before the end');
  const out = await lines(client, done.output_file_id);
  assert.equal(out.length, done.request_counts.completed);
  const err = await lines(client, done.error_file_id);
  assert.equal(err.length, n - 10);
  for (const l of err) assert.equal(l.error.code, 'batch_cancelled');
  assert.deepEqual([...out, ...err].map((l) => l.custom_id).sort(), Array.from({ length: n }, (_, i) => `task-${i}`).sort());
  assert.equal(upstream.answered(), 10, 'nothing ran after the cancel');
});

test('a batch past its completion window expires; unfinished requests get batch_expired', async (t) => {
  // A stand-in upstream lets five answers out and holds the rest at its gate, so the window (4 s) ends
  // the batch with exactly five requests done, whatever the machine's speed.
  const upstream = await startStandin({ delayMs: 0, holdAfter: 5 });
  const server = await startServer({ model: null, args: ['--upstream', upstream.baseURL, '--parallel', '2', '--completion-window-seconds', '4'] });
  t.after(async () => {
    upstream.release();
    await server.stop();
    await upstream.close();
  });
  const { client } = server;
  const n = 50;
  const file = await upload(client, jsonl(Array.from({ length: n }, (_, i) => task(i))));
  const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const running = await waitUntil(client, b.id, (x) => x.request_counts.completed === 5, 'five done', 4000);
  assert.equal(running.status, 'in_progress', 'five done before the window ends');
  const done = await waitFor(client, b.id, ['expired'], 20000);
  assert.ok(done.expired_at > 0);
  assert.deepEqual(done.request_counts, { total: n, completed: 5, failed: n - 5 });
  const out = await lines(client, done.output_file_id);
  const err = await lines(client, done.error_file_id);
  assert.equal(out.length, 5);
  assert.equal(err.length, n - 5);
  for (const l of err) assert.equal(l.error.code, 'batch_expired');
  assert.deepEqual([...out, ...err].map((l) => l.custom_id).sort(), Array.from({ length: n }, (_, i) => `task-${i}`).sort());
  assert.equal(upstream.answered(), 5, 'nothing ran past the gate');
});

test('lists paginate with after/limit; delete removes a file; keys see only their own things', async (t) => {
  const server = await startServer({ args: ['--api-key', 'sk-alice', '--api-key', 'sk-bob'], apiKey: 'sk-alice' });
  t.after(() => server.stop());
  const alice = server.client;
  const bob = new OpenAI({ baseURL: server.baseURL, apiKey: 'sk-bob', maxRetries: 0 });
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push((await upload(alice, jsonl([task(i)]), `f${i}.jsonl`)).id);
  const page1 = await alice.files.list({ limit: 2, order: 'asc' });
  assert.deepEqual(page1.data.map((f) => f.id), ids.slice(0, 2));
  assert.equal(page1.has_more, true);
  const page2 = await alice.files.list({ limit: 2, order: 'asc', after: ids[1] });
  assert.deepEqual(page2.data.map((f) => f.id), ids.slice(2, 4));
  const all = [];
  for await (const f of alice.files.list({ limit: 2, order: 'asc' })) all.push(f.id);
  assert.deepEqual(all, ids);

  const batches = [];
  for (let i = 0; i < 3; i++) batches.push((await alice.batches.create({ input_file_id: ids[i], endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
  const bp = await alice.batches.list({ limit: 2 });
  assert.deepEqual(bp.data.map((b) => b.id), [batches[2], batches[1]]);
  assert.equal(bp.has_more, true);
  const bp2 = await alice.batches.list({ limit: 2, after: batches[1] });
  assert.deepEqual(bp2.data.map((b) => b.id), [batches[0]]);

  await assert.rejects(bob.files.retrieve(ids[0]), (e) => e.status === 404);
  await assert.rejects(bob.batches.retrieve(batches[0]), (e) => e.status === 404);
  assert.equal((await bob.files.list()).data.length, 0);
  assert.equal((await bob.batches.list()).data.length, 0);
  await assert.rejects(bob.files.delete(ids[4]), (e) => e.status === 404);

  const del = await alice.files.delete(ids[4]);
  assert.deepEqual([del.id, del.deleted, del.object], [ids[4], true, 'file']);
  await assert.rejects(alice.files.retrieve(ids[4]), (e) => e.status === 404);
});

test('a server killed with SIGKILL mid-batch resumes: every custom_id ends in exactly one file, once', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'openbatch-crash-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  // The requests run on a stand-in upstream whose gate holds every answer until the test opens it: each
  // kill lands once a chosen number more requests are done, with requests waiting at the gate.
  const upstream = await startStandin({ delayMs: 0, held: true });
  t.after(() => upstream.close());
  const start = () => startServer({ dataDir, model: null, args: ['--upstream', upstream.baseURL, '--parallel', '4'] });
  const n = 300;
  let server = await start();
  const file = await upload(server.client, jsonl(Array.from({ length: n }, (_, i) => task(i, { max_tokens: 32 }))));
  const { id } = await server.client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  let done = 0;
  for (const step of [20, 35, 50]) {
    upstream.open(step);
    const b = await waitUntil(server.client, id, (x) => x.request_counts.completed >= done + step, `${done + step} done`);
    await upstream.waitFor(() => upstream.held() > 0, 'a request waiting at the gate');
    done += step;
    assert.equal(b.status, 'in_progress');
    assert.deepEqual(b.request_counts, { total: n, completed: done, failed: 0 }, 'the kill lands mid-run');
    await server.stop('SIGKILL');
    // The killed server's requests leave the gate, so that the next answers go to the new one.
    await upstream.waitFor(() => upstream.held() === 0, 'the killed server\'s requests gone');
    server = await start();
  }
  // The last kill comes as soon as 15 more answers have left the upstream: some may not be stored yet,
  // and those run again after the restart.
  const answered = upstream.answered();
  upstream.open(15);
  await upstream.waitFor(() => upstream.answered() === answered + 15 && upstream.held() > 0, '15 more answers out');
  const last = await server.client.batches.retrieve(id);
  await server.stop('SIGKILL');
  assert.equal(last.status, 'in_progress');
  assert.ok(last.request_counts.completed >= done && last.request_counts.completed <= done + 15, JSON.stringify(last.request_counts));
  await upstream.waitFor(() => upstream.held() === 0, 'the killed server\'s requests gone');
  server = await start();
  t.after(() => server.stop());
  upstream.release();
  const finished = await waitFor(server.client, id, ['completed'], 180000);
  const out = await lines(server.client, finished.output_file_id);
  const err = await lines(server.client, finished.error_file_id);
  const ids = [...out, ...err].map((l) => l.custom_id);
  assert.equal(ids.length, n);
  assert.equal(new Set(ids).size, n);
  assert.deepEqual(finished.request_counts, { total: n, completed: out.length, failed: err.length });
  assert.equal(err.length, 0);
  assert.equal(finished.usage.output_tokens, n * COMPLETION_TOKENS, 'each request counted once');
  // Only an answer the last kill caught before it was stored runs twice.
  assert.ok(upstream.answered() >= n && upstream.answered() <= n + 15, `${upstream.answered()} answers`);
});
