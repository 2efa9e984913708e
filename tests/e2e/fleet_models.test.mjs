// Fleet by model: two `openbatch serve` nodes on one PostgreSQL, each serving another model. A batch
// runs only on the node that serves its model, whichever node it was submitted to; a batch whose node
// is down waits (visible on the dashboard's data) and completes once that node is back; a model no node
// ever served is model_not_found. Interactive calls of a model another live node serves are forwarded
// there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toFile } from 'openai';
import puppeteer from 'puppeteer-core';
import { dirname, join } from 'node:path';
import { MODEL, startServer, waitForBatch } from './harness.mjs';
import { startPostgres } from './postgres.mjs';

const KEY = 'sk-fleet';
// Another GGUF for node B: the real-vocabulary Qwen2.5 test model (scripts/test.sh makes it).
const MODEL_B = join(process.env.OPENBATCH_TEST_REAL_MODELS ?? dirname(MODEL), 'qwen2.5-tiny.gguf');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A node serving the GGUF at path under the name `name` (the harness's own name comes first).
function startNode(pg, path, name) {
  return startServer({
    model: null, apiKey: KEY,
    args: ['--model', path, '--model-id', name, '--db', pg.url(), '--lease-seconds', '1', '--parallel', '2', '--api-key', KEY],
  });
}

async function submit(node, model, n) {
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({
    custom_id: `${model}-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model, max_tokens: 4, messages: [{ role: 'user', content: `Say ${i}` }] },
  }));
  const file = await node.client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'in.jsonl'), purpose: 'batch' });
  return node.client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}

// Generations the node ran of a priority (every label set of the counter summed).
async function generations(node, priority) {
  const text = await (await fetch(node.baseURL.replace(/\/v1$/, '/metrics'), { headers: { Authorization: `Bearer ${KEY}` } })).text();
  let n = 0;
  for (const m of text.matchAll(/^openbatch_generations_total\{([^}]*)\} (\S+)$/gm)) {
    if (m[1].includes(`priority="${priority}"`) && m[1].includes('outcome="ok"')) n += Number(m[2]);
  }
  return n;
}
const batchGenerations = (node) => generations(node, 'batch');

// The dashboard's data of a node (GET /web/data/...).
async function webData(node, path) {
  const res = await fetch(node.baseURL.replace(/\/v1$/, `/web/data/${path}`), { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

test('two nodes serving different models: each batch runs on its model\'s node, and waits while that node is down', async (t) => {
  const pg = await startPostgres();
  t.after(() => pg.stop());
  const a = await startNode(pg, MODEL, 'model-a');
  let b = await startNode(pg, MODEL_B, 'model-b');
  t.after(() => Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]));

  // Each batch submitted to the node that does not serve its model.
  const [ba, bb] = [await submit(b, 'model-a', 3), await submit(a, 'model-b', 2)];
  assert.equal((await waitForBatch(a.client, ba.id)).status, 'completed');
  assert.equal((await waitForBatch(b.client, bb.id)).status, 'completed');
  assert.equal(await batchGenerations(a), 3, 'node A ran model-a\'s three requests, none of model-b\'s');
  assert.equal(await batchGenerations(b), 2, 'node B ran model-b\'s two requests, none of model-a\'s');

  const unknown = await waitForBatch(a.client, (await submit(a, 'model-z', 1)).id);
  assert.equal(unknown.status, 'failed');
  assert.equal(unknown.errors.data[0].code, 'model_not_found');

  // Interactive calls of model-b to node A are forwarded to node B, which answers them: whole, and
  // streamed. Each answer is B's: its tokenizer counts the prompt as a direct call to B does, and A's
  // counts it otherwise (the texts are not compared: a prompt read from B's cache may tip a near tie).
  const ask = { model: 'model-b', max_tokens: 3, temperature: 0, messages: [{ role: 'user', content: 'Name a colour.' }] };
  const direct = await b.client.chat.completions.create(ask);
  const viaA = await a.client.chat.completions.create(ask);
  assert.equal(viaA.model, 'model-b');
  assert.equal(viaA.usage.prompt_tokens, direct.usage.prompt_tokens);
  assert.equal(typeof viaA.choices[0].message.content, 'string');
  const mine = await a.client.chat.completions.create({ ...ask, model: 'model-a' });
  assert.notEqual(mine.usage.prompt_tokens, direct.usage.prompt_tokens, 'the two tokenizers differ');
  const chunks = [];
  for await (const chunk of await a.client.chat.completions.create({ ...ask, stream: true, stream_options: { include_usage: true } })) chunks.push(chunk);
  assert.ok(chunks.length >= 2, 'events came through');
  assert.equal(chunks[0].object, 'chat.completion.chunk');
  assert.equal(chunks[0].model, 'model-b');
  assert.equal(chunks.at(-1).usage.prompt_tokens, direct.usage.prompt_tokens);
  assert.equal(await generations(b, 'interactive'), 3, 'node B ran its direct call and the two forwarded');
  assert.equal(await generations(a, 'interactive'), 1, 'node A ran only its own model\'s call');
  // Node A lists node B's model too, as served elsewhere.
  const listed = Object.fromEntries((await a.client.models.list()).data.map((m) => [m.id, m.status.value]));
  assert.deepEqual(listed, { 'gpt-4o-mini': 'loaded', 'model-a': 'loaded', 'model-b': 'remote' });  // the harness's name first
  assert.equal((await a.client.models.retrieve('model-b')).status.value, 'remote');
  // A call forwarded once is not forwarded again.
  const again = await fetch(`${a.baseURL}/chat/completions`, {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', 'OpenBatch-Forwarded': '1' },
    body: JSON.stringify(ask),
  });
  assert.equal(again.status, 404);
  assert.equal((await again.json()).error.code, 'model_not_found');

  // Node B goes: a batch of model-b is still accepted (the fleet served it) and waits.
  await b.stop();
  const stopped = Date.now();
  // While node B's heartbeat is still fresh (three lease periods, 3 s), a call of its model finds no
  // node to connect to: 503, naming the model.
  const refused = await fetch(`${a.baseURL}/chat/completions`, {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify(ask),
  });
  if (Date.now() - stopped < 2000) {
    assert.equal(refused.status, 503);
    assert.match((await refused.json()).error.message, /model-b/);
  }
  const waiting = await submit(a, 'model-b', 2);
  await waitForBatch(a.client, waiting.id, ['in_progress']);
  let shown;
  for (let i = 0; i < 100; i++) {  // node B's heartbeat goes stale after three lease periods
    shown = await webData(a, `batches/${waiting.id}`);
    if (shown.waiting) break;
    await sleep(100);
  }
  assert.deepEqual(shown, { id: waiting.id, model: 'model-b', status: 'in_progress', waiting: 'waiting for model model-b: no live node serves it' });
  // With no live node serving model-b, an interactive call of it is model_not_found.
  await assert.rejects(a.client.chat.completions.create(ask), (e) => e.status === 404 && e.code === 'model_not_found');
  assert.deepEqual((await a.client.models.list()).data.map((m) => m.id), ['gpt-4o-mini', 'model-a']);
  await assert.rejects(a.client.models.retrieve('model-b'), (e) => e.status === 404);
  const models = Object.fromEntries((await webData(a, 'models')).data.map((m) => [m.id, m]));
  assert.equal(models['model-a'].served_here, true);
  assert.equal(models['model-b'].live, false);
  assert.ok(models['model-b'].last_heartbeat_ms > 0);
  const still = await a.client.batches.retrieve(waiting.id);
  assert.equal(still.status, 'in_progress');
  assert.equal(still.request_counts.completed + still.request_counts.failed, 0, 'node A ran none of it');
  // The batch's page says so, and the list page shows the models of the fleet.
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const root = a.baseURL.replace(/\/v1$/, '');
  await page.goto(`${root}/#/batches/${waiting.id}?key=${KEY}`);
  await page.waitForSelector('#waiting', { timeout: 10000 });
  assert.equal(await page.$eval('#waiting', (e) => e.textContent), 'waiting for model model-b: no live node serves it');
  await page.goto(`${root}/#/`);
  await page.waitForSelector('#models tr[data-model="model-b"][data-live="false"]', { timeout: 10000 });
  assert.match(await page.$eval('#models tr[data-model="model-a"]', (e) => e.textContent), /model-athis node/);
  assert.match(await page.$eval('#models tr[data-model="model-b"]', (e) => e.textContent), /no live node/);

  const unauthorized = await fetch(a.baseURL.replace(/\/v1$/, '/web/data/models'));
  assert.equal(unauthorized.status, 401, 'the dashboard\'s data is behind the key');

  // Node B comes back: the batch completes there.
  b = await startNode(pg, MODEL_B, 'model-b');
  const done = await waitForBatch(a.client, waiting.id);
  assert.equal(done.status, 'completed');
  assert.equal(done.request_counts.completed, 2);
  assert.equal(await batchGenerations(b), 2);
  assert.equal(await batchGenerations(a), 3);
  assert.equal((await webData(a, `batches/${waiting.id}`)).waiting, null);
});
