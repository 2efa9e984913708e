// `openbatch retry` (issue 17): a batch cancelled part way, with a line that fails, is run again as a
// new batch of exactly the lines without a successful answer, bodies byte for byte, and between the two
// batches every custom_id gets its answer once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { toFile } from 'openai';
import { startServer, waitForBatch, fileLines, BIN } from './harness.mjs';

function cli(args, env) {
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

let server; let env;
before(async () => {
  server = await startServer({ args: ['--parallel', '2'] });
  env = { OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: 'sk-test' };
});
after(() => server?.stop());

// Line 0 always fails (max_tokens -1); the others generate 48 tokens each, slowly enough to cancel.
const lines = Array.from({ length: 60 }, (_, i) => JSON.stringify({
  custom_id: `row-${i}`, method: 'POST', url: '/v1/chat/completions',
  body: { model: 'gpt-4o-mini', max_tokens: i === 0 ? -1 : 48, ignore_eos: true, messages: [{ role: 'user', content: `Row ${i}:  keep   spacing` }] },
}));

test('retry runs again only the failed and cancelled lines, and every custom_id is answered once', async () => {
  const { client } = server;
  const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'rows.jsonl'), purpose: 'batch' });
  const first = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'rows' } });

  const early = await cli(['retry', first.id], env);
  assert.equal(early.code, 2, early.stderr);
  assert.match(early.stderr, /retry it once it has ended/);

  for (;;) {
    const b = await client.batches.retrieve(first.id);
    if (b.request_counts.completed >= 6) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await client.batches.cancel(first.id);
  const cancelled = await waitForBatch(client, first.id, ['cancelled']);
  const done = (await fileLines(client, cancelled.output_file_id)).filter((l) => l.response?.status_code === 200);
  assert.ok(done.length >= 6 && done.length < 59, `${done.length} lines done before the cancel`);

  const r = await cli(['retry', first.id, '--wait', '--poll', '0.2'], env);
  assert.equal(r.code, 0, r.stderr);
  const retryId = r.stdout.trim();
  assert.match(retryId, /^batch_/);
  const second = await client.batches.retrieve(retryId);
  assert.equal(second.status, 'completed');
  assert.deepEqual(second.metadata, { job: 'rows', retry_of: first.id });
  assert.equal(second.endpoint, '/v1/chat/completions');
  // Its input: the lines without an answer, as first sent.
  const doneIds = new Set(done.map((l) => l.custom_id));
  const expected = lines.filter((l) => !doneIds.has(JSON.parse(l).custom_id));
  const input = (await (await client.files.content(second.input_file_id)).text()).split('\n').filter(Boolean);
  assert.deepEqual(input, expected);
  assert.deepEqual(second.request_counts, { total: expected.length, completed: expected.length - 1, failed: 1 });

  const answered = [...done, ...(await fileLines(client, second.output_file_id))].map((l) => l.custom_id);
  assert.equal(answered.length, new Set(answered).size, 'no custom_id answered twice');
  assert.deepEqual(answered.sort(), lines.slice(1).map((l) => JSON.parse(l).custom_id).sort());
  const errors = await fileLines(client, second.error_file_id);
  assert.deepEqual(errors.map((l) => l.custom_id), ['row-0']);

  // Only the failing line is left; a batch where every line succeeded has nothing to retry.
  const again = await cli(['retry', retryId], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /1 of \d+ lines/);

  const good = await client.files.create({ file: await toFile(Buffer.from(lines.slice(1, 3).join('\n')), 'good.jsonl'), purpose: 'batch' });
  const ok = await waitForBatch(client, (await client.batches.create({ input_file_id: good.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id, ['completed']);
  const before = (await client.batches.list()).data.length;
  const nothing = await cli(['retry', ok.id], env);
  assert.equal(nothing.code, 0, nothing.stderr);
  assert.equal(nothing.stdout, '');
  assert.match(nothing.stderr, /nothing to run again/);
  assert.equal((await client.batches.list()).data.length, before, 'no batch created');
});
