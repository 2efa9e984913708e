// WebP images and `detail` (issue 16) with the official openai package against the real server: the
// guide's Example 2 (get_caption and its batch) on WebP images served over loopback HTTP and sent as
// data URLs, on the tiny-vision pair (a fixed-resolution projector, 16 tokens an image, where `detail:
// "low"` costs the same tokens) and on the qwen2.5-vl-tiny pair (one token per 28 x 28 pixels at the
// image's own size, where "low" costs fewer); a corrupt WebP is a 400; detail goes upstream as sent.
//
// The WebP files of fixtures/ were made once with Debian's libwebp 1.2.4 from picture() below
// (WebPEncodeRGB at quality 80 and 75, WebPEncodeLosslessRGB, WebPAnimEncoder with three lossless
// frames of seeds 1, 2, 3, 200 ms each, WebPEncodeRGB at quality 60):
//   armchair.webp 120x90 seed 1, desk.webp 64x96 seed 2, stool-lossless.webp 40x40 seed 3,
//   lamp-animated.webp 48x32, poster-1024x768.webp seed 4, chair-112x84.webp seed 5 (quality 80).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toFile } from 'openai';
import { PNG } from 'pngjs';
import { startServer, waitForBatch, fileLines, VISION_MODEL, MMPROJ } from './harness.mjs';
import { dataUrl } from './test_images.mjs';
import { caption_system_prompt, get_caption, run_batch } from '../../examples/guide_example2.mjs';

if (!VISION_MODEL || !MMPROJ) throw new Error('set OPENBATCH_TEST_VISION_MODEL and OPENBATCH_TEST_MMPROJ');
const modelsDir = process.env.OPENBATCH_TEST_REAL_MODELS;
const VL_MODEL = modelsDir && join(modelsDir, 'qwen2.5-vl-tiny.gguf');
const VL_MMPROJ = modelsDir && join(modelsDir, 'qwen2.5-vl-tiny-mmproj.gguf');
if (!VL_MODEL || !existsSync(VL_MODEL) || !existsSync(VL_MMPROJ)) {
  throw new Error('set OPENBATCH_TEST_REAL_MODELS to a folder with qwen2.5-vl-tiny.gguf and its mmproj (scripts/test.sh)');
}

const fixture = (name) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

// The fixtures' pixels (RGB): gradients and a disc of the seed's colour.
function picture(w, h, seed) {
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3, dx = x - Math.trunc(w / 2), dy = y - Math.trunc(h / 2), r = Math.trunc(h / 3);
      const disc = dx * dx + dy * dy < r * r;
      rgb[i] = disc ? (seed * 70) & 255 : Math.trunc((x * 255) / w);
      rgb[i + 1] = disc ? 200 : Math.trunc((y * 255) / h);
      rgb[i + 2] = disc ? 40 : (seed * 97 + 60) & 255;
    }
  }
  return rgb;
}
function pngOf(w, h, rgb) {
  const png = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; i++) {
    rgb.copy(png.data, i * 4, i * 3, i * 3 + 3);
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png);
}
// WebP files whose headers are sound and whose image data is not, so they pass the format check and
// fail to decode: a lossy one cut short (as a broken download is), a lossless one scrambled. (A
// scrambled lossy one may well decode: VP8's arithmetic coding reads any bytes as some picture.)
function corruptWebp() {
  const bytes = fixture('armchair.webp');
  return bytes.subarray(0, Math.trunc(bytes.length * 0.6));
}
function scrambledLosslessWebp() {
  const bytes = Buffer.from(fixture('stool-lossless.webp'));
  for (let i = 30; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
  return bytes;
}

const images = {
  '/img/armchair.webp': fixture('armchair.webp'),
  '/img/desk.webp': fixture('desk.webp'),
  '/img/lamp.webp': fixture('lamp-animated.webp'),
  '/img/poster.webp': fixture('poster-1024x768.webp'),
  '/img/chair.webp': fixture('chair-112x84.webp'),
  '/img/broken.webp': corruptWebp(),
  '/img/cut.webp': fixture('desk.webp').subarray(0, 24),  // cut inside the frame header
};
let imageServer, base, server, vlServer;

before(async () => {
  imageServer = createServer((req, res) => {
    const body = images[new URL(req.url, 'http://x').pathname];
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/html' });
      return res.end('<html>Not Found</html>');
    }
    res.writeHead(200, { 'content-type': 'image/webp' });
    res.end(body);
  });
  await new Promise((r) => imageServer.listen(0, '127.0.0.1', r));
  base = `http://localhost:${imageServer.address().port}`;
  server = await startServer({ model: VISION_MODEL, mmproj: MMPROJ, args: ['--image-allow-host', 'localhost'] });
  vlServer = await startServer({ model: VL_MODEL, mmproj: VL_MMPROJ, args: ['--image-allow-host', 'localhost', '--parallel', '4'] });
});
after(async () => {
  await server?.stop();
  await vlServer?.stop();
  imageServer?.closeAllConnections();
  await new Promise((r) => imageServer?.close(r));
});

function chat(content, extra = {}, on = server) {
  return on.client.chat.completions.create({
    model: 'gpt-4o-mini', temperature: 0, max_tokens: 8, ...extra,
    messages: [{ role: 'system', content: caption_system_prompt }, { role: 'user', content }],
  });
}
const image = (url, detail) => ({ type: 'image_url', image_url: detail ? { url, detail } : { url } });

// WebP rows of the guide's furniture table: lossy and animated over HTTP, lossless and lossy inline.
function furniture() {
  return [
    { title: 'Leather armchair', primary_image: `${base}/img/armchair.webp` },
    { title: 'Pine writing desk', primary_image: `${base}/img/desk.webp` },
    { title: 'Arc floor lamp', primary_image: `${base}/img/lamp.webp` },
    { title: 'Inline lossless stool', primary_image: dataUrl('image/webp', fixture('stool-lossless.webp')) },
    { title: 'Inline lossy desk', primary_image: dataUrl('image/webp', fixture('desk.webp')) },
  ];
}

test('get_caption captions WebP images by URL and as data URLs, their tokens in prompt_tokens', async () => {
  const textOnly = (await chat([{ type: 'text', text: 'Leather armchair' }])).usage.prompt_tokens;
  for (const row of furniture()) {
    const caption = await get_caption(server.client, row.primary_image, row.title);
    assert.equal(typeof caption, 'string', row.title);
  }
  const r = await chat([{ type: 'text', text: 'Leather armchair' }, image(`${base}/img/armchair.webp`)]);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.usage.prompt_tokens, textOnly + 16, 'the image takes its 16 tokens');
});

test('a lossless WebP is read as exactly the pixels a PNG of them gives', async () => {
  // Greedy captions of the same pixels are the same, whichever format carried them.
  const png = pngOf(40, 40, picture(40, 40, 3));
  const caption = async (url) => (await chat([{ type: 'text', text: 'Stool' }, image(url)], { logprobs: true }));
  const fromWebp = await caption(dataUrl('image/webp', fixture('stool-lossless.webp')));
  const fromPng = await caption(dataUrl('image/png', png));
  assert.equal(fromWebp.choices[0].message.content, fromPng.choices[0].message.content);
  assert.deepEqual(fromWebp.choices[0].logprobs.content.map((t) => t.logprob),
    fromPng.choices[0].logprobs.content.map((t) => t.logprob));
  // And another picture is not those pixels.
  const other = await caption(dataUrl('image/png', pngOf(40, 40, picture(40, 40, 4))));
  assert.notDeepEqual(other.choices[0].logprobs.content.map((t) => t.logprob),
    fromPng.choices[0].logprobs.content.map((t) => t.logprob));
});

test('detail "low" is accepted; on a fixed-resolution projector it costs the same tokens', async () => {
  const poster = `${base}/img/poster.webp`;
  const counts = {};
  for (const detail of ['low', 'high', 'auto', undefined]) {
    const r = await chat([{ type: 'text', text: 'Poster' }, image(poster, detail)]);
    assert.equal(typeof r.choices[0].message.content, 'string');
    counts[detail ?? 'none'] = r.usage.prompt_tokens;
  }
  assert.deepEqual(new Set(Object.values(counts)).size, 1, JSON.stringify(counts));
  await assert.rejects(chat([{ type: 'text', text: 'Poster' }, image(poster, 'medium')]), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.error.code, 'invalid_value');
    assert.equal(err.error.param, 'messages[1].content[1].image_url.detail');
    return true;
  });
});

test('a corrupt or cut WebP is a 400 invalid_image naming the URL', async () => {
  const bad = [
    [`${base}/img/broken.webp`, 'could not be decoded: the webp image is truncated or corrupt'],
    [dataUrl('image/webp', scrambledLosslessWebp()), 'could not be decoded: the webp image is truncated or corrupt'],
    [`${base}/img/cut.webp`, 'The webp image is truncated or corrupt'],
  ];
  for (const [url, says] of bad) {
    await assert.rejects(get_caption(server.client, url, 'A chair'), (err) => {
      assert.equal(err.status, 400);
      assert.equal(err.error.type, 'invalid_request_error');
      assert.equal(err.error.code, 'invalid_image', err.error.message);
      assert.ok(err.error.message.includes(says), err.error.message);
      if (!url.startsWith('data:')) assert.ok(err.error.message.includes(url), err.error.message);
      return true;
    });
  }
});

test('the guide\'s batch captions WebP rows and matches each by custom_id', async () => {
  const df = furniture();
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-webp-'));
  const { batch_job, results, matched } = await run_batch(server.client, df, { dir, pollMs: 200, log: () => {} });
  assert.equal(batch_job.status, 'completed');
  assert.deepEqual(batch_job.request_counts, { total: df.length, completed: df.length, failed: 0 });
  for (const r of results) assert.equal(r.response.status_code, 200);
  assert.deepEqual(matched.map((m) => m.title).sort(), df.map((r) => r.title).sort());
  for (const m of matched) {
    assert.equal(typeof m.caption, 'string');
    assert.ok(m.usage.prompt_tokens > 16, `${m.title}: the image is in the prompt`);
  }
});

test('in a batch, detail "low" lines complete and a corrupt WebP line lands in the error file', async () => {
  const { client } = server;
  const line = (i, content) => ({ custom_id: `task-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', temperature: 0.2, max_tokens: 8, messages: [
      { role: 'system', content: caption_system_prompt }, { role: 'user', content }] } });
  const lines = [
    line(0, [{ type: 'text', text: 'Poster' }, image(`${base}/img/poster.webp`, 'low')]),
    line(1, [{ type: 'text', text: 'Stool' }, image(dataUrl('image/webp', fixture('stool-lossless.webp')), 'low')]),
    line(2, [{ type: 'text', text: 'Broken' }, image(`${base}/img/broken.webp`, 'low')]),
  ];
  const file = await client.files.create({
    file: await toFile(Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n')), 'tasks.jsonl'), purpose: 'batch' });
  const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const b = await waitForBatch(client, created.id);
  assert.equal(b.status, 'completed');
  assert.deepEqual(b.request_counts, { total: 3, completed: 2, failed: 1 });
  const out = await fileLines(client, b.output_file_id);
  assert.deepEqual(out.map((l) => l.custom_id).sort(), ['task-0', 'task-1']);
  for (const l of out) assert.ok(l.response.body.usage.prompt_tokens > 16);
  const [err] = await fileLines(client, b.error_file_id);
  assert.equal(err.custom_id, 'task-2');
  assert.equal(err.response.status_code, 400);
  assert.equal(err.response.body.error.code, 'invalid_image');
  assert.ok(err.response.body.error.message.includes(`${base}/img/broken.webp`));
});

test('with --upstream, WebP URLs and detail go to the upstream as the client sent them', async (t) => {
  const received = [];
  const upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'chatcmpl-up', object: 'chat.completion', created: 1, model: 'up-model',
        choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'A leather armchair.' } }],
        usage: { prompt_tokens: 40, completion_tokens: 4, total_tokens: 44 },
      }));
    });
  });
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => { upstream.closeAllConnections(); upstream.close(r); }));
  const front = await startServer({ model: null,
    args: ['--upstream', `http://127.0.0.1:${upstream.address().port}/v1`, '--upstream-model', 'up-model'] });
  t.after(() => front.stop());
  const inline = dataUrl('image/webp', fixture('stool-lossless.webp'));
  const r = await front.client.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 8,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Armchair' }, image(`${base}/img/armchair.webp`, 'low'),
      image(inline), image(`${base}/img/poster.webp`, 'high')] }],
  });
  assert.equal(r.choices[0].message.content, 'A leather armchair.');
  assert.equal(received.length, 1);
  assert.deepEqual(received[0].messages[0].content, [
    { type: 'text', text: 'Armchair' },
    { type: 'image_url', image_url: { url: `${base}/img/armchair.webp`, detail: 'low' } },
    { type: 'image_url', image_url: { url: inline } },
    { type: 'image_url', image_url: { url: `${base}/img/poster.webp`, detail: 'high' } },
  ]);
});

// On qwen2.5-vl-tiny an image of w x h pixels, sides multiples of 28, takes (w / 28) * (h / 28) tokens
// and <|vision_start|> / <|vision_end|> around them.
const vlTokens = async (content) => (await chat(content, {}, vlServer)).usage.prompt_tokens;

test('qwen2.5-vl-tiny: get_caption captions WebP images by URL and as data URLs; prompt_tokens counts them', async () => {
  const textOnly = await vlTokens([{ type: 'text', text: 'Oak chair' }]);
  for (const url of [`${base}/img/chair.webp`, dataUrl('image/webp', fixture('chair-112x84.webp'))]) {
    assert.equal(typeof await get_caption(vlServer.client, url, 'Oak chair'), 'string');
    assert.equal(await vlTokens([{ type: 'text', text: 'Oak chair' }, image(url)]), textOnly + 4 * 3 + 2);
  }
  const lossless = dataUrl('image/webp', fixture('stool-lossless.webp'));  // 40 x 40: at least 8 tokens
  assert.equal(typeof await get_caption(vlServer.client, lossless, 'Stool'), 'string');
  assert.ok(await vlTokens([{ type: 'text', text: 'Oak chair' }, image(lossless)]) > textOnly + 2);
});

test('qwen2.5-vl-tiny: detail "low" gives a large image the tokens of its 512-pixel copy, a small one its own', async () => {
  const text = { type: 'text', text: 'Poster' };
  const poster = `${base}/img/poster.webp`;
  const high = await vlTokens([text, image(poster, 'high')]);
  assert.equal(await vlTokens([text, image(poster, 'auto')]), high);
  assert.equal(await vlTokens([text, image(poster)]), high);
  const low = await vlTokens([text, image(poster, 'low')]);
  // The 1024 x 768 poster shrunk to 512 x 384 costs what a 512 x 384 image sent as it is costs.
  const copy = dataUrl('image/png', pngOf(512, 384, picture(512, 384, 4)));
  assert.equal(low, await vlTokens([text, image(copy, 'high')]));
  const textOnly = await vlTokens([text]);
  assert.ok(low - textOnly < (high - textOnly) / 3, `image tokens: low ${low - textOnly}, high ${high - textOnly}`);
  const chair = `${base}/img/chair.webp`;  // 112 x 84: left as it is
  assert.equal(await vlTokens([text, image(chair, 'low')]), await vlTokens([text, image(chair, 'high')]));
});

test('qwen2.5-vl-tiny: the guide\'s batch on WebP rows, detail "low" lines with fewer tokens, the system prompt reused', async () => {
  const rows = [
    { title: 'Oak chair', primary_image: `${base}/img/chair.webp` },
    { title: 'Inline oak chair', primary_image: dataUrl('image/webp', fixture('chair-112x84.webp')) },
    { title: 'Leather armchair', primary_image: `${base}/img/armchair.webp` },
    { title: 'Poster', primary_image: `${base}/img/poster.webp` },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-webp-vl-'));
  const { batch_job, results, matched } = await run_batch(vlServer.client, rows, { dir, pollMs: 200, log: () => {} });
  assert.equal(batch_job.status, 'completed');
  assert.deepEqual(batch_job.request_counts, { total: rows.length, completed: rows.length, failed: 0 });
  assert.deepEqual(matched.map((m) => m.title).sort(), rows.map((r) => r.title).sort());
  for (const r of results) {
    const row = rows[Number(r.custom_id.slice('task-'.length))];
    const expected = await vlTokens([{ type: 'text', text: row.title }, image(row.primary_image)]);
    assert.equal(r.response.body.usage.prompt_tokens, expected, row.title);
  }
  assert.ok(results.some((r) => r.response.body.usage.prompt_tokens_details.cached_tokens > 0), 'the system prompt is reused');

  // The same poster at each detail, in one batch.
  const { client } = vlServer;
  const line = (detail) => ({ custom_id: `poster-${detail}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', temperature: 0, max_tokens: 8, messages: [{ role: 'system', content: caption_system_prompt },
      { role: 'user', content: [{ type: 'text', text: 'Poster' }, image(`${base}/img/poster.webp`, detail)] }] } });
  const file = await client.files.create({
    file: await toFile(Buffer.from(['low', 'high', 'auto'].map((d) => JSON.stringify(line(d))).join('\n')), 'posters.jsonl'),
    purpose: 'batch' });
  const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const b = await waitForBatch(client, created.id);
  assert.deepEqual(b.request_counts, { total: 3, completed: 3, failed: 0 });
  const tokens = Object.fromEntries((await fileLines(client, b.output_file_id))
    .map((l) => [l.custom_id, l.response.body.usage.prompt_tokens]));
  assert.equal(tokens['poster-high'], tokens['poster-auto']);
  assert.ok(tokens['poster-low'] < tokens['poster-high'], JSON.stringify(tokens));
  assert.equal(tokens['poster-low'], await vlTokens([{ type: 'text', text: 'Poster' }, image(`${base}/img/poster.webp`, 'low')]));
});
