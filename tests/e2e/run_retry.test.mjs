// `openbatch run` drives the server's batch loop: a request an upstream turns away (503 after every
// retry) runs again later instead of becoming an error line, as it does in a served batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from './harness.mjs';
import { COMPLETION_TOKENS, startStandin } from './standin_upstream.mjs';

test('run: a request the upstream answers 503 is run again, never written as an error line', async (t) => {
  const upstream = await startStandin({ delayMs: 5, busyFirst: true });
  t.after(() => upstream.close());
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-run-retry-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const n = 6;
  writeFileSync(join(dir, 'in.jsonl'), Array.from({ length: n }, (_, i) => JSON.stringify({
    custom_id: `r-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }] },
  }) + '\n').join(''));
  // Not spawnSync: the stand-in answers from this process's event loop.
  const r = await new Promise((resolve) => {
    const p = spawn(BIN, ['run', '--upstream', upstream.baseURL, '--model-id', 'gpt-4o-mini', '--upstream-retries', '1',
      join(dir, 'in.jsonl'), '-o', join(dir, 'out.jsonl'), '--errors-output', join(dir, 'err.jsonl')],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 60000);
    p.on('exit', (status) => { clearTimeout(timer); resolve({ status, stderr }); });
  });
  assert.equal(r.status, 0, r.stderr);
  const out = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(out.map((l) => l.custom_id).sort(), Array.from({ length: n }, (_, i) => `r-${i}`).sort());
  for (const l of out) {
    assert.equal(l.response.status_code, 200);
    assert.equal(l.response.body.usage.completion_tokens, COMPLETION_TOKENS);
  }
  const errors = existsSync(join(dir, 'err.jsonl')) ? readFileSync(join(dir, 'err.jsonl'), 'utf8') : '';
  assert.equal(errors, '', 'no error lines');
  assert.equal(upstream.calls(), 2 * n, 'each request was turned away once and then answered');
});
