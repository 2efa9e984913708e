// Many models behind one server (serve --models FILE, issue 27) through the official openai package: two
// embedded text models, the tiny vision pair, an embedding model and an upstream pool of two loopback
// servers, each batch run on its own model at once; and --models-max 1, where two models take turns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toFile } from 'openai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODEL, VISION_MODEL, MMPROJ, fileLines, startServer, waitForBatch } from './harness.mjs';
import { pngImage, dataUrl } from './test_images.mjs';
import { categorize_system_prompt, readCsv } from '../../examples/guide_example1.mjs';
import { caption_system_prompt } from '../../examples/guide_example2.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const models = process.env.OPENBATCH_TEST_REAL_MODELS ?? dirname(MODEL);
const movies = readCsv(join(here, '../../examples/data/movies.csv')).slice(0, 3);

// The guide's Example 1 line (categorize a movie), kept short.
const example1 = (model, row) => ({
  model, temperature: 0.1, max_tokens: 12, response_format: { type: 'json_object' },
  messages: [{ role: 'system', content: categorize_system_prompt }, { role: 'user', content: row.Overview }],
});
// The guide's Example 2 line (caption an image).
const example2 = (model, i) => ({
  model, temperature: 0.2, max_tokens: 8,
  messages: [{ role: 'system', content: caption_system_prompt },
    { role: 'user', content: [{ type: 'text', text: `Chair ${i}` }, { type: 'image_url', image_url: { url: dataUrl('image/png', pngImage(32, 32, i)) } }] }],
});

async function submit(client, url, bodies) {
  const text = bodies.map((body, i) => JSON.stringify({ custom_id: `line-${i}`, method: 'POST', url, body }) + '\n').join('');
  const file = await client.files.create({ file: await toFile(Buffer.from(text), 'in.jsonl'), purpose: 'batch' });
  return client.batches.create({ input_file_id: file.id, endpoint: url, completion_window: '24h' });
}

async function completed(client, batch, n) {
  const done = await waitForBatch(client, batch.id, undefined, 180000);
  assert.equal(done.status, 'completed', JSON.stringify(done.errors));
  assert.deepEqual(done.request_counts, { total: n, completed: n, failed: 0 });
  const out = await fileLines(client, done.output_file_id);
  return { done, out: out.sort((a, b) => a.custom_id.localeCompare(b.custom_id)) };
}

// Generations that ended well on a server, as its /metrics counts them.
async function generationsDone(server) {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^openbatch_generations_total\{[^}]*outcome="ok"[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

function registry(entries) {
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-models-'));
  const path = join(dir, 'models.json');
  writeFileSync(path, JSON.stringify({ models: entries }));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

test('one server, five models: every batch runs on the model it names, all at once', async (t) => {
  const upstreams = [await startServer(), await startServer()];
  t.after(() => Promise.all(upstreams.map((u) => u.stop())));
  const file = registry([
    { id: 'qwen', aliases: ['gpt-4o-mini'], model: join(models, 'qwen2.5-tiny.gguf'), parallel: 2 },
    { id: 'llama', model: join(models, 'llama3-tiny.gguf'), parallel: 2 },
    { id: 'eyes', model: VISION_MODEL, mmproj: MMPROJ, parallel: 2 },
    { id: 'embed', model: MODEL, parallel: 2 },
    { id: 'pool', upstream: upstreams.map((u) => u.baseURL), upstream_model: 'gpt-4o-mini' },
  ]);
  t.after(file.remove);
  const server = await startServer({ model: null, modelId: null, args: ['--models', file.path] });
  t.after(() => server.stop());
  const { client } = server;

  const listed = await client.models.list();
  const status = Object.fromEntries(listed.data.map((m) => [m.id, m.status.value]));
  assert.deepEqual(status, { qwen: 'loaded', 'gpt-4o-mini': 'loaded', llama: 'loaded', eyes: 'loaded', embed: 'loaded', pool: 'loaded' });
  assert.equal((await client.models.retrieve('llama')).status.value, 'loaded');
  const health = await (await fetch(`http://127.0.0.1:${server.port}/health`)).json();
  assert.deepEqual(health.models, ['qwen', 'llama', 'eyes', 'embed', 'pool']);

  // The same prompt on each text model: their tokenizers count it differently.
  const prompt = {};
  for (const model of ['qwen', 'llama', 'pool']) {
    const r = await client.chat.completions.create(example1(model, movies[0]));
    assert.equal(r.model, model);
    prompt[model] = r.usage.prompt_tokens;
  }
  assert.notEqual(prompt.qwen, prompt.llama);
  assert.notEqual(prompt.qwen, prompt.pool);
  const alias = await client.chat.completions.create(example1('gpt-4o-mini', movies[0]));
  assert.equal(alias.usage.prompt_tokens, prompt.qwen);
  const seeing = await client.chat.completions.create(example2('eyes', 0));
  assert.equal(seeing.model, 'eyes');
  const direct = await client.embeddings.create({ model: 'embed', input: 'a red armchair' });
  const unknown = await client.chat.completions.create(example1('nope', movies[0])).catch((e) => e);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.code, 'model_not_found');
  const text = await client.chat.completions.create(example2('llama', 1)).catch((e) => e);
  assert.equal(text.code, 'image_not_supported', 'llama has no projector, eyes has');
  const beforeBatches = (await Promise.all(upstreams.map(generationsDone))).reduce((a, b) => a + b);

  const batches = await Promise.all([
    submit(client, '/v1/chat/completions', movies.map((row) => example1('qwen', row))),
    submit(client, '/v1/chat/completions', [0, 1].map((i) => example2('eyes', i))),
    submit(client, '/v1/embeddings', ['a red armchair', 'an oak table'].map((input) => ({ model: 'embed', input }))),
    submit(client, '/v1/chat/completions', movies.map((row) => example1('pool', row))),
    submit(client, '/v1/chat/completions', [example1('nope', movies[0])]),
  ]);
  const [qwen, eyes, embed, pool] = await Promise.all([
    completed(client, batches[0], 3), completed(client, batches[1], 2), completed(client, batches[2], 2),
    completed(client, batches[3], 3)]);
  assert.equal(qwen.out[0].response.body.model, 'qwen');
  assert.equal(qwen.out[0].response.body.usage.prompt_tokens, prompt.qwen);
  for (const line of eyes.out) assert.equal(line.response.body.model, 'eyes');
  assert.equal(eyes.out[0].response.body.usage.prompt_tokens, seeing.usage.prompt_tokens);
  for (const line of embed.out) {
    assert.equal(line.response.body.model, 'embed');
    assert.equal(line.response.body.data[0].embedding.length, direct.data[0].embedding.length);
  }
  assert.equal(embed.out[0].response.body.usage.prompt_tokens, direct.usage.prompt_tokens);
  assert.equal(pool.out[0].response.body.model, 'pool');
  assert.equal(pool.out[0].response.body.usage.prompt_tokens, prompt.pool);
  const afterBatches = (await Promise.all(upstreams.map(generationsDone))).reduce((a, b) => a + b);
  assert.equal(afterBatches - beforeBatches, 3, 'the pool batch ran on the upstream servers, nothing else did');

  const failed = await waitForBatch(client, batches[4].id);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.errors.data[0].code, 'model_not_found');
});

test('--models-max 1: two models take turns, each batch completes', async (t) => {
  const file = registry([
    { id: 'qwen', model: join(models, 'qwen2.5-tiny.gguf'), parallel: 2 },
    { id: 'llama', model: join(models, 'llama3-tiny.gguf'), parallel: 2 },
  ]);
  t.after(file.remove);
  const server = await startServer({ model: null, modelId: null, args: ['--models', file.path, '--models-max', '1'] });
  t.after(() => server.stop());
  const { client } = server;
  const states = async () => Object.fromEntries((await client.models.list()).data.map((m) => [m.id, m.status.value]));
  assert.deepEqual(await states(), { qwen: 'unloaded', llama: 'unloaded' });

  const batches = await Promise.all(['qwen', 'llama'].map((model) => submit(client, '/v1/chat/completions',
    movies.map((row) => example1(model, row)))));
  const seen = new Set();
  const watch = (async () => {
    for (;;) {
      const s = await states();
      if (s.qwen === 'loaded' || s.llama === 'loaded') {
        assert.notEqual(s.qwen, s.llama, 'never both loaded');
        seen.add(s.qwen === 'loaded' ? 'qwen' : 'llama');
      }
      const all = await Promise.all(batches.map((b) => client.batches.retrieve(b.id)));
      if (all.every((b) => b.status === 'completed' || b.status === 'failed')) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const [q, l] = await Promise.all(batches.map((b) => completed(client, b, movies.length)));
  await watch;
  assert.equal(q.out[0].response.body.model, 'qwen');
  assert.equal(l.out[0].response.body.model, 'llama');
  assert.notEqual(q.out[0].response.body.usage.prompt_tokens, l.out[0].response.body.usage.prompt_tokens);
  assert.deepEqual([...seen].sort(), ['llama', 'qwen'], 'each was loaded while the other was not');
  assert.match(server.log(), /unloading model '(qwen|llama)'/);
});
