// Upstream pools that drive themselves (serve --upstream with --parallel 0): the concurrency found per
// upstream, a server taken out of rotation and probed back. The upstreams are stand-ins
// (standin_upstream.mjs) that count what they have in flight; the client is the official openai package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toFile } from 'openai';
import { startServer, waitForBatch } from './harness.mjs';
import { startStandin } from './standin_upstream.mjs';

const jsonl = (n, tag) => Array.from({ length: n }, (_, i) => JSON.stringify({
  custom_id: `${tag}-${i}`, method: 'POST', url: '/v1/chat/completions',
  body: {
    model: 'gpt-4o-mini', max_tokens: 16,
    messages: [{ role: 'system', content: `You sort films into JSON (${i % 4}).` }, { role: 'user', content: `Film ${tag} ${i}` }],
  },
}) + '\n').join('');

async function createBatch(client, text) {
  const file = await client.files.create({ file: await toFile(Buffer.from(text), 'films.jsonl'), purpose: 'batch' });
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}

// The found concurrency: parallel 0 (the harness gives the server --parallel 8; the last one counts).
const pool = (...standins) => ['--parallel', '0', '--upstream-model', 'gpt-4o-mini',
  ...standins.flatMap((s) => ['--upstream', s.baseURL])];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a server that refuses more than 24 in flight: every line completes and the concurrency settles at 16 to 24', async (t) => {
  const standin = await startStandin({ delayMs: 40, jitterMs: 20, maxInFlight: 24 });
  t.after(() => standin.close());
  const server = await startServer({ model: null, args: pool(standin) });
  t.after(() => server.stop());

  const n = 2000;
  const batch = await createBatch(server.client, jsonl(n, 'a'));
  // What the stand-in has in flight, sampled over the second half of the run.
  const samples = [];
  let done;
  const finished = waitForBatch(server.client, batch.id).then((b) => { done = b; });
  while (!done) {
    if (standin.answered() > n / 2) samples.push(standin.inFlight());
    await sleep(10);
  }
  await finished;
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.request_counts, { total: n, completed: n, failed: 0 });
  assert.ok(standin.throttled() > 0, 'openbatch went over 24 and met the 429s');
  assert.ok(samples.length > 20, `sampled ${samples.length} times`);
  const busy = samples.filter((s) => s > 0);  // the queue runs dry at the very end
  const mean = busy.reduce((a, b) => a + b, 0) / busy.length;
  t.diagnostic(`in flight over the second half: mean ${mean.toFixed(1)}, ${standin.throttled()} answers 429`);
  assert.ok(mean >= 16 && mean <= 24, `in flight over the second half: mean ${mean.toFixed(1)}, samples ${busy.length}`);
});

test('a server that takes 200 in flight gets at least 150 within 30 s', async (t) => {
  const standin = await startStandin({ delayMs: 1000, jitterMs: 1000, maxInFlight: 200 });
  t.after(() => standin.close());
  const server = await startServer({ model: null, args: pool(standin) });
  t.after(() => server.stop());

  const batch = await createBatch(server.client, jsonl(3000, 'b'));
  const started = Date.now();
  await standin.waitFor(() => standin.peakInFlight() >= 150, '150 in flight', 30000);
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(`150 in flight after ${seconds} s`);
  assert.ok(seconds < 30, `150 in flight after ${seconds} s`);
  await server.client.batches.cancel(batch.id);
});

test('a replica down at start: the other runs the work, and once it is up it is probed back and gets work', async (t) => {
  const up = await startStandin({ delayMs: 30 });
  const late = await startStandin({ delayMs: 30, down: true });
  t.after(() => Promise.all([up.close(), late.close()]));
  const server = await startServer({ model: null, args: pool(up, late) });
  t.after(() => server.stop());

  const n = 400;
  const first = await waitForBatch(server.client, (await createBatch(server.client, jsonl(n, 'c'))).id);
  assert.deepEqual(first.request_counts, { total: n, completed: n, failed: 0 });
  assert.equal(up.answered(), n, 'every line ran on the replica that is up');

  await late.up();
  await late.waitFor(() => late.listed() > 0, 'a probe of the replica that came up', 30000);
  const second = await waitForBatch(server.client, (await createBatch(server.client, jsonl(n, 'd'))).id);
  assert.deepEqual(second.request_counts, { total: n, completed: n, failed: 0 });
  assert.ok(late.answered() > 0 && up.answered() > n, `back in rotation: ${late.answered()} and ${up.answered() - n} answers`);
});
