// Fleet by model: two `openbatch serve` nodes on one PostgreSQL, each serving another model. A batch
// runs only on the node that serves its model, whichever node it was submitted to; a batch whose node
// is down waits (visible on the dashboard's data) and completes once that node is back; a model no node
// ever served is model_not_found.
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

// Batch generations the node ran (every label set of the counter summed).
async function batchGenerations(node) {
  const text = await (await fetch(node.baseURL.replace(/\/v1$/, '/metrics'), { headers: { Authorization: `Bearer ${KEY}` } })).text();
  let n = 0;
  for (const m of text.matchAll(/^openbatch_generations_total\{([^}]*)\} (\S+)$/gm)) {
    if (m[1].includes('priority="batch"') && m[1].includes('outcome="ok"')) n += Number(m[2]);
  }
  return n;
}

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

  // Node B goes: a batch of model-b is still accepted (the fleet served it) and waits.
  await b.stop();
  const waiting = await submit(a, 'model-b', 2);
  await waitForBatch(a.client, waiting.id, ['in_progress']);
  let shown;
  for (let i = 0; i < 100; i++) {  // node B's heartbeat goes stale after three lease periods
    shown = await webData(a, `batches/${waiting.id}`);
    if (shown.waiting) break;
    await sleep(100);
  }
  assert.deepEqual(shown, { id: waiting.id, model: 'model-b', status: 'in_progress', waiting: 'waiting for model model-b: no live node serves it' });
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
