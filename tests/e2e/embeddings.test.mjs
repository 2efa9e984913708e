// /v1/embeddings through the official openai package: the synchronous endpoint (the client asks for
// base64 and decodes it), a batch on /v1/embeddings, and the same through a server in front (--upstream).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { toFile } from 'openai';
import { fileLines, startServer, waitForBatch } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const items = ['a red armchair', 'an oak dining table', 'a brass floor lamp', 'a red armchair'];
const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

async function embeddingBatch(client, n) {
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({
    custom_id: `item-${i}`, method: 'POST', url: '/v1/embeddings',
    body: { model: 'gpt-4o-mini', input: items[i % items.length] },
  }) + '\n').join('');
  const file = await client.files.create({ file: await toFile(Buffer.from(lines), 'embed.jsonl'), purpose: 'batch' });
  const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
  const b = await waitForBatch(client, created.id, undefined, 60000);
  const out = await fileLines(client, b.output_file_id);
  return { batch: b, out };
}

test('embeddings: unit vectors, the same text the same vector, floats and base64 agree', async () => {
  const res = await server.client.embeddings.create({ model: 'gpt-4o-mini', input: items });
  assert.equal(res.object, 'list');
  assert.equal(res.data.length, items.length);
  res.data.forEach((d, i) => { assert.equal(d.index, i); assert.equal(d.object, 'embedding'); });
  const [a, b, , a2] = res.data.map((d) => d.embedding);
  assert.ok(a.length > 1);
  assert.ok(Math.abs(norm(a) - 1) < 1e-4);
  const close = (u, v, tol) => u.every((x, k) => Math.abs(x - v[k]) < tol);
  assert.ok(close(a, a2, 1e-5), 'the same text, the same vector (to float noise)');
  assert.ok(!close(a, b, 1e-3));
  assert.ok(res.usage.prompt_tokens > 0 && res.usage.total_tokens === res.usage.prompt_tokens);

  const floats = await server.client.embeddings.create({ model: 'gpt-4o-mini', input: items[0], encoding_format: 'float' });
  floats.data[0].embedding.forEach((x, k) => assert.ok(Math.abs(x - a[k]) < 1e-6));

  const short = await server.client.embeddings.create({ model: 'gpt-4o-mini', input: items[0], dimensions: 4 });
  assert.equal(short.data[0].embedding.length, 4);
  assert.ok(Math.abs(norm(short.data[0].embedding) - 1) < 1e-4);

  const bad = await server.client.embeddings.create({ model: 'gpt-4o-mini', input: '' }).catch((e) => e);
  assert.equal(bad.status, 400);
  assert.equal(bad.param, 'input');
});

test('a batch on /v1/embeddings completes with one vector per line', async () => {
  const { batch, out } = await embeddingBatch(server.client, 12);
  assert.equal(batch.status, 'completed');
  assert.equal(batch.endpoint, '/v1/embeddings');
  assert.deepEqual(batch.request_counts, { total: 12, completed: 12, failed: 0 });
  const direct = await server.client.embeddings.create({ model: 'gpt-4o-mini', input: items[1], encoding_format: 'float' });
  const line = out.find((l) => l.custom_id === 'item-5');
  assert.equal(line.response.status_code, 200);
  line.response.body.data[0].embedding.forEach((x, k) => assert.ok(Math.abs(x - direct.data[0].embedding[k]) < 1e-5));
  assert.ok(batch.usage.input_tokens > 0);
});

test('embeddings through a server in front of this one (--upstream)', async (t) => {
  const front = await startServer({ model: null, args: ['--upstream', server.baseURL] });
  t.after(() => front.stop());
  const direct = await server.client.embeddings.create({ model: 'gpt-4o-mini', input: items, encoding_format: 'float' });
  const forwarded = await front.client.embeddings.create({ model: 'gpt-4o-mini', input: items });
  forwarded.data.forEach((d, i) => d.embedding.forEach((x, k) => assert.ok(Math.abs(x - direct.data[i].embedding[k]) < 1e-5)));
  assert.equal(forwarded.usage.prompt_tokens, direct.usage.prompt_tokens);
  const { batch, out } = await embeddingBatch(front.client, 6);
  assert.equal(batch.status, 'completed');
  assert.equal(out.length, 6);
});
