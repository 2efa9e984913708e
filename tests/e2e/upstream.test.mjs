// openbatch in front of upstream servers (serve --upstream): the upstream here is a second openbatch
// running the tiny model, so both ends are the real binary and the client is the official openai package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toFile } from 'openai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, fileLines as lines, startServer, waitForBatch } from './harness.mjs';

const body = (i, extra = {}) => ({
  model: 'gpt-4o-mini', max_tokens: 24, seed: i,
  messages: [{ role: 'system', content: 'You sort furniture into JSON.' }, { role: 'user', content: `Item ${i}: a lamp.` }],
  ...extra,
});
const jsonl = (n, extra) => Array.from({ length: n }, (_, i) => JSON.stringify({
  custom_id: `item-${i}`, method: 'POST', url: '/v1/chat/completions', body: body(i, extra),
}) + '\n').join('');

async function runBatch(client, text) {
  const file = await client.files.create({ file: await toFile(Buffer.from(text), 'items.jsonl'), purpose: 'batch' });
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}
const upstreamArgs = (upstream) => ['--upstream', upstream.baseURL, '--upstream-api-key', 'up-key'];

test('chat completions and a batch run on the upstream, with its answers', async (t) => {
  const upstream = await startServer({ args: ['--api-key', 'up-key'] });
  t.after(() => upstream.stop());
  const front = await startServer({ model: null, args: upstreamArgs(upstream) });
  t.after(() => front.stop());
  const upstreamClient = upstream.client.withOptions({ apiKey: 'up-key' });

  const json = body(7, { response_format: { type: 'json_object' }, logprobs: true, top_logprobs: 2 });
  const direct = await upstreamClient.chat.completions.create(json);
  const forwarded = await front.client.chat.completions.create(json);
  assert.equal(forwarded.model, 'gpt-4o-mini');
  assert.equal(forwarded.choices[0].message.content, direct.choices[0].message.content);
  assert.equal(forwarded.usage.prompt_tokens, direct.usage.prompt_tokens);
  assert.deepEqual(forwarded.choices[0].logprobs.content.map((l) => l.token),
    direct.choices[0].logprobs.content.map((l) => l.token));

  // Streamed through the front as the upstream streams it: the chunks add up to the same text.
  const stream = await front.client.chat.completions.create({ ...body(7), stream: true, stream_options: { include_usage: true } });
  let streamed = ''; let chunks = 0; let usage;
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta?.content) { streamed += chunk.choices[0].delta.content; chunks++; }
    if (chunk.usage) usage = chunk.usage;
  }
  const plain = await upstreamClient.chat.completions.create(body(7));
  assert.equal(streamed, plain.choices[0].message.content);
  assert.ok(chunks > 1, 'more than one piece of text');
  assert.equal(usage.completion_tokens, plain.usage.completion_tokens);

  const bad = await front.client.chat.completions.create({ ...body(1), logit_bias: { 999999: 5 } }).catch((e) => e);
  assert.equal(bad.status, 400, 'the upstream refuses a token id it does not have; the error comes back whole');

  const n = 24;
  const batch = await runBatch(front.client, jsonl(n));
  const done = await waitForBatch(front.client, batch.id);
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.request_counts, { total: n, completed: n, failed: 0 });
  const out = await lines(front.client, done.output_file_id);
  assert.deepEqual(out.map((l) => l.custom_id).sort(), Array.from({ length: n }, (_, i) => `item-${i}`).sort());
  const one = out.find((l) => l.custom_id === 'item-3');
  const same = await upstreamClient.chat.completions.create(body(3));
  assert.equal(one.response.body.choices[0].message.content, same.choices[0].message.content);
  assert.ok(done.usage.input_tokens > 0 && done.usage.output_tokens > 0);

  // The command line's offline run takes the same upstream.
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-upstream-run-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'in.jsonl'), jsonl(4));
  const run = spawnSync(BIN, ['run', '--upstream', upstream.baseURL, '--upstream-api-key', 'up-key', join(dir, 'in.jsonl'),
    '-o', join(dir, 'out.jsonl')], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const ran = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(ran.find((l) => l.custom_id === 'item-3').response.body.choices[0].message.content,
    same.choices[0].message.content);
});

test('a batch waits out an upstream that dies and comes back, and loses nothing', async (t) => {
  let upstream = await startServer();
  const port = upstream.port;
  const front = await startServer({ model: null, args: ['--upstream', upstream.baseURL] });
  t.after(() => front.stop());
  const n = 120;
  const batch = await runBatch(front.client, jsonl(n, { max_tokens: 16 }));
  let during = await front.client.batches.retrieve(batch.id);
  while (during.request_counts.completed === 0) {
    await new Promise((r) => setTimeout(r, 50));
    during = await front.client.batches.retrieve(batch.id);
  }
  await upstream.stop('SIGKILL');
  assert.ok(during.request_counts.completed < n, 'the upstream died mid-batch');
  await new Promise((r) => setTimeout(r, 1500));
  upstream = await startServer({ args: ['--port', String(port)] });
  t.after(() => upstream.stop());
  const done = await waitForBatch(front.client, batch.id, undefined, 180000);
  assert.equal(done.status, 'completed');
  const out = await lines(front.client, done.output_file_id);
  const err = await lines(front.client, done.error_file_id);
  assert.equal(err.length, 0, JSON.stringify(err[0]));
  assert.equal(out.length, n, `done when the upstream died: ${during.request_counts.completed}`);
  assert.equal(new Set(out.map((l) => l.custom_id)).size, n);
});

test('serve --upstream with no model name will not start when the upstream cannot be asked for one', () => {
  const r = spawnSync(BIN, ['serve', '--upstream', 'http://127.0.0.1:1/v1', '--port', '0'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /GET http:\/\/127\.0\.0\.1:1\/v1\/models: /);
});
