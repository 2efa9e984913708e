// The server's edge with the official openai client (issue 18): API keys from a file and the
// environment, the connection cap, and a SIGTERM that drains: no new work, requests in progress
// finish, the batch resumes on the next start, the process is gone within 10 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { startServer, waitForBatch, fileLines, BIN, MODEL } from './harness.mjs';

const clientFor = (server, apiKey) => new OpenAI({ baseURL: server.baseURL, apiKey, maxRetries: 0 });

test('API keys from --api-key, --api-key-file and $OPENBATCH_API_KEYS are all accepted, nothing else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'keys');
  writeFileSync(keyFile, '# the team\nsk-file-one\n\n   sk-file-two  \n#sk-commented-out\n');
  const server = await startServer({
    args: ['--api-key', 'sk-cli', '--api-key-file', keyFile], env: { OPENBATCH_API_KEYS: 'sk-env-one, sk-env-two' },
  });
  t.after(() => server.stop());
  for (const key of ['sk-cli', 'sk-file-one', 'sk-file-two', 'sk-env-one', 'sk-env-two']) {
    const list = await clientFor(server, key).models.list();
    assert.ok(list.data.some((m) => m.id === 'gpt-4o-mini'), key);
  }
  for (const key of ['sk-commented-out', '#sk-commented-out', 'sk-file-on', 'sk-file-onee', 'sk-env-one,sk-env-two']) {
    await assert.rejects(clientFor(server, key).models.list(), (e) => e.status === 401 && e.error?.code === 'invalid_api_key', key);
  }
  // A key file that cannot be read stops the start with a usage error naming it.
  const missing = join(dir, 'nope');
  const r = await new Promise((resolve) => {
    const p = spawn(BIN, ['serve', '--model', MODEL, '--port', '0', '--api-key-file', missing], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('exit', (code) => resolve({ code, stderr }));
  });
  assert.notEqual(r.code, 0);
  assert.ok(r.stderr.includes(missing), r.stderr);
});

// A raw connection that sends one request and keeps the connection open.
function rawRequest(port, path = '/health') {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
    let data = '';
    socket.on('data', (d) => {
      data += d;
      if (data.includes('\r\n\r\n') && /\}$/.test(data)) resolve({ socket, data });
    });
    socket.on('error', reject);
  });
}

test('connections past --max-connections get a 503 at once; those already open go on', async (t) => {
  const server = await startServer({ args: ['--max-connections', '2'] });
  t.after(() => server.stop());
  const a = await rawRequest(server.port);
  const b = await rawRequest(server.port);
  t.after(() => { a.socket.destroy(); b.socket.destroy(); });
  assert.match(a.data, /^HTTP\/1\.1 200/);
  assert.match(b.data, /^HTTP\/1\.1 200/);
  const started = Date.now();
  const refused = await rawRequest(server.port);
  refused.socket.destroy();
  assert.ok(Date.now() - started < 1000, 'answered at once');
  assert.match(refused.data, /^HTTP\/1\.1 503/);
  assert.match(refused.data, /Retry-After: 1/);
  const body = JSON.parse(refused.data.slice(refused.data.indexOf('\r\n\r\n') + 4));
  assert.equal(body.error.type, 'server_error');
  // The open connections are served as before.
  a.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  const again = await new Promise((resolve) => a.socket.once('data', (d) => resolve(String(d))));
  assert.match(again, /^HTTP\/1\.1 200/);
});

const task = (i) => ({
  custom_id: `task-${i}`, method: 'POST', url: '/v1/chat/completions',
  body: { model: 'gpt-4o-mini', max_tokens: 48, messages: [{ role: 'user', content: `Describe item ${i}` }] },
});

test('SIGTERM drains: no new connection, the request in progress finishes, exit within 10 s, the batch resumes', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'openbatch-drain-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const args = ['--parallel', '4', '--api-key', 'sk-test'];
  let server = await startServer({ dataDir, args });
  const { client } = server;
  const n = 400;
  const file = await client.files.create({
    file: await toFile(Buffer.from(Array.from({ length: n }, (_, i) => JSON.stringify(task(i))).join('\n')), 'tasks.jsonl'),
    purpose: 'batch',
  });
  const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  for (;;) {
    const b = await client.batches.retrieve(batch.id);
    if (b.request_counts.completed >= 8) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // An interactive call streaming when the signal comes.
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 200, ignore_eos: true, stream: true, messages: [{ role: 'user', content: 'a long story' }],
  });
  const iterator = stream[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.equal(first.done, false);
  const signalled = Date.now();
  server.proc.kill('SIGTERM');
  let finish = null;
  let chunks = 1;
  for (let c = await iterator.next(); !c.done; c = await iterator.next()) {
    chunks++;
    finish = c.value.choices[0]?.finish_reason ?? finish;
  }
  const exited = await server.exited;
  const seconds = (Date.now() - signalled) / 1000;
  assert.equal(exited.code, 0, server.log());
  assert.ok(seconds < 10, `exited after ${seconds} s`);
  t.diagnostic(`exited ${seconds} s after SIGTERM; the stream in progress sent ${chunks} chunks`);
  assert.equal(finish, 'length', `the stream in progress ran to its end (${chunks} chunks)`);
  assert.match(server.log(), /draining/);
  await assert.rejects(fetch(`${server.baseURL}/models`), 'nothing listens any more');

  const stopped = await (async () => {
    server = await startServer({ dataDir, args });
    return server.client.batches.retrieve(batch.id);
  })();
  t.after(() => server.stop());
  assert.ok(stopped.request_counts.completed > 0 && stopped.request_counts.completed < n,
    `the drain kept the finished results (${stopped.request_counts.completed})`);
  const done = await waitForBatch(server.client, batch.id, ['completed'], 180000);
  const out = await fileLines(server.client, done.output_file_id);
  const err = await fileLines(server.client, done.error_file_id);
  const ids = [...out, ...err].map((l) => l.custom_id);
  assert.equal(err.length, 0, JSON.stringify(err[0]));
  assert.equal(ids.length, n);
  assert.equal(new Set(ids).size, n);
});

test('a request longer than --shutdown-grace ends with the drain, and the process still exits in time', async () => {
  const server = await startServer({ args: ['--parallel', '2', '--api-key', 'sk-test', '--shutdown-grace', '0.5'] });
  const long = server.client.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 4000, ignore_eos: true, messages: [{ role: 'user', content: 'go on forever' }],
  }).then(() => 'answered', (e) => e);
  await new Promise((r) => setTimeout(r, 300));
  const signalled = Date.now();
  server.proc.kill('SIGTERM');
  const exited = await server.exited;
  const seconds = (Date.now() - signalled) / 1000;
  assert.ok(seconds < 3, `exited after ${seconds} s`);
  assert.equal(exited.code, 0, server.log());
  const outcome = await long;
  assert.notEqual(outcome, 'answered', 'a 4000-token answer cannot have finished in the grace');
  assert.match(server.log(), /still in progress after the grace/);
});
