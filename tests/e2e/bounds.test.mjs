// Hostile clients against the real server (issue 23): each attack is sent as an attacker would send it,
// and each test asserts that the attacker gets a clean 4xx or a closed connection, that the server's
// peak RSS stays within the bound the README states for it, and that a normal client (from another
// loopback address, as another user would be) is answered within 2 s all the while.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync, deflateSync } from 'node:zlib';
import OpenAI from 'openai';
import { startServer, waitForBatch, VISION_MODEL, MMPROJ } from './harness.mjs';
import { startStandin } from './standin_upstream.mjs';
import { dataUrl } from './test_images.mjs';

const MB = 1 << 20;

// The peak RSS of a process since the last reset, in MB; reset() starts a new peak from what it holds now.
const peakMB = (pid) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const rssMB = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const resetPeak = (pid) => writeFileSync(`/proc/${pid}/clear_refs`, '5');

// Runs attack() while a normal client asks GET /health from 127.0.0.2 every 100 ms; returns the
// slowest answer and the peak RSS above what the server held before, in MB.
async function underAttack(server, attack) {
  const pid = server.proc.pid;
  resetPeak(pid);
  const before = rssMB(pid);
  let slowest = 0; let failures = 0; let running = true;
  const probe = (async () => {
    while (running) {
      const began = Date.now();
      const status = await new Promise((resolve) => {
        const req = httpRequest({ host: '127.0.0.1', port: server.port, path: '/health', localAddress: '127.0.0.2', agent: false, timeout: 5000 },
          (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve(0));
        req.end();
      });
      slowest = Math.max(slowest, Date.now() - began);
      if (status !== 200) failures++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const result = await attack();
    return { result, slowest, failures, peak: peakMB(pid) - before };
  } finally {
    running = false;
    await probe;
  }
}

// Sends raw bytes on a new connection (head first, then each piece of body as the socket takes it,
// until an answer comes) and resolves with what came back once the server closes or timeoutMs passes.
function rawExchange(port, head, body = [], { timeoutMs = 15000, localAddress } = {}) {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let answer = ''; let sent = 0; let closed = false;
    const done = () => { if (!closed) { closed = true; socket.destroy(); resolve({ answer, sent }); } };
    socket.on('data', (d) => { answer += d; });
    socket.on('error', done);
    socket.on('close', done);
    setTimeout(done, timeoutMs);
    socket.on('connect', async () => {
      socket.write(head);
      for (const piece of body) {
        if (closed || socket.destroyed || answer) break;
        const chunk = typeof piece === 'function' ? piece() : piece;
        sent += chunk.length;
        if (!socket.write(chunk)) await new Promise((r) => { socket.once('drain', r); socket.once('close', r); });
      }
    });
  });
}
const statusOf = (answer) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

// A JSON value nested `depth` levels deep: [[[...]]].
const deep = (depth) => '['.repeat(depth) + ']'.repeat(depth);

test('JSON nested 150,000 levels deep is a 400 on every JSON route and in a batch input line; the server stays up', async (t) => {
  const server = await startServer({ args: ['--max-request-mb', '4'] });
  t.after(() => server.stop());
  const nest = deep(150000);
  const bodies = {
    '/v1/chat/completions': `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"metadata":${nest}}`,
    '/v1/responses': `{"model":"gpt-4o-mini","input":"hi","metadata":{"a":${nest}}}`,
    '/v1/completions': `{"model":"gpt-4o-mini","prompt":${nest}}`,
    '/v1/embeddings': `{"model":"gpt-4o-mini","input":${nest}}`,
    '/v1/batches': `{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"24h","metadata":${nest}}`,
  };
  const { result, slowest, failures, peak } = await underAttack(server, async () => {
    const answers = {};
    for (const [path, body] of Object.entries(bodies)) {
      answers[path] = await rawExchange(server.port,
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, [body]);
    }
    return answers;
  });
  for (const [path, { answer }] of Object.entries(result)) {
    assert.equal(statusOf(answer), 400, `${path}: ${answer.slice(0, 300)}`);
    assert.match(answer, /json_too_deep/, path);
  }
  // The same nesting in a batch input line is refused at upload, naming the line.
  const line = JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [] } });
  const file = new File([`${line}\n{"custom_id":"b","body":${nest}}\n`], 'deep.jsonl');
  await assert.rejects(server.client.files.create({ file, purpose: 'batch' }),
    (e) => e.status === 400 && /line 2 nests/.test(e.error?.message), 'the deep line');
  assert.equal(server.proc.exitCode, null, 'the server is up');
  t.diagnostic(`peak RSS +${peak.toFixed(0)} MB, slowest normal answer ${slowest} ms`);
  assert.equal(failures, 0);
  assert.ok(slowest < 2000, `a normal client waited ${slowest} ms`);
  assert.ok(peak < 200, `peak RSS grew by ${peak.toFixed(0)} MB (bound: 200)`);
});

test('compressed, endless chunked and unlengthed bodies are cut where they arrive', async (t) => {
  const server = await startServer({ args: ['--max-request-mb', '8'] });
  t.after(() => server.stop());
  const chat = 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n';
  // A gzip bomb (200 MB of JSON in about 200 KB) and a deflate one, made before the clock starts.
  const json = Buffer.from(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"${'x'.repeat(200 * MB)}"}]}`);
  const bombs = [['gzip', gzipSync(json)], ['deflate', deflateSync(json)]];
  const { result, slowest, failures, peak } = await underAttack(server, async () => {
    const out = {};
    // The bombs: refused, never inflated.
    for (const [coding, bomb] of bombs) {
      out[coding] = await rawExchange(server.port, `${chat}Content-Encoding: ${coding}\r\nContent-Length: ${bomb.length}\r\n\r\n`, [bomb]);
    }
    // A chunked body that never ends: 1 MB chunks, up to 64 MB.
    const chunk = Buffer.concat([Buffer.from(`${(MB).toString(16)}\r\n`), Buffer.alloc(MB, 0x78), Buffer.from('\r\n')]);
    out.chunked = await rawExchange(server.port, `${chat}Transfer-Encoding: chunked\r\n\r\n`, Array(64).fill(chunk));
    // A declared length past the limit: refused before the body.
    out.declared = await rawExchange(server.port, `${chat}Content-Length: ${1 << 30}\r\n\r\n`, Array(64).fill(Buffer.alloc(MB)));
    // No length at all, then 64 MB: no body, so the rest is not a request.
    out.unlengthed = await rawExchange(server.port, `${chat}\r\n`, Array(64).fill(Buffer.alloc(MB, 0x78)));
    // Content-Length parsed strictly.
    out.exponent = await rawExchange(server.port, `${chat}Content-Length: 1e9\r\n\r\n`, ['{}']);
    out.list = await rawExchange(server.port, `${chat}Content-Length: 2, 2\r\n\r\n`, ['{}']);
    return out;
  });
  assert.equal(statusOf(result.gzip.answer), 415, result.gzip.answer);
  assert.equal(statusOf(result.deflate.answer), 415, result.deflate.answer);
  assert.equal(statusOf(result.chunked.answer), 413, result.chunked.answer.slice(0, 300));
  assert.ok(result.chunked.sent < 40 * MB, `the server read ${result.chunked.sent} bytes of an endless body`);
  assert.equal(statusOf(result.declared.answer), 413, result.declared.answer.slice(0, 300));
  assert.ok(result.declared.sent < 40 * MB, `the server read ${result.declared.sent} bytes past a refused length`);
  assert.ok([400, 0].includes(statusOf(result.unlengthed.answer)), result.unlengthed.answer.slice(0, 300));
  assert.ok(result.unlengthed.sent < 40 * MB, `the server read ${result.unlengthed.sent} bytes of an unlengthed body`);
  assert.equal(statusOf(result.exponent.answer), 400);
  assert.equal(statusOf(result.list.answer), 400);
  t.diagnostic(`peak RSS +${peak.toFixed(0)} MB, slowest normal answer ${slowest} ms`);
  assert.equal(failures, 0);
  assert.ok(slowest < 2000, `a normal client waited ${slowest} ms`);
  assert.ok(peak < 100, `peak RSS grew by ${peak.toFixed(0)} MB (bound: 100)`);
  // The SDK still posts as ever.
  const r = await server.client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  assert.equal(r.object, 'chat.completion');
});

test('an upload whose one line passes 16 MB is refused naming the line, and is never held whole', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const boundary = 'openbatchboundary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${boundary}\r\n` +
    `Content-Disposition: form-data; name="file"; filename="long.jsonl"\r\nContent-Type: application/octet-stream\r\n\r\n{"custom_id":"a","x":"`;
  const tail = `"}\r\n--${boundary}--\r\n`;
  const pieces = [Buffer.from(head), ...Array(96).fill(Buffer.alloc(MB, 0x78)), Buffer.from(tail)];
  const length = pieces.reduce((n, p) => n + p.length, 0);
  const { result, slowest, failures, peak } = await underAttack(server, () => rawExchange(server.port,
    `POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${length}\r\n\r\n`,
    pieces, { timeoutMs: 60000 }));
  assert.equal(statusOf(result.answer), 400, result.answer.slice(0, 400));
  assert.match(result.answer, /line 1 is longer than 16777216 bytes/);
  t.diagnostic(`peak RSS +${peak.toFixed(0)} MB, slowest normal answer ${slowest} ms`);
  assert.equal(failures, 0);
  assert.ok(slowest < 2000, `a normal client waited ${slowest} ms`);
  assert.ok(peak < 150, `peak RSS grew by ${peak.toFixed(0)} MB for a 96 MB line (bound: 150)`);
});

test('slow unauthenticated sockets are answered 401 and closed; they cannot fill the connections', async (t) => {
  const server = await startServer({ args: ['--api-key', 'sk-real', '--max-connections', '40'] });
  t.after(() => server.stop());
  const { result, slowest, failures } = await underAttack(server, async () => {
    // 60 sockets from 127.0.0.1, each declaring a 1 MB upload and dripping a byte every 500 ms.
    const drip = () => new Promise((r) => setTimeout(() => r(), 500)).then(() => 'x');
    const sockets = Array.from({ length: 60 }, () => new Promise((resolve) => {
      const socket = connect({ port: server.port, host: '127.0.0.1' });
      let answer = ''; const began = Date.now();
      socket.on('data', (d) => { answer += d; });
      socket.on('error', () => {});
      socket.on('close', () => resolve({ answer, ms: Date.now() - began }));
      socket.on('connect', async () => {
        socket.write(`POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: ${MB}\r\n\r\n`);
        for (let i = 0; i < 20 && !socket.destroyed; i++) socket.write(await drip());
        socket.destroy();
      });
    }));
    return Promise.all(sockets);
  });
  for (const { answer, ms } of result) {
    assert.ok([401, 503].includes(statusOf(answer)), answer.slice(0, 200));
    assert.ok(ms < 4000, `a slow socket was kept ${ms} ms`);
  }
  assert.ok(result.some(({ answer }) => statusOf(answer) === 401));
  t.diagnostic(`slowest normal answer ${slowest} ms; slow sockets held at most ${Math.max(...result.map((r) => r.ms))} ms`);
  assert.equal(failures, 0, 'the normal client was refused');
  assert.ok(slowest < 2000, `a normal client waited ${slowest} ms`);
});

test('a server without keys answers only its own Host and refuses other origins and form bodies', async (t) => {
  const server = await startServer({ args: ['--allowed-host', 'batch.internal'] });
  t.after(() => server.stop());
  const ask = (method, path, headers, body = '') => rawExchange(server.port,
    `${method} ${path} HTTP/1.1\r\n${headers}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, [], { timeoutMs: 5000 });
  const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
  const rebound = await ask('GET', '/v1/files', 'Host: attacker.example\r\n');
  assert.equal(statusOf(rebound.answer), 403, rebound.answer);
  assert.match(rebound.answer, /host_not_allowed/);
  for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, 'batch.internal', `[::1]:${server.port}`]) {
    assert.equal(statusOf((await ask('GET', '/v1/files', `Host: ${host}\r\n`)).answer), 200, host);
  }
  const foreign = await ask('POST', '/v1/chat/completions', `Host: 127.0.0.1:${server.port}\r\nOrigin: http://attacker.example\r\nContent-Type: application/json\r\n`, chat);
  assert.equal(statusOf(foreign.answer), 403, foreign.answer);
  assert.match(foreign.answer, /cross_origin_request/);
  const form = await ask('POST', '/v1/chat/completions', `Host: 127.0.0.1:${server.port}\r\nContent-Type: text/plain\r\n`, chat);
  assert.equal(statusOf(form.answer), 415, form.answer);
  const upload = await ask('POST', '/v1/files', `Host: 127.0.0.1:${server.port}\r\nOrigin: null\r\nContent-Type: multipart/form-data; boundary=b\r\n`, '--b--\r\n');
  assert.equal(statusOf(upload.answer), 403, upload.answer);
  const same = await ask('POST', '/v1/chat/completions', `Host: 127.0.0.1:${server.port}\r\nOrigin: http://127.0.0.1:${server.port}\r\nContent-Type: application/json\r\n`, chat);
  assert.equal(statusOf(same.answer), 200, same.answer);
});

test('a client that hangs up on a non-streamed request stops its generation within a step', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const metric = async (name) => {
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith(name)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  };
  const cancelledBefore = await metric('openbatch_generations_total{priority="interactive",outcome="cancelled"}');
  const controllers = Array.from({ length: 6 }, () => new AbortController());
  const calls = controllers.map((c) => server.client.chat.completions.create(
    { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'write' }], max_tokens: 4000, ignore_eos: true },
    { signal: c.signal }).catch((e) => e));
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(await metric('openbatch_generations_in_flight') > 0, 'the generations started');
  controllers.forEach((c) => c.abort());
  await Promise.all(calls);
  const began = Date.now();
  while (await metric('openbatch_generations_in_flight') > 0 && Date.now() - began < 3000) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await metric('openbatch_generations_in_flight'), 0, 'generations run on after their clients left');
  assert.equal(await metric('openbatch_generations_total{priority="interactive",outcome="cancelled"}') - cancelledBefore, 6);
});

test('an /output page is bounded by bytes as well as lines', async (t) => {
  // Forty answers of about 1 MB each are stored, the rest held: the batch stays in progress.
  const standin = await startStandin({ delayMs: 1, holdAfter: 40, answerBytes: MB });
  t.after(() => standin.close());
  const server = await startServer({ model: null, args: ['--upstream', standin.baseURL] });
  t.after(() => server.stop());
  const lines = Array.from({ length: 48 }, (_, i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `q${i}` }] } })).join('\n');
  const file = await server.client.files.create({ file: new File([lines], 'in.jsonl'), purpose: 'batch' });
  const batch = await server.client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const began = Date.now();
  while ((await server.client.batches.retrieve(batch.id)).request_counts.completed < 40 && Date.now() - began < 60000) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const { result, peak } = await underAttack(server, async () => {
    const pages = []; let cursor = 0;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://127.0.0.1:${server.port}/v1/batches/${batch.id}/output?after=${cursor}`);
      const body = await res.text();
      if (!body) break;
      pages.push(body.length);
      cursor = Number(res.headers.get('openbatch-cursor'));
    }
    return pages;
  });
  standin.release();
  t.diagnostic(`${result.length} pages, largest ${Math.max(...result)} bytes, peak RSS +${peak.toFixed(0)} MB`);
  assert.ok(result.length >= 5, `40 MB came in ${result.length} pages`);
  for (const bytes of result) assert.ok(bytes <= 9 * MB + 4096, `a page of ${bytes} bytes`);
  assert.ok(result.reduce((a, b) => a + b, 0) > 40 * MB, 'every stored line was paged through');
  assert.ok(peak < 150, `peak RSS grew by ${peak.toFixed(0)} MB paging 40 MB (bound: 150)`);
  await waitForBatch(server.client, batch.id);
});

test('image bombs: one image past 33 Mpx, or a request past 100 Mpx in all, is refused before decoding', { skip: !VISION_MODEL || !MMPROJ }, async (t) => {
  const server = await startServer({ model: VISION_MODEL, mmproj: MMPROJ });
  t.after(() => server.stop());
  // A PNG of w x h black pixels: tiny on the wire, three bytes a pixel decoded.
  const png = (w, h) => {
    const crcTable = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
    const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
    const chunk = (type, data) => {
      const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
      const td = Buffer.concat([Buffer.from(type), data]);
      const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
      return Buffer.concat([len, td, c]);
    };
    const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
    const raw = Buffer.alloc((w * 3 + 1) * h);
    return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
  };
  const ask = (urls) => server.client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 1,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'what is it?' }, ...urls.map((url) => ({ type: 'image_url', image_url: { url } }))] }] });
  const bomb = dataUrl('image/png', png(8192, 8192));
  const big = dataUrl('image/png', png(5000, 5000));
  const { result, slowest, failures, peak } = await underAttack(server, async () => ({
    one: await ask([bomb]).catch((e) => e),
    many: await ask(Array(24).fill(big)).catch((e) => e),
    count: await ask(Array(65).fill(dataUrl('image/png', png(4, 4)))).catch((e) => e),
  }));
  for (const [name, e] of Object.entries(result)) {
    assert.equal(e.status, 400, `${name}: ${e.message}`);
    assert.equal(e.error?.code, 'image_too_large', name);
  }
  assert.match(result.one.message, /33177600 pixels/);
  assert.match(result.many.message, /100000000/);
  t.diagnostic(`peak RSS +${peak.toFixed(0)} MB, slowest normal answer ${slowest} ms`);
  assert.equal(failures, 0);
  assert.ok(slowest < 2000, `a normal client waited ${slowest} ms`);
  assert.ok(peak < 300, `peak RSS grew by ${peak.toFixed(0)} MB (bound: 300)`);
  // An image within the budget is still described.
  const fine = await ask([dataUrl('image/png', png(64, 64))]);
  assert.equal(fine.object, 'chat.completion');
});
