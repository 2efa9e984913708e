// The guide's Example 2 ("Captioning Images", examples/guide_example2.mjs) word for word with the
// official openai package against the real server with the tiny-vision model and its projector
// (issue 4): PNG and JPEG images generated here, served over HTTP on loopback and sent as data URLs.
// Then every way an image can fail, synchronously and in a batch. The server fetches from public
// addresses only unless told otherwise: it is told to fetch from `localhost` (--image-allow-host), and
// the image server's other names (127.0.0.1, ::ffff:127.0.0.1...) stay refused (issue 18).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toFile } from 'openai';
import { pngImage, jpegImage, dataUrl } from './test_images.mjs';
import { startServer, BIN, VISION_MODEL, MMPROJ } from './harness.mjs';
import { caption_system_prompt, get_caption, run_batch } from '../../examples/guide_example2.mjs';

if (!VISION_MODEL || !MMPROJ) throw new Error('set OPENBATCH_TEST_VISION_MODEL and OPENBATCH_TEST_MMPROJ');


// The shop's image server: generated images, and a page for each way fetching can fail.
const images = {
  '/img/chair.png': ['image/png', pngImage(64, 48, 1)],
  '/img/table.jpg': ['image/jpeg', jpegImage(120, 90, 2)],
  '/img/lamp.png': ['image/png', pngImage(31, 77, 3)],
  '/img/sofa.jpg': ['image/jpeg', jpegImage(200, 150, 4)],
  '/img/shared.png': ['image/png', pngImage(50, 50, 5)],
  '/img/huge.png': ['image/png', pngImage(300, 300, 6)],  // noise: about 270 KB, over --image-max-mb 0.1
};
const hits = new Map();
let imageServer, base;
let releaseSlow;
const slowReleased = new Promise((r) => { releaseSlow = r; });

let server;
before(async () => {
  imageServer = createServer(async (req, res) => {
    hits.set(req.url, (hits.get(req.url) ?? 0) + 1);
    const path = new URL(req.url, 'http://x').pathname;  // a query only makes a URL new to the fetcher
    const image = images[path];
    if (image) {
      res.writeHead(200, { 'content-type': image[0] });
      return res.end(image[1]);
    }
    if (path === '/page.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end('<!doctype html><html><body>Our chairs</body></html>');
    }
    if (path === '/corrupt.png') {
      const png = Buffer.from(pngImage(40, 40, 7));
      for (let i = 40; i < png.length; i++) png[i] = (i * 31) & 0xff;
      res.writeHead(200, { 'content-type': 'image/png' });
      return res.end(png);
    }
    if (path === '/to-address') {  // the same server by its address, which the server may not reach
      res.writeHead(302, { location: `http://127.0.0.1:${imageServer.address().port}/img/chair.png` });
      return res.end();
    }
    if (path === '/slow.png') {
      await Promise.race([slowReleased, new Promise((r) => setTimeout(r, 5000))]);
      res.writeHead(200, { 'content-type': 'image/png' });
      return res.end(pngImage(8, 8, 8));
    }
    res.writeHead(404, { 'content-type': 'text/html' });
    res.end('<html>Not Found</html>');
  });
  await new Promise((r) => imageServer.listen(0, '127.0.0.1', r));
  base = `http://localhost:${imageServer.address().port}`;
  server = await startServer({
    model: VISION_MODEL, mmproj: MMPROJ,
    args: ['--image-timeout', '1', '--image-max-mb', '0.1', '--image-allow-host', 'localhost'],
  });
});
after(async () => {
  releaseSlow();
  await server?.stop();
  imageServer?.closeAllConnections();
  await new Promise((r) => imageServer?.close(r));
});

// The guide's furniture rows: titles and image URLs, PNG and JPEG, by URL and inline.
function furniture() {
  const rows = [
    { title: 'Oak dining chair with woven seat', primary_image: `${base}/img/chair.png` },
    { title: 'Round walnut coffee table', primary_image: `${base}/img/table.jpg` },
    { title: 'Brass floor lamp', primary_image: `${base}/img/lamp.png` },
    { title: 'Grey three-seat sofa', primary_image: `${base}/img/sofa.jpg` },
    { title: 'Inline PNG stool', primary_image: dataUrl('image/png', pngImage(40, 40, 11)) },
    { title: 'Inline JPEG bookshelf', primary_image: dataUrl('image/jpeg', jpegImage(48, 64, 12)) },
  ];
  for (let i = 0; i < 6; i++) rows.push({ title: `Shelf unit ${i}`, primary_image: `${base}/img/shared.png` });
  return rows;
}

// prompt_tokens of the get_caption request without its image part.
async function textOnlyPromptTokens(title) {
  const r = await server.client.chat.completions.create({
    model: 'gpt-4o-mini', temperature: 0.2, max_tokens: 1,
    messages: [{ role: 'system', content: caption_system_prompt }, { role: 'user', content: [{ type: 'text', text: title }] }],
  });
  return r.usage.prompt_tokens;
}

test('step 2: get_caption captions PNG and JPEG images, by URL and as data URLs', async () => {
  const df = furniture();
  for (const row of df.slice(0, 6)) {
    const caption = await get_caption(server.client, row.primary_image, row.title);
    assert.equal(typeof caption, 'string');
  }
  const row = df[0];
  const withImage = await server.client.chat.completions.create({
    model: 'gpt-4o-mini', temperature: 0.2, max_tokens: 300,
    messages: [{ role: 'system', content: caption_system_prompt },
      { role: 'user', content: [{ type: 'text', text: row.title }, { type: 'image_url', image_url: { url: row.primary_image, detail: 'low' } }] }],
  });
  assert.equal(withImage.choices[0].message.role, 'assistant');
  assert.ok(withImage.usage.prompt_tokens > await textOnlyPromptTokens(row.title), 'image tokens count in prompt_tokens');
});

test('steps 3-5: the batch of captions completes and every result matches its row by custom_id', async () => {
  const df = furniture();
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-vision-'));
  const { batch_job, results, matched } = await run_batch(server.client, df, { dir, pollMs: 200, log: () => {} });
  assert.equal(batch_job.status, 'completed');
  assert.deepEqual(batch_job.request_counts, { total: df.length, completed: df.length, failed: 0 });
  assert.equal(batch_job.error_file_id, null);
  assert.equal(results.length, df.length);
  for (const r of results) {
    assert.equal(r.error, null);
    assert.equal(r.response.status_code, 200);
    assert.equal(r.response.body.object, 'chat.completion');
  }
  assert.deepEqual(matched.map((m) => m.title).sort(), df.map((r) => r.title).sort());
  for (const m of matched) {
    assert.equal(typeof m.caption, 'string');
    assert.ok(m.usage.prompt_tokens > await textOnlyPromptTokens(m.title), `${m.title}: image tokens in prompt_tokens`);
  }
  assert.equal(hits.get('/img/shared.png'), 1, 'an image named by many lines is fetched once');
});

test('a slow image server holds up only the request waiting for it', async () => {
  const started = Date.now();
  let slowSettled = 0;
  const slow = get_caption(server.client, `${base}/slow.png?fresh`, 'A slow chair')
    .catch((err) => err).finally(() => { slowSettled = Date.now(); });
  await new Promise((r) => setTimeout(r, 100));
  const others = await Promise.all([
    get_caption(server.client, dataUrl('image/png', pngImage(20, 20, 31)), 'A quick stool'),
    server.client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
  ]);
  const othersDone = Date.now();
  assert.equal(typeof others[0], 'string');
  assert.equal(slowSettled, 0, 'the others finished while the slow image was still downloading');
  const err = await slow;
  assert.equal(err.status, 400);
  assert.match(err.error.message, /timed out/);
  assert.ok(othersDone - started < slowSettled - started);
});

// Each way an image can fail, the error code it gets, and what its message says. The query makes the
// URLs new to the server's cache of recent fetches, so each test fetches them afresh.
function badImages(query) {
  return [
    { url: `${base}/missing.png?${query}`, code: 'invalid_image_url', says: 'HTTP 404' },
    { url: `http://localhost:1/chair.png?${query}`, code: 'invalid_image_url', says: 'unreachable' },
    { url: `${base.replace('localhost', '127.0.0.1')}/img/chair.png?${query}`, code: 'invalid_image_url', says: 'address is not allowed' },
    { url: `${base}/slow.png?${query}`, code: 'invalid_image_url', says: 'timed out' },
    { url: `${base}/page.html?${query}`, code: 'invalid_image_format', says: 'not a decodable image' },
    { url: `${base}/corrupt.png?${query}`, code: 'invalid_image', says: 'could not be decoded' },
    { url: `${base}/img/huge.png?${query}`, code: 'image_too_large', says: 'larger than' },
    { url: 'ftp://127.0.0.1/chair.png', code: 'invalid_image_url', says: 'only http://, https:// and data: URLs' },
    { url: 'data:text/plain;base64,aGVsbG8=', code: 'invalid_image_url', says: "media type 'text/plain'", named: 'data:text/plain' },
  ];
}

test('each image failure is a 400 naming the URL and its problem', async () => {
  for (const bad of badImages('sync')) {
    await assert.rejects(get_caption(server.client, bad.url, 'A chair'), (err) => {
      assert.equal(err.status, 400, bad.url);
      assert.equal(err.error.type, 'invalid_request_error');
      assert.equal(err.error.code, bad.code, `${bad.url}: ${err.error.message}`);
      assert.ok(err.error.message.includes(bad.says), err.error.message);
      assert.ok(err.error.message.includes(bad.named ?? bad.url), `names the URL: ${err.error.message}`);
      return true;
    });
  }
});

test('image URLs that lead to the server\'s own network are refused, however they spell the address', async () => {
  const port = imageServer.address().port;
  const before = hits.get('/img/chair.png?ssrf') ?? 0;
  const refused = [
    [`http://127.0.0.1:${port}/img/chair.png?ssrf`, 'loopback'],
    [`http://[::ffff:127.0.0.1]:${port}/img/chair.png?ssrf`, 'loopback'],
    [`http://0x7f000001:${port}/img/chair.png?ssrf`, 'loopback'],
    [`http://[::1]:${port}/img/chair.png?ssrf`, 'loopback'],
    [`http://0.0.0.0:${port}/img/chair.png?ssrf`, 'unspecified'],
    ['http://169.254.169.254/latest/meta-data/iam/security-credentials/', 'link-local'],
    ['http://10.0.0.1/chair.png', 'private'],
    [`${base}/to-address?ssrf`, 'it redirects to a host whose address is not allowed'],
  ];
  for (const [url, says] of refused) {
    await assert.rejects(get_caption(server.client, url, 'A chair'), (err) => {
      assert.equal(err.status, 400, url);
      assert.equal(err.error.type, 'invalid_request_error');
      assert.equal(err.error.code, 'invalid_image_url', `${url}: ${err.error.message}`);
      assert.ok(err.error.message.includes(url), `names the URL: ${err.error.message}`);
      assert.ok(err.error.message.includes('address is not allowed'), err.error.message);
      assert.ok(err.error.message.includes(says), err.error.message);
      return true;
    });
  }
  assert.equal(hits.get('/img/chair.png?ssrf') ?? 0, before, 'no refused URL reached the image server');
  assert.equal(hits.get('/to-address?ssrf'), 1, 'the allowed host was asked, its redirect refused');
});

test('a batch goes on past images that fail: their lines land in the error file with their 400', async () => {
  const bad = badImages('batch');
  const df = [...furniture().slice(0, 3), ...bad.map((b, i) => ({ title: `Broken ${i}`, primary_image: b.url }))];
  const { client } = server;
  const lines = df.map((row, i) => ({
    custom_id: `task-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', temperature: 0.2, max_tokens: 300, messages: [
      { role: 'system', content: caption_system_prompt },
      { role: 'user', content: [{ type: 'text', text: row.title }, { type: 'image_url', image_url: { url: row.primary_image } }] }] },
  }));
  const file = await client.files.create({ file: await toFile(Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n')), 'tasks.jsonl'), purpose: 'batch' });
  let b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(b.status)) {
    await new Promise((r) => setTimeout(r, 200));
    b = await client.batches.retrieve(b.id);
  }
  assert.equal(b.status, 'completed');
  assert.deepEqual(b.request_counts, { total: df.length, completed: 3, failed: bad.length });
  const read = async (id) => (await (await client.files.content(id)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const out = await read(b.output_file_id);
  assert.deepEqual(out.map((l) => l.custom_id).sort(), ['task-0', 'task-1', 'task-2']);
  const errors = new Map((await read(b.error_file_id)).map((l) => [l.custom_id, l]));
  assert.equal(errors.size, bad.length);
  bad.forEach((expected, i) => {
    const line = errors.get(`task-${i + 3}`);
    assert.ok(line, `task-${i + 3} is in the error file`);
    assert.equal(line.response.status_code, 400);
    const error = line.response.body.error;
    assert.equal(error.code, expected.code, error.message);
    assert.ok(error.message.includes(expected.says), error.message);
    assert.ok(error.message.includes(expected.named ?? expected.url), error.message);
  });
});

test('a model served without a projector answers images with a 400 that says so, in a batch too', async (t) => {
  const textServer = await startServer();
  t.after(() => textServer.stop());
  const { client } = textServer;
  await assert.rejects(get_caption(client, `${base}/img/chair.png`, 'A chair'), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.error.code, 'image_not_supported');
    assert.match(err.error.message, /does not accept images/);
    return true;
  });
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-vision-text-'));
  const line = (i, content) => ({ custom_id: `task-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content }] } });
  const file = await client.files.create({
    file: await toFile(Buffer.from([
      line(0, 'A chair'),
      line(1, [{ type: 'text', text: 'A chair' }, { type: 'image_url', image_url: { url: `${base}/img/chair.png` } }]),
    ].map((l) => JSON.stringify(l)).join('\n')), join(dir, 'tasks.jsonl')),
    purpose: 'batch',
  });
  let b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(b.status)) {
    await new Promise((r) => setTimeout(r, 200));
    b = await client.batches.retrieve(b.id);
  }
  assert.equal(b.status, 'completed');
  assert.deepEqual(b.request_counts, { total: 2, completed: 1, failed: 1 });
  const err = (await (await client.files.content(b.error_file_id)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(err[0].custom_id, 'task-1');
  assert.equal(err[0].response.status_code, 400);
  assert.equal(err[0].response.body.error.code, 'image_not_supported');
});

// Runs the binary without blocking this process's event loop (the image server lives in it).
function cli(args) {
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('exit', (status) => resolve({ status, stderr }));
  });
}

test('the command line: prepare --image-column, then run --mmproj captions the rows with no server', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-vision-cli-'));
  const rows = [
    ['chair', `${base}/img/chair.png`],
    ['table', `${base}/img/table.jpg`],
    ['stool', dataUrl('image/png', pngImage(30, 30, 21))],
    ['gone', `${base}/missing.png`],
  ];
  const csv = join(dir, 'furniture.csv');
  writeFileSync(csv, 'title,primary_image\n' + rows.map((r) => r.map((v) => (v.includes(',') ? `"${v}"` : v)).join(',')).join('\n') + '\n');
  const tasks = join(dir, 'tasks.jsonl');
  let r = await cli(['prepare', csv, '--model', 'gpt-4o-mini', '--system', caption_system_prompt, '--user', '{title}',
    '--image-column', 'primary_image', '--temperature', '0.2', '--max-tokens', '300', '-o', tasks]);
  assert.equal(r.status, 0, r.stderr);
  const out = join(dir, 'out.jsonl');
  const errors = join(dir, 'errors.jsonl');
  r = await cli(['run', tasks, '-o', out, '--errors-output', errors, '--model', VISION_MODEL, '--mmproj', MMPROJ,
    '--parallel', '2', '--image-timeout', '2', '--image-allow-private']);
  assert.equal(r.status, 0, r.stderr);
  const read = (f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const done = read(out);
  assert.deepEqual(done.map((l) => l.custom_id).sort(), ['task-0', 'task-1', 'task-2']);
  for (const l of done) {
    assert.equal(l.response.status_code, 200);
    assert.ok(l.response.body.usage.prompt_tokens > 16, 'the image is in the prompt');
  }
  const failed = read(errors);
  assert.equal(failed.length, 1);
  assert.equal(failed[0].custom_id, 'task-3');
  assert.equal(failed[0].response.status_code, 400);
  assert.match(failed[0].response.body.error.message, /HTTP 404/);
});
