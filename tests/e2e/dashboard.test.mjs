// The dashboard page at / in headless Chromium (Debian's), against the real server: it lists the
// caller's batches with their status and counts, asking the API with the key in its #key= fragment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { toFile } from 'openai';
import { startServer, waitForBatch } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM ?? 'chromium';

// The page's DOM once its scripts have run (3 s of virtual time: the first refresh and one more).
async function renderedPage(url) {
  const { stdout } = await promisify(execFile)(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu',
    '--dump-dom', '--virtual-time-budget=3000', url], { timeout: 60000, maxBuffer: 8 << 20 });
  return stdout;
}

test('the dashboard lists the key\'s batches, with status and counts, and says when the key is wrong', async (t) => {
  const server = await startServer({ args: ['--api-key', 'sk-alice', '--api-key', 'sk-bob'] });
  t.after(() => server.stop());
  const alice = server.client.withOptions({ apiKey: 'sk-alice' });
  const lines = Array.from({ length: 5 }, (_, i) => JSON.stringify({
    custom_id: `c${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: `Item ${i}` }] },
  })).join('\n');
  const file = await alice.files.create({ file: await toFile(Buffer.from(lines), 'tasks.jsonl'), purpose: 'batch' });
  const batch = await alice.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  await waitForBatch(alice, batch.id);
  const root = server.baseURL.replace(/\/v1$/, '');

  const page = await renderedPage(`${root}/#key=sk-alice`);
  const row = new RegExp(`<tr data-batch="${batch.id}" data-status="completed">(.*?)</tr>`).exec(page);
  assert.ok(row, `no row for ${batch.id} in:\n${page.slice(0, 3000)}`);
  assert.match(row[1], /<td class="counts">5 \/ 0 \/ 5<\/td>/);
  assert.match(row[1], /100%/);
  assert.match(row[1], /<button>output<\/button>/);
  assert.match(page, /model: gpt-4o-mini/);
  assert.match(page, /<div id="error" role="alert"><\/div>/);

  const bob = await renderedPage(`${root}/#key=sk-bob`);
  assert.doesNotMatch(bob, new RegExp(batch.id), 'another key sees none of alice\'s batches');
  assert.match(bob, /no batches yet/);

  const wrong = await renderedPage(`${root}/#key=sk-wrong`);
  assert.match(wrong, /<div id="error" role="alert">[^<]*Incorrect API key provided/);
});
