// Starts the real openbatch server binary on a loopback port for a test, and stops it afterwards.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

export const BIN = process.env.OPENBATCH_BIN;
export const MODEL = process.env.OPENBATCH_TEST_MODEL;
if (!BIN || !MODEL) throw new Error('set OPENBATCH_BIN and OPENBATCH_TEST_MODEL (scripts/test.sh does)');
// The tiny-vision pair (make-model --shape tiny-vision): a text model and its projector.
export const VISION_MODEL = process.env.OPENBATCH_TEST_VISION_MODEL;
export const MMPROJ = process.env.OPENBATCH_TEST_MMPROJ;

// Starts `openbatch serve` with extra args; resolves once it listens. The model answers to
// "gpt-4o-mini" so that the guide's code runs unchanged. With mmproj, the model takes images; with
// model null, args name the model (--hf-repo); with modelId null too, args name the models (--models).
// env adds to the server's environment.
export async function startServer({ args = [], dataDir, apiKey = 'sk-test', model = MODEL, mmproj, env, modelId = 'gpt-4o-mini' } = {}) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'openbatch-e2e-'));
  const source = model ? ['--model', model] : [];
  const vision = mmproj ? ['--mmproj', mmproj] : [];
  const named = modelId ? ['--model-id', modelId] : [];
  const proc = spawn(BIN, ['serve', ...source, ...vision, ...named, '--host', '127.0.0.1',
    '--port', '0', '--data-dir', dir, '--parallel', '8', ...args],
  { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 60000);
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}:\n${log}`)); });
  });
  const baseURL = `http://127.0.0.1:${port}/v1`;
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    proc, port, baseURL, client, dataDir: dir, log: () => log, exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const r = await exited;
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
}

// Polls a batch until its status is one of statuses (default: any final one); throws after timeoutMs.
export async function waitForBatch(client, id, statuses = ['completed', 'failed', 'expired', 'cancelled'], timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const b = await client.batches.retrieve(id);
    if (statuses.includes(b.status)) return b;
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${b.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The JSON lines of a file (an output or error file); [] for a null id.
export async function fileLines(client, fileId) {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
