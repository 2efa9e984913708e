// The Completions API and the batch endpoints (issue 17) through the official openai package against the
// real server: client.completions.create synchronous (strings, token ids, n, echo, logprobs, stop) and
// streamed, a /v1/completions batch, and a /v1/moderations batch refused at create with a 400.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, waitForBatch, fileLines } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

async function upload(lines) {
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-completions-'));
  const file_name = join(dir, 'tasks.jsonl');
  writeFileSync(file_name, lines.map((l) => JSON.stringify(l) + '\n').join(''));
  return server.client.files.create({ file: createReadStream(file_name), purpose: 'batch' });
}

test('completions.create continues a prompt: a text_completion with usage', async () => {
  const r = await server.client.completions.create({ model: 'gpt-4o-mini', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.object, 'text_completion');
  assert.equal(r.model, 'gpt-4o-mini');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].index, 0);
  assert.equal(typeof r.choices[0].text, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.equal(r.choices[0].logprobs, null);
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 8);

  // No chat template: the same text as a chat message is a longer prompt.
  const chat = await server.client.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 1, messages: [{ role: 'user', content: 'Once upon a time' }],
  });
  assert.ok(r.usage.prompt_tokens < chat.usage.prompt_tokens);
});

test('strings and token arrays, n choices, seed, echo, logprobs', async () => {
  const many = await server.client.completions.create({ model: 'gpt-4o-mini', prompt: ['A', 'B'], n: 2, max_tokens: 4, seed: 1 });
  assert.deepEqual(many.choices.map((c) => c.index), [0, 1, 2, 3]);
  const tokens = await server.client.completions.create({ model: 'gpt-4o-mini', prompt: [[11, 12, 13], [14, 15]], max_tokens: 3 });
  assert.equal(tokens.choices.length, 2);
  assert.equal(tokens.usage.prompt_tokens, 5);

  const plain = await server.client.completions.create({ model: 'gpt-4o-mini', prompt: 'Say:', max_tokens: 5, temperature: 0 });
  const echoed = await server.client.completions.create({ model: 'gpt-4o-mini', prompt: 'Say:', max_tokens: 5, temperature: 0, echo: true });
  assert.equal(echoed.choices[0].text, 'Say:' + plain.choices[0].text);

  const lp = await server.client.completions.create({ model: 'gpt-4o-mini', prompt: 'Say:', max_tokens: 5, temperature: 0, logprobs: 2 });
  const l = lp.choices[0].logprobs;
  assert.equal(l.tokens.length, lp.usage.completion_tokens);
  assert.equal(l.tokens.join(''), lp.choices[0].text);
  assert.equal(l.token_logprobs.length, l.tokens.length);
  assert.ok(l.token_logprobs.every((x) => x <= 0));
  assert.ok(l.top_logprobs.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 2));
  assert.equal(l.text_offset[0], 0);

  await assert.rejects(server.client.completions.create({ model: 'gpt-4o-mini', prompt: 'x', echo: true, logprobs: 1 }),
    (e) => e.status === 400 && e.param === 'echo');
  await assert.rejects(server.client.completions.create({ model: 'gpt-4o-mini', prompt: 'x', suffix: 'y' }),
    (e) => e.status === 400 && e.param === 'suffix');
  await assert.rejects(server.client.completions.create({ model: 'gpt-4o-mini', prompt: [1, 999999] }),
    (e) => e.status === 400 && e.param === 'prompt');
});

test('a streamed completion adds up to the text, with usage last', async () => {
  const stream = await server.client.completions.create({
    model: 'gpt-4o-mini', prompt: 'Once upon a time', max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '', finish = null, usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  const whole = await server.client.completions.create({ model: 'gpt-4o-mini', prompt: 'Once upon a time', max_tokens: 10, temperature: 0 });
  assert.equal(text, whole.choices[0].text);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
});

test('a /v1/completions batch completes with a text_completion per line', async () => {
  const lines = ['The sea', 'A forest', 'Night falls'].map((prompt, i) => ({
    custom_id: `c-${i}`, method: 'POST', url: '/v1/completions', body: { model: 'gpt-4o-mini', prompt, max_tokens: 6 },
  }));
  lines.push({ custom_id: 'no-prompt', method: 'POST', url: '/v1/completions', body: { model: 'gpt-4o-mini' } });
  const f = await upload(lines);
  const b = await server.client.batches.create({ input_file_id: f.id, endpoint: '/v1/completions', completion_window: '24h' });
  // A line without a prompt fails the validation, as a chat line without messages does.
  const failed = await waitForBatch(server.client, b.id);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.errors.data[0].param, 'body.prompt');
  assert.equal(failed.errors.data[0].line, 4);

  const good = await upload(lines.slice(0, 3));
  const created = await server.client.batches.create({ input_file_id: good.id, endpoint: '/v1/completions', completion_window: '24h' });
  const done = await waitForBatch(server.client, created.id);
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.request_counts, { total: 3, completed: 3, failed: 0 });
  const results = await fileLines(server.client, done.output_file_id);
  assert.deepEqual(results.map((r) => r.custom_id).sort(), ['c-0', 'c-1', 'c-2']);
  for (const r of results) {
    assert.equal(r.response.status_code, 200);
    assert.equal(r.response.body.object, 'text_completion');
    assert.ok(r.response.body.usage.completion_tokens <= 6);
  }
});

test('a batch for an endpoint not served (/v1/moderations) is refused at create with a 400', async () => {
  const f = await upload([{ custom_id: 'm', method: 'POST', url: '/v1/moderations', body: { model: 'omni-moderation-latest', input: 'hi' } }]);
  await assert.rejects(
    server.client.batches.create({ input_file_id: f.id, endpoint: '/v1/moderations', completion_window: '24h' }),
    (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.param, 'endpoint');
      assert.equal(e.code, 'invalid_value');
      assert.match(e.message, /'\/v1\/moderations'. Supported values are: '\/v1\/chat\/completions', '\/v1\/completions', '\/v1\/embeddings', and '\/v1\/responses'\./);
      return true;
    });
});
