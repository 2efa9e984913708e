// Enqueued-token quotas (issue 17): `serve --max-enqueued-tokens N` holds each API key's unfinished
// batches to N prompt tokens; a batch past it ends failed with token_limit_exceeded, as OpenAI's does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { startServer, waitForBatch } from './harness.mjs';
import { startStandin } from './standin_upstream.mjs';

const MESSAGE = (model, limit) => `Enqueued token limit reached for ${model}. Limit: ${limit} enqueued tokens. ` +
  'Please try again once some in_progress batches have been completed.';

// A batch of n lines, each asking about `content`.
async function createBatch(client, tag, n, content) {
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({
    custom_id: `${tag}-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content }] },
  }));
  const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), `${tag}.jsonl`), purpose: 'batch' });
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}

test('a batch past its key\'s enqueued tokens fails until the earlier one finishes; other keys are unaffected', async () => {
  // The upstream holds every answer until released: the first batch stays in progress meanwhile, on any
  // machine. An upstream has no tokenizer: a line counts a token per 4 bytes of its text, 100 here.
  const upstream = await startStandin({ delayMs: 0, held: true });
  const server = await startServer({
    model: null,
    args: ['--upstream', upstream.baseURL, '--api-key', 'sk-alice', '--api-key', 'sk-bob', '--max-enqueued-tokens', '1000'],
    apiKey: 'sk-alice',
  });
  try {
    const alice = server.client;
    const bob = new OpenAI({ baseURL: server.baseURL, apiKey: 'sk-bob', maxRetries: 0 });
    const text = 'x'.repeat(400);

    const first = await createBatch(alice, 'first', 6, text);  // 600 tokens: fits
    assert.equal((await waitForBatch(alice, first.id, ['in_progress', 'failed'])).status, 'in_progress');

    const second = await waitForBatch(alice, (await createBatch(alice, 'second', 5, text)).id);  // 600 + 500
    assert.equal(second.status, 'failed');
    assert.ok(second.failed_at);
    assert.deepEqual(second.errors, {
      object: 'list',
      data: [{ code: 'token_limit_exceeded', message: MESSAGE('gpt-4o-mini', '1,000'), param: null, line: null }],
    });
    assert.equal(second.output_file_id, null);

    // Bob's batches count against his own limit.
    const bobs = await createBatch(bob, 'bob', 6, text);
    assert.equal((await waitForBatch(bob, bobs.id, ['in_progress', 'failed'])).status, 'in_progress');

    upstream.release();
    assert.equal((await waitForBatch(alice, first.id)).status, 'completed');
    assert.equal((await waitForBatch(bob, bobs.id)).status, 'completed');

    // The first batch's tokens are free again: the same batch that failed fits now.
    const third = await waitForBatch(alice, (await createBatch(alice, 'third', 5, text)).id);
    assert.equal(third.status, 'completed');
    assert.equal(third.request_counts.completed, 5);
  } finally {
    await server.stop();
    await upstream.close();
  }
});

test('on the embedded model the prompt tokens are counted with its tokenizer', async () => {
  // The tiny model's prompt of a short question is tens of tokens: a limit of 5 refuses it, and a
  // limit far above it lets it run.
  const tight = await startServer({ args: ['--max-enqueued-tokens', '5'] });
  try {
    const b = await waitForBatch(tight.client, (await createBatch(tight.client, 'q', 1, 'Say hi.')).id);
    assert.equal(b.status, 'failed');
    assert.equal(b.errors.data[0].code, 'token_limit_exceeded');
    assert.equal(b.errors.data[0].message, MESSAGE('gpt-4o-mini', '5'));
  } finally {
    await tight.stop();
  }
  const roomy = await startServer({ args: ['--max-enqueued-tokens', '100000'] });
  try {
    const b = await waitForBatch(roomy.client, (await createBatch(roomy.client, 'q', 3, 'Say hi.')).id);
    assert.equal(b.status, 'completed');
    assert.equal(b.request_counts.completed, 3);
  } finally {
    await roomy.stop();
  }
});
