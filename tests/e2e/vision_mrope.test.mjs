// The guide's Example 2 on the two M-RoPE test pairs of make-model: qwen2.5-vl-tiny (a qwen2vl text
// model with Qwen2's real tokenizer and Qwen2.5-VL's template, a qwen2.5vl_merger projector: one token
// per 28 x 28 pixels) and qwen3-vl-tiny (a qwen3vl text model with interleaved M-RoPE and DeepStack,
// Qwen3's tokenizer, the Qwen3.5 template; a qwen3vl_merger projector: one token per 32 x 32 pixels),
// both at the image's own resolution. Images come over loopback HTTP and as data URLs; prompt_tokens
// counts them; the batch reuses the shared system prompt.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './harness.mjs';
import { pngImage, jpegImage, dataUrl } from './test_images.mjs';
import { caption_system_prompt, get_caption, run_batch } from '../../examples/guide_example2.mjs';

const dir = process.env.OPENBATCH_TEST_REAL_MODELS;
// Each pair and the side, in pixels, of one image token (2x2 patches).
const pairs = [['qwen2.5-vl-tiny', 28], ['qwen3-vl-tiny', 32]];
for (const [name] of pairs) {
  if (!dir || !existsSync(join(dir, `${name}.gguf`)) || !existsSync(join(dir, `${name}-mmproj.gguf`))) {
    throw new Error(`set OPENBATCH_TEST_REAL_MODELS to a folder with ${name}.gguf and its mmproj (scripts/test.sh)`);
  }
}

for (const [name, unit] of pairs) {
  describe(name, () => {
    // Sides that are multiples of the token's side keep their size: (w / unit) * (h / unit) tokens.
    const png = (w, h, seed) => pngImage(w * unit, h * unit, seed);
    const jpeg = (w, h, seed) => jpegImage(w * unit, h * unit, seed);
    const images = {
      '/img/chair.png': ['image/png', png(4, 3, 1)],
      '/img/table.jpg': ['image/jpeg', jpeg(6, 4, 2)],
      '/img/shared.png': ['image/png', png(3, 3, 5)],
    };
    const tokensOf = { '/img/chair.png': 12, '/img/table.jpg': 24, '/img/shared.png': 9 };
    let imageServer, base, server;
    before(async () => {
      imageServer = createServer((req, res) => {
        const image = images[new URL(req.url, 'http://x').pathname];
        if (!image) { res.writeHead(404); return res.end(); }
        res.writeHead(200, { 'content-type': image[0] });
        res.end(image[1]);
      });
      await new Promise((r) => imageServer.listen(0, '127.0.0.1', r));
      base = `http://localhost:${imageServer.address().port}`;
      server = await startServer({
        model: join(dir, `${name}.gguf`), mmproj: join(dir, `${name}-mmproj.gguf`),
        args: ['--image-allow-host', 'localhost', '--parallel', '4'],
      });
    });
    after(async () => {
      await server?.stop();
      imageServer?.closeAllConnections();
      await new Promise((r) => imageServer?.close(r));
    });

    async function promptTokens(title, url) {
      const content = [{ type: 'text', text: title }];
      if (url) content.push({ type: 'image_url', image_url: { url } });
      const r = await server.client.chat.completions.create({
        model: 'gpt-4o-mini', temperature: 0.2, max_tokens: 1,
        messages: [{ role: 'system', content: caption_system_prompt }, { role: 'user', content }],
      });
      return r.usage.prompt_tokens;
    }

    test('get_caption captions PNG and JPEG images by URL and as data URLs; prompt_tokens counts each image', async () => {
      const textOnly = await promptTokens('Oak chair');
      for (const [path, n] of Object.entries(tokensOf)) {
        const caption = await get_caption(server.client, `${base}${path}`, 'Oak chair');
        assert.equal(typeof caption, 'string');
        // The image's tokens and the <|vision_start|> / <|vision_end|> around them.
        assert.equal(await promptTokens('Oak chair', `${base}${path}`), textOnly + n + 2, path);
      }
      const inline = dataUrl('image/png', png(2, 5, 9));
      assert.equal(typeof await get_caption(server.client, inline, 'Oak chair'), 'string');
      assert.equal(await promptTokens('Oak chair', inline), textOnly + 10 + 2);
      assert.equal(await promptTokens('Oak chair', dataUrl('image/jpeg', jpeg(3, 4, 3))), textOnly + 12 + 2);
    });

    test('the batch of captions completes, each result carries its image tokens, and the system prompt is reused', async () => {
      const rows = [
        { title: 'Oak dining chair with woven seat', primary_image: `${base}/img/chair.png`, n: 12 },
        { title: 'Round walnut coffee table', primary_image: `${base}/img/table.jpg`, n: 24 },
        { title: 'Inline PNG stool', primary_image: dataUrl('image/png', png(4, 4, 11)), n: 16 },
        { title: 'Inline JPEG bookshelf', primary_image: dataUrl('image/jpeg', jpeg(3, 4, 12)), n: 12 },
      ];
      for (let i = 0; i < 8; i++) rows.push({ title: `Shelf unit ${i}`, primary_image: `${base}/img/shared.png`, n: 9 });
      const out = mkdtempSync(join(tmpdir(), 'openbatch-mrope-'));
      const { batch_job, results, matched } = await run_batch(server.client, rows, { dir: out, pollMs: 200, log: () => {} });
      assert.equal(batch_job.status, 'completed');
      assert.deepEqual(batch_job.request_counts, { total: rows.length, completed: rows.length, failed: 0 });
      assert.equal(matched.length, rows.length);
      for (const m of matched) assert.equal(typeof m.caption, 'string');
      const cached = results.map((r) => r.response.body.usage.prompt_tokens_details.cached_tokens);
      const reused = cached.filter((c) => c > 0).length;
      assert.ok(reused >= rows.length - 4, `the shared system prompt is reused (cached_tokens: ${cached})`);
      for (const r of results) {
        const row = rows[Number(r.custom_id.slice('task-'.length))];
        assert.equal(r.response.body.usage.prompt_tokens, await promptTokens(row.title) + row.n + 2, row.title);
      }
    });
  });
}
