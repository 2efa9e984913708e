// Many nodes, one queue: three `openbatch serve` nodes on one PostgreSQL (started by the test), their
// upstream a loopback stand-in that answers after a fixed delay. The guide's Example 1 goes in through
// node 1, is polled through node 2 and comes out through node 3, while nodes are SIGKILLed and started
// again; PostgreSQL itself restarts under another batch; two API keys see only their own work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { dirname, join } from 'node:path';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readCsv, categorize_system_prompt } from '../../examples/guide_example1.mjs';
import { startServer } from './harness.mjs';
import { startPostgres } from './postgres.mjs';
import { COMPLETION_TOKENS, PROMPT_TOKENS, startStandin } from './standin_upstream.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const KEYS = ['sk-fleet-a', 'sk-fleet-b'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startNode(pg, upstream, port = 0, extra = []) {
  const args = ['--upstream', upstream.baseURL, '--db', pg.url(), '--lease-seconds', '2', '--parallel', '2',
    '--api-key', KEYS[0], '--api-key', KEYS[1], '--port', String(port), ...extra];
  return startServer({ model: null, args, apiKey: KEYS[0] });
}

// A client of a node that waits out the moments the node is down (killed, restarting).
function patientClient(node, apiKey = KEYS[0]) {
  return new OpenAI({ baseURL: node.baseURL, apiKey, maxRetries: 20, timeout: 30000 });
}

function exampleTasks(model = 'gpt-4o-mini') {
  const df = readCsv(join(here, '../../examples/data/movies.csv'));
  return df.map((row, index) => ({
    custom_id: `task-${index}`, method: 'POST', url: '/v1/chat/completions',
    body: {
      model, temperature: 0.1, response_format: { type: 'json_object' },
      messages: [{ role: 'system', content: categorize_system_prompt }, { role: 'user', content: row.Overview }],
    },
  }));
}

async function linesOf(client, fileId) {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

test('three nodes on one PostgreSQL run the guide\'s Example 1 through kills and a database restart', async (t) => {
  const pg = await startPostgres();
  t.after(() => pg.stop());
  const upstream = await startStandin({ delayMs: 150 });
  t.after(() => upstream.close());
  const nodes = [await startNode(pg, upstream), await startNode(pg, upstream), await startNode(pg, upstream)];
  t.after(() => Promise.all(nodes.map((n) => n.stop('SIGKILL'))));

  // Step 4 through node 1: upload and create.
  const tasks = exampleTasks();
  const text = tasks.map((o) => JSON.stringify(o) + '\n').join('');
  const c1 = patientClient(nodes[0]);
  const file = await c1.files.create({ file: await toFile(Buffer.from(text), 'batch_tasks_movies.jsonl'), purpose: 'batch' });
  const created = await c1.batches.create({
    input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h',
    metadata: { zeta: 'first', alpha: 'second' },
  });
  assert.equal(created.status, 'validating');
  assert.deepEqual(Object.keys(created).slice(0, 2), ['id', 'object']);
  assert.deepEqual(Object.keys(created.metadata), ['zeta', 'alpha'], 'metadata keeps the order it was given in');

  // Nodes die at random moments of the batch (never node 2, whose client polls; the others in turn)
  // and come back on their ports.
  const killer = (async () => {
    for (let k = 0; k < 4; k++) {
      await sleep(300 + Math.floor(Math.random() * 700));
      const b = await patientClient(nodes[1]).batches.retrieve(created.id);
      if (!['validating', 'in_progress'].includes(b.status)) return k;
      const i = k % 2 === 0 ? 0 : 2;
      const port = nodes[i].port;
      await nodes[i].stop('SIGKILL');
      await sleep(200);
      nodes[i] = await startNode(pg, upstream, port);
    }
    return 4;
  })();

  // Step 5 through node 2: poll until done.
  const c2 = patientClient(nodes[1]);
  let batch = created;
  const deadline = Date.now() + 90000;
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
    assert.ok(Date.now() < deadline, `batch still ${batch.status}: ${JSON.stringify(batch.request_counts)}`);
    await sleep(200);
    batch = await c2.batches.retrieve(created.id);
  }
  const kills = await killer;
  assert.ok(kills >= 2, `nodes were killed during the batch (${kills} times)`);
  assert.equal(batch.status, 'completed');
  const n = tasks.length;
  assert.deepEqual(batch.request_counts, { total: n, completed: n, failed: 0 });
  assert.equal(batch.usage.input_tokens, n * PROMPT_TOKENS, 'usage counted once a request');
  assert.equal(batch.usage.output_tokens, n * COMPLETION_TOKENS);

  // Steps 6 and 7 through node 3: the results, every custom_id exactly once, no error file.
  const c3 = patientClient(nodes[2]);
  const again = await c3.batches.retrieve(created.id);
  assert.deepEqual(again.request_counts, batch.request_counts, 'every node answers the same');
  assert.equal(again.error_file_id, null, 'a kill never turns a request into an error line');
  const out = await linesOf(c3, again.output_file_id);
  assert.equal(out.length, n);
  assert.deepEqual(out.map((l) => l.custom_id).sort(), tasks.map((x) => x.custom_id).sort());
  for (const l of out) {
    assert.equal(l.response.status_code, 200);
    assert.deepEqual(JSON.parse(l.response.body.choices[0].message.content).categories, ['drama']);
  }

  // PostgreSQL restarts mid-batch: the nodes reconnect and the batch completes, each line once.
  const second = await c1.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  let during = await c2.batches.retrieve(second.id);
  while (during.request_counts.completed < 10) {
    await sleep(50);
    during = await c2.batches.retrieve(second.id);
  }
  await pg.restart(1500);
  let done = during;
  const deadline2 = Date.now() + 90000;
  while (done.status !== 'completed') {
    assert.ok(Date.now() < deadline2, `batch still ${done.status} after the restart`);
    await sleep(200);
    done = await c3.batches.retrieve(second.id);
  }
  assert.ok(during.request_counts.completed < n, 'the database went away mid-batch');
  assert.deepEqual(done.request_counts, { total: n, completed: n, failed: 0 });
  assert.equal(done.error_file_id, null);
  const out2 = await linesOf(c3, done.output_file_id);
  assert.equal(new Set(out2.map((l) => l.custom_id)).size, n);
  assert.equal(out2.length, n);

  // Two API keys: the second key sees none of the first key's work, on any node.
  for (const node of nodes) {
    const other = patientClient(node, KEYS[1]);
    await assert.rejects(other.batches.retrieve(created.id), (e) => e.status === 404);
    await assert.rejects(other.files.retrieve(file.id), (e) => e.status === 404);
    assert.equal((await other.batches.list()).data.length, 0);
  }
  const mine = await patientClient(nodes[2], KEYS[1]).files.create({ file: await toFile(Buffer.from(text), 'b.jsonl'), purpose: 'batch' });
  await assert.rejects(patientClient(nodes[0]).files.retrieve(mine.id), (e) => e.status === 404);
  assert.equal((await patientClient(nodes[1], KEYS[1]).files.retrieve(mine.id)).id, mine.id);
});

test('a cancel asked of one node stops the requests the other nodes run, promptly, each line once', async (t) => {
  const pg = await startPostgres();
  t.after(() => pg.stop());
  const upstream = await startStandin({ delayMs: 300 });
  t.after(() => upstream.close());
  const nodes = [await startNode(pg, upstream), await startNode(pg, upstream), await startNode(pg, upstream)];
  t.after(() => Promise.all(nodes.map((n) => n.stop('SIGKILL'))));
  const tasks = exampleTasks();
  const text = tasks.map((o) => JSON.stringify(o) + '\n').join('');
  const c1 = nodes[0].client;
  const file = await c1.files.create({ file: await toFile(Buffer.from(text), 'movies.jsonl'), purpose: 'batch' });
  const batch = await c1.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  let b = batch;
  while (b.request_counts.completed < 6) {
    await sleep(50);
    b = await nodes[1].client.batches.retrieve(batch.id);
  }
  const cancelled = await nodes[2].client.batches.cancel(batch.id);
  assert.equal(cancelled.status, 'cancelling');
  const asked = Date.now();
  while (b.status !== 'cancelled') {
    assert.ok(Date.now() - asked < 15000, `still ${b.status}`);
    await sleep(100);
    b = await nodes[0].client.batches.retrieve(batch.id);
  }
  const n = tasks.length;
  assert.ok(b.request_counts.completed < n, 'cancelled before the end');
  assert.equal(b.request_counts.completed + b.request_counts.failed, n);
  const out = await linesOf(nodes[1].client, b.output_file_id);
  const err = await linesOf(nodes[1].client, b.error_file_id);
  assert.equal(out.length, b.request_counts.completed);
  assert.ok(err.every((l) => l.error.code === 'batch_cancelled'));
  assert.equal(new Set([...out, ...err].map((l) => l.custom_id)).size, n, 'every custom_id once');
  // The nodes stopped calling the upstream: nothing more goes out after the cancel ended.
  const calls = upstream.calls();
  await sleep(700);
  assert.equal(upstream.calls(), calls);
});

test('--files-dir keeps the bytes in a directory the nodes share; the database keeps the rest', async (t) => {
  const pg = await startPostgres();
  t.after(() => pg.stop());
  const upstream = await startStandin({ delayMs: 5 });
  t.after(() => upstream.close());
  const shared = mkdtempSync(join(tmpdir(), 'openbatch-shared-files-'));
  t.after(() => rmSync(shared, { recursive: true, force: true }));
  const nodes = [await startNode(pg, upstream, 0, ['--files-dir', shared]),
    await startNode(pg, upstream, 0, ['--files-dir', shared])];
  t.after(() => Promise.all(nodes.map((n) => n.stop())));
  const tasks = exampleTasks().slice(0, 12);
  const file = await nodes[0].client.files.create({
    file: await toFile(Buffer.from(tasks.map((o) => JSON.stringify(o) + '\n').join('')), 'm.jsonl'), purpose: 'batch',
  });
  assert.ok(readdirSync(join(shared, 'openbatch-files')).includes(file.id), 'the upload is a file of the folder openbatch made in the shared directory');
  const batch = await nodes[1].client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  let b = batch;
  while (b.status !== 'completed') {
    assert.ok(!['failed', 'expired', 'cancelled'].includes(b.status), b.status);
    await sleep(100);
    b = await nodes[0].client.batches.retrieve(batch.id);
  }
  assert.ok(readdirSync(join(shared, 'openbatch-files')).includes(b.output_file_id));
  const out = await linesOf(nodes[1].client, b.output_file_id);
  assert.deepEqual(out.map((l) => l.custom_id).sort(), tasks.map((x) => x.custom_id).sort());
});
