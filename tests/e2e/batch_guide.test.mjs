// The guide's Example 1, steps 3 to 7, word for word in JavaScript (examples/guide_example1.mjs)
// with the official openai package against the real server (issue 3).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './harness.mjs';
import { readCsv, run_batch, get_categories } from '../../examples/guide_example1.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const df = readCsv(join(here, '../../examples/data/movies.csv')).slice(0, 40);

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('step 2: get_categories answers JSON', async () => {
  JSON.parse(await get_categories(server.client, df[0].Overview));
});

test('steps 3-7: the batch completes and every result matches its input by custom_id', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-guide-'));
  const { batch_job, batch_file, results, matched } = await run_batch(server.client, df, { dir, pollMs: 200, log: () => {} });
  assert.match(batch_file.id, /^file-/);
  assert.equal(batch_file.purpose, 'batch');
  assert.equal(batch_file.object, 'file');
  assert.match(batch_job.id, /^batch_/);
  assert.equal(batch_job.status, 'completed');
  assert.equal(batch_job.endpoint, '/v1/chat/completions');
  assert.equal(batch_job.completion_window, '24h');
  assert.deepEqual(batch_job.request_counts, { total: df.length, completed: df.length, failed: 0 });
  for (const field of ['created_at', 'in_progress_at', 'finalizing_at', 'completed_at', 'expires_at']) {
    assert.equal(typeof batch_job[field], 'number', field);
  }
  assert.ok(batch_job.usage.input_tokens > 0 && batch_job.usage.output_tokens > 0);
  assert.ok(batch_job.usage.input_tokens_details.cached_tokens > 0, 'the shared system prompt is reused');
  assert.equal(batch_job.error_file_id, null);

  assert.equal(results.length, df.length);
  const ids = results.map((r) => r.custom_id);
  assert.equal(new Set(ids).size, df.length);
  for (const r of results) {
    assert.match(r.id, /^batch_req_/);
    assert.equal(r.error, null);
    assert.equal(r.response.status_code, 200);
    assert.equal(r.response.body.object, 'chat.completion');
  }
  for (const m of matched) JSON.parse(m.result);
  assert.deepEqual(matched.map((m) => m.title).sort(), df.map((r) => r.Series_Title).sort());

  const out = await server.client.files.retrieve(batch_job.output_file_id);
  assert.equal(out.purpose, 'batch_output');
});
