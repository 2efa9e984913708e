// Webhooks (issue 17) through the real server and the official openai package: a batch that ends posts
// OpenAI's signed event (batch.completed, batch.failed, batch.expired, batch.cancelled) to a receiver
// on loopback, verified with client.webhooks.unwrap; a receiver that answers 500 or is not there yet
// gets the event again; a server stopped with an event undelivered sends it after its restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidWebhookSignatureError, toFile } from 'openai';
import { startServer, waitForBatch } from './harness.mjs';
import { startStandin } from './standin_upstream.mjs';

const SECRET = `whsec_${Buffer.from('openbatch e2e webhook secret, 32b').toString('base64')}`;

// A webhook receiver on 127.0.0.1: answers each POST with answer() (a status), keeps every request.
async function startReceiver({ port = 0, answer = () => 200 } = {}) {
  const requests = [];
  const waiters = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const status = answer(requests.length);
      requests.push({ headers: req.headers, body, status, at: Date.now() });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : 'not now');
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const r = {
    port: server.address().port,
    requests,
    // Resolves once a request matching pred has come (pred sees the list).
    async until(pred, timeoutMs = 20000) {
      const deadline = Date.now() + timeoutMs;
      while (!pred(requests)) {
        if (Date.now() > deadline) throw new Error(`receiver: still waiting after ${requests.length} requests`);
        await new Promise((resolve) => { waiters.push(resolve); setTimeout(resolve, 200); });
      }
    },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
  r.url = `http://127.0.0.1:${r.port}/hooks/openbatch`;
  return r;
}

// A loopback port that nothing listens on (yet).
async function freePort() {
  const s = createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const webhookArgs = (url) => ['--webhook-url', url, '--webhook-allow-private'];
const line = (i) => JSON.stringify({
  custom_id: `task-${i}`, method: 'POST', url: '/v1/chat/completions',
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Item ${i}` }] },
});

async function createBatch(client, lines) {
  const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'in.jsonl'), purpose: 'batch' });
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}

const delivered = (batchId) => (reqs) => reqs.some((r) => r.status === 200 && JSON.parse(r.body).data.id === batchId);
const requestsFor = (reqs, batchId) => reqs.filter((r) => JSON.parse(r.body).data.id === batchId);

test('a completed and a failed batch each post their event, signed and shaped as OpenAI\'s', { timeout: 60000 }, async (t) => {
  const upstream = await startStandin({ delayMs: 10 });
  const receiver = await startReceiver();
  const server = await startServer({ model: null, args: ['--upstream', upstream.baseURL, ...webhookArgs(receiver.url)], env: { OPENBATCH_WEBHOOK_SECRET: SECRET } });
  t.after(async () => { await server.stop(); await receiver.close(); await upstream.close(); });
  const { client } = server;

  const b = await createBatch(client, [line(1), line(2)]);
  const done = await waitForBatch(client, b.id);
  assert.equal(done.status, 'completed');
  await receiver.until(delivered(b.id));
  const [req] = requestsFor(receiver.requests, b.id);
  assert.match(req.headers['webhook-id'], /^wh_/);
  assert.match(req.headers['webhook-signature'], /^v1,/);
  assert.equal(req.headers['content-type'], 'application/json');
  const event = await client.webhooks.unwrap(req.body, req.headers, SECRET);
  assert.deepEqual(Object.keys(event), ['id', 'object', 'type', 'created_at', 'data']);
  assert.match(event.id, /^evt_[0-9a-f]{32}$/);
  assert.equal(event.object, 'event');
  assert.equal(event.type, 'batch.completed');
  assert.equal(event.created_at, done.completed_at);
  assert.deepEqual(event.data, { id: b.id });
  // Signed with the secret: another one does not verify.
  await assert.rejects(client.webhooks.unwrap(req.body, req.headers, `whsec_${Buffer.from('another secret of 32 bytes......').toString('base64')}`),
    InvalidWebhookSignatureError);

  const bad = await createBatch(client, [line(1), JSON.stringify({ custom_id: 'x', method: 'GET', url: '/v1/chat/completions', body: {} })]);
  const failed = await waitForBatch(client, bad.id);
  assert.equal(failed.status, 'failed');
  await receiver.until(delivered(bad.id));
  const failedEvent = await client.webhooks.unwrap(requestsFor(receiver.requests, bad.id)[0].body, requestsFor(receiver.requests, bad.id)[0].headers, SECRET);
  assert.equal(failedEvent.type, 'batch.failed');
  assert.equal(failedEvent.created_at, failed.failed_at);
  assert.equal(requestsFor(receiver.requests, b.id).length, 1, 'a delivered event is sent once');
});

test('a cancelled and an expired batch post batch.cancelled and batch.expired', { timeout: 60000 }, async (t) => {
  // The upstream holds every request far longer than the test: the cancel and the window end the batches.
  const upstream = await startStandin({ delayMs: 120000 });
  const receiver = await startReceiver();
  const server = await startServer({ model: null, args: ['--upstream', upstream.baseURL, '--completion-window-seconds', '2', '--webhook-secret', SECRET, ...webhookArgs(receiver.url)] });
  t.after(async () => { await upstream.close(); await server.stop(); await receiver.close(); });
  const { client } = server;
  const expiring = await createBatch(client, [line(1)]);
  const cancelled = await createBatch(client, [line(2)]);
  await waitForBatch(client, cancelled.id, ['in_progress']);
  await client.batches.cancel(cancelled.id);
  const c = await waitForBatch(client, cancelled.id, ['cancelled'], 20000);
  const x = await waitForBatch(client, expiring.id, ['expired'], 20000);
  await receiver.until((reqs) => delivered(cancelled.id)(reqs) && delivered(expiring.id)(reqs));
  const ce = await client.webhooks.unwrap(requestsFor(receiver.requests, cancelled.id)[0].body, requestsFor(receiver.requests, cancelled.id)[0].headers, SECRET);
  assert.equal(ce.type, 'batch.cancelled');
  assert.equal(ce.created_at, c.cancelled_at);
  const xe = await client.webhooks.unwrap(requestsFor(receiver.requests, expiring.id)[0].body, requestsFor(receiver.requests, expiring.id)[0].headers, SECRET);
  assert.equal(xe.type, 'batch.expired');
  assert.equal(xe.created_at, x.expired_at);
});

test('a receiver that answers 500, or is not there yet, gets the event again', { timeout: 60000 }, async (t) => {
  const upstream = await startStandin({ delayMs: 10 });
  // First receiver: 500 to the first try, 200 after.
  const flaky = await startReceiver({ answer: (n) => (n === 0 ? 500 : 200) });
  const server = await startServer({ model: null, args: ['--upstream', upstream.baseURL, '--webhook-secret', SECRET, ...webhookArgs(flaky.url)] });
  t.after(async () => { await server.stop(); await flaky.close(); await upstream.close(); });
  const b = await createBatch(server.client, [line(1)]);
  await waitForBatch(server.client, b.id);
  await flaky.until(delivered(b.id));
  const tries = requestsFor(flaky.requests, b.id);
  assert.deepEqual(tries.map((r) => r.status), [500, 200]);
  assert.equal(tries[1].headers['webhook-id'], tries[0].headers['webhook-id'], 'the same message, tried again');
  assert.ok(tries[1].at - tries[0].at <= 5000, `retried ${tries[1].at - tries[0].at} ms after the first try`);
  for (const r of tries) await server.client.webhooks.unwrap(r.body, r.headers, SECRET);

  // Second server: its receiver's port is closed until the server has tried it once.
  const port = await freePort();
  const upstream2 = await startStandin({ delayMs: 10 });
  const server2 = await startServer({ model: null, args: ['--upstream', upstream2.baseURL, '--webhook-secret', SECRET, ...webhookArgs(`http://127.0.0.1:${port}/hooks`)] });
  t.after(async () => { await server2.stop(); await upstream2.close(); });
  const b2 = await createBatch(server2.client, [line(1)]);
  await waitForBatch(server2.client, b2.id);
  const deadline = Date.now() + 20000;
  while (!/webhook evt_\w+ \(batch\.completed of batch_\w+\) to .*next try/.test(server2.log())) {
    assert.ok(Date.now() < deadline, `no failed attempt logged:\n${server2.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const late = await startReceiver({ port });
  t.after(() => late.close());
  await late.until(delivered(b2.id));
  const event = await server2.client.webhooks.unwrap(late.requests[0].body, late.requests[0].headers, SECRET);
  assert.equal(event.data.id, b2.id);
});

test('an event still undelivered when the server stops is sent after its restart', { timeout: 60000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'openbatch-webhooks-'));
  const upstream = await startStandin({ delayMs: 10 });
  let status = 500;
  const receiver = await startReceiver({ answer: () => status });
  t.after(async () => { await receiver.close(); await upstream.close(); rmSync(dataDir, { recursive: true, force: true }); });
  const args = ['--upstream', upstream.baseURL, '--webhook-secret', SECRET, ...webhookArgs(receiver.url)];
  const first = await startServer({ model: null, dataDir, args });
  const b = await createBatch(first.client, [line(1)]);
  await waitForBatch(first.client, b.id);
  await receiver.until((reqs) => requestsFor(reqs, b.id).length >= 1);
  await first.stop();
  const triedBefore = requestsFor(receiver.requests, b.id).length;
  assert.ok(requestsFor(receiver.requests, b.id).every((r) => r.status === 500));

  status = 200;
  const second = await startServer({ model: null, dataDir, args });
  t.after(() => second.stop());
  const restartedAt = Date.now();
  await receiver.until(delivered(b.id));
  const tries = requestsFor(receiver.requests, b.id);
  assert.ok(tries.length > triedBefore);
  assert.ok(tries.at(-1).at - restartedAt < 10000, `delivered ${tries.at(-1).at - restartedAt} ms after the restart`);
  const event = await second.client.webhooks.unwrap(tries.at(-1).body, tries.at(-1).headers, SECRET);
  assert.equal(event.type, 'batch.completed');
  assert.equal(tries.at(-1).headers['webhook-id'], tries[0].headers['webhook-id']);
});

test('a webhook URL on a loopback address, or without a secret, is refused at startup', { timeout: 60000 }, async () => {
  await assert.rejects(startServer({ model: null, args: ['--upstream', 'http://127.0.0.1:9/v1', '--webhook-url', 'http://127.0.0.1:9/hook', '--webhook-secret', SECRET] }),
    /--webhook-url http:\/\/127\.0\.0\.1:9\/hook: its host's address 127\.0\.0\.1 is loopback.*--webhook-allow-private/);
  await assert.rejects(startServer({ model: null, args: ['--upstream', 'http://127.0.0.1:9/v1', '--webhook-url', 'https://hooks.example.com/x'] }),
    /--webhook-url needs a secret/);
  await assert.rejects(startServer({ model: null, args: ['--upstream', 'http://127.0.0.1:9/v1', '--webhook-url', 'https://hooks.example.com/x', '--webhook-secret', 'not-a-secret'] }),
    /--webhook-secret: Invalid webhook secret/);
});
