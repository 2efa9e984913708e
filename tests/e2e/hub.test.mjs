// Models from a hub: `serve --hf-repo` downloads the model from a Hugging Face-style hub (HF_ENDPOINT,
// here a loopback server with the hub's URL layout and its redirect to a CDN) into the models cache,
// then answers through the official openai client; later starts use the cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, MODEL, startServer } from './harness.mjs';

const requests = [];
let hub;
let env;
let modelsDir;

before(async () => {
  modelsDir = mkdtempSync(join(tmpdir(), 'openbatch-models-'));
  const size = statSync(MODEL).size;
  hub = createServer((req, res) => {
    requests.push(req.url);
    if (req.url === '/api/models/test/tiny') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'test/tiny', siblings: [{ rfilename: 'README.md' }, { rfilename: 'tiny.gguf' }] }));
    } else if (req.url === '/test/tiny/resolve/main/tiny.gguf') {
      res.writeHead(302, { location: '/cdn/test/tiny/tiny.gguf', 'x-linked-size': String(size) });
      res.end();
    } else if (req.url === '/cdn/test/tiny/tiny.gguf') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
      createReadStream(MODEL).pipe(res);
    } else {
      res.writeHead(404);
      res.end('Repository not found');
    }
  });
  await new Promise((resolve) => hub.listen(0, '127.0.0.1', resolve));
  env = { HF_ENDPOINT: `http://127.0.0.1:${hub.address().port}`, HF_TOKEN: '' };
});
after(() => {
  hub?.close();
  rmSync(modelsDir, { recursive: true, force: true });
});

// Runs the binary to its end (asynchronously: the hub answers from this process).
function runToEnd(args) {
  return new Promise((resolve) => {
    const proc = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.on('exit', (code) => resolve({ code, stderr }));
  });
}

test('serve --hf-repo downloads the model into the cache and answers a chat completion', async () => {
  const server = await startServer({
    model: null, env, args: ['--hf-repo', 'test/tiny', '--hf-file', 'tiny.gguf', '--models-dir', modelsDir],
  });
  try {
    const r = await server.client.chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'Hello' }],
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.ok(r.usage.completion_tokens > 0);
  } finally {
    await server.stop();
  }
  assert.deepEqual(requests, ['/test/tiny/resolve/main/tiny.gguf', '/cdn/test/tiny/tiny.gguf']);
  assert.ok(readFileSync(join(modelsDir, 'test', 'tiny', 'tiny.gguf')).equals(readFileSync(MODEL)));
  assert.match(server.log(), /saved .*tiny\.gguf/);
});

test('a later start (-hf, the file chosen from the listing) downloads nothing', async () => {
  requests.length = 0;
  const server = await startServer({ model: null, env, args: ['-hf', 'test/tiny', '--models-dir', modelsDir] });
  await server.stop();
  assert.deepEqual(requests, ['/api/models/test/tiny']);
  assert.match(server.log(), /taking tiny\.gguf/);
});

test('a missing repository exits 1 and says so; no model at all is a usage error', async () => {
  const missing = await runToEnd(['serve', '--hf-repo', 'test/missing', '--models-dir', modelsDir]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /--hf-repo test\/missing: cannot get .*\/api\/models\/test\/missing: the server answered HTTP 404/);
  const none = await runToEnd(['serve', '--models-dir', modelsDir]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /a model is required: --model PATH, --hf-repo/);
  const both = await runToEnd(['serve', '--model', MODEL, '--hf-repo', 'test/tiny']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /excludes/);
});
