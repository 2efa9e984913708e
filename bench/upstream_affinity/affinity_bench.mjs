// Prefix affinity against round-robin over two llama-server upstreams (bench/upstream_affinity/run.sh
// runs it). Each run starts two fresh llama-servers on loopback (-np 8 each, the same model, their
// prompt cache as llama-server keeps it by default) and an `openbatch serve --upstream A --upstream B`
// in front, then runs one batch: PROMPTS long system prompts x PER_PROMPT short user messages, in a
// shuffled order, each answered with MAX_TOKENS tokens (llama-server's --ignore-eos: a model of random
// weights ends most answers after a token or two, where a real one writes its JSON or its sentence;
// IGNORE_EOS=0 lets it stop). It measures the wall time from create to `completed` and the prompt tokens the
// upstreams read from their caches (the batch's usage.input_tokens_details.cached_tokens, summed from
// the answers' usage.prompt_tokens_details.cached_tokens). Runs alternate affinity and round-robin,
// RUNS of each; prints every run, then the best run of each (the fastest) and their ratios.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../tests/e2e/package.json', import.meta.url));
const { default: OpenAI, toFile } = await import(require.resolve('openai'));

const BIN = process.env.OPENBATCH_BIN;
const LLAMA_SERVER = process.env.LLAMA_SERVER;
const MODEL = process.env.MODEL;
const RUNS = Number(process.env.RUNS || 2);
const PROMPTS = Number(process.env.PROMPTS || 4);
const PER_PROMPT = Number(process.env.PER_PROMPT || 64);
const SYSTEM_WORDS = Number(process.env.SYSTEM_WORDS || 500);
const MAX_TOKENS = Number(process.env.MAX_TOKENS || 8);
const IGNORE_EOS = process.env.IGNORE_EOS !== '0';
const SLOTS = Number(process.env.SLOTS || 8);
const THREADS = Number(process.env.THREADS || 1);            // llama-server threads each
const PARALLEL = process.env.PARALLEL || '0';                 // openbatch --parallel (0: found)
const EXTRA_LLAMA_ARGS = (process.env.LLAMA_ARGS || '').split(' ').filter(Boolean);
const KEY = 'sk-bench-affinity';
if (!BIN || !LLAMA_SERVER || !MODEL) throw new Error('set OPENBATCH_BIN, LLAMA_SERVER and MODEL (run.sh does)');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A seeded generator, so every run and both routings see the same prompts in the same order.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ('film story night city river house light music paper window garden winter summer road market ' +
  'teacher doctor letter station harbour island village mountain forest question answer money friend ' +
  'family morning evening kitchen table language history science nature animal travel weather picture').split(' ');

function batchLines() {
  const random = rng(27);
  const systems = Array.from({ length: PROMPTS }, (_, p) => `You are assistant number ${p}. ` +
    Array.from({ length: SYSTEM_WORDS }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ') + '.');
  const lines = [];
  for (let p = 0; p < PROMPTS; ++p) {
    for (let i = 0; i < PER_PROMPT; ++i) {
      lines.push({
        custom_id: `p${p}-${i}`, method: 'POST', url: '/v1/chat/completions',
        body: {
          model: 'gpt-4o-mini', max_tokens: MAX_TOKENS, temperature: 0,
          messages: [{ role: 'system', content: systems[p] }, { role: 'user', content: `Item ${i}: name one ${WORDS[i % WORDS.length]}.` }],
        },
      });
    }
  }
  for (let i = lines.length - 1; i > 0; --i) {  // shuffled: the prompts interleave
    const j = Math.floor(random() * (i + 1));
    [lines[i], lines[j]] = [lines[j], lines[i]];
  }
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

function start(cmd, args, ready) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const up = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start:\n${log.slice(-2000)}`)), 120000);
    proc.stderr.on('data', (d) => {
      if (log.length < 1e6) log += d;
      const m = ready.exec(log);
      if (m) { clearTimeout(timer); resolve(m); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${cmd} exited with ${code}:\n${log.slice(-2000)}`)); });
  });
  const exited = new Promise((r) => proc.on('exit', r));
  return { proc, up, stop: async () => { if (proc.exitCode === null) proc.kill('SIGTERM'); await exited; } };
}

async function startLlamaServer() {
  const port = await freePort();
  const s = start(LLAMA_SERVER, ['-m', MODEL, '--host', '127.0.0.1', '--port', String(port), '-np', String(SLOTS),
    '-c', String(SLOTS * 2048), '-t', String(THREADS), '--metrics', ...(IGNORE_EOS ? ['--ignore-eos'] : []), ...EXTRA_LLAMA_ARGS], /listening on http/);
  await s.up;
  const url = `http://127.0.0.1:${port}`;
  for (;;) {  // listening first, then loading the model: ready once /health says so
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    await sleep(100);
  }
  return { ...s, baseURL: `${url}/v1` };
}

async function run(routing, text) {
  const upstreams = [await startLlamaServer(), await startLlamaServer()];
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-affinity-bench-'));
  const front = start(BIN, ['serve', '--model-id', 'gpt-4o-mini', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir,
    '--api-key', KEY, '--parallel', PARALLEL, '--upstream-routing', routing, ...upstreams.flatMap((u) => ['--upstream', u.baseURL])],
  /listening on http:\/\/127\.0\.0\.1:(\d+)/);
  try {
    const port = (await front.up)[1];
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: KEY, maxRetries: 0 });
    const file = await client.files.create({ file: await toFile(Buffer.from(text), 'bench.jsonl'), purpose: 'batch' });
    const started = performance.now();
    let batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
      await sleep(50);
      batch = await client.batches.retrieve(batch.id);
    }
    const seconds = (performance.now() - started) / 1000;
    if (batch.status !== 'completed' || batch.request_counts.failed > 0) {
      throw new Error(`batch ${batch.status}: ${JSON.stringify(batch.request_counts)}`);
    }
    // Each upstream's share: the prompt tokens it computed and the tokens it generated (llama-server's /metrics).
    const shares = await Promise.all(upstreams.map(async (u) => {
      const text = await (await fetch(u.baseURL.replace(/\/v1$/, '/metrics'))).text();
      const read = (name) => Number((new RegExp(`^llamacpp:${name} (\\S+)`, 'm').exec(text) ?? [])[1] ?? NaN);
      return `${read('prompt_tokens_total')} computed, ${read('tokens_predicted_total')} generated`;
    }));
    if (process.env.SHOW_UPSTREAMS) console.log(`  upstreams: ${shares.join('; ')}`);
    const prompt = batch.usage.input_tokens;
    const cached = batch.usage.input_tokens_details.cached_tokens;
    return { routing, seconds, prompt, cached, share: cached / prompt };
  } finally {
    await front.stop();
    await Promise.all(upstreams.map((u) => u.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

const text = batchLines();
console.log(`# ${PROMPTS} system prompts of ~${SYSTEM_WORDS} words x ${PER_PROMPT} requests (max_tokens ${MAX_TOKENS}${IGNORE_EOS ? ', every answer that long' : ''}), ` +
  `2 llama-servers -np ${SLOTS} -t ${THREADS} ${EXTRA_LLAMA_ARGS.join(' ')}, openbatch --parallel ${PARALLEL}; ` +
  `${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(' ')} at start`);
const results = [];
for (let i = 0; i < RUNS; ++i) {
  for (const routing of ['affinity', 'round-robin']) {
    const r = await run(routing, text);
    results.push(r);
    console.log(`${routing.padEnd(11)} run ${i + 1}: ${r.seconds.toFixed(2)} s, cached ${r.cached} of ${r.prompt} prompt tokens (${(100 * r.share).toFixed(1)}%)`);
  }
}
const best = (routing) => results.filter((r) => r.routing === routing).sort((a, b) => a.seconds - b.seconds)[0];
const a = best('affinity');
const rr = best('round-robin');
console.log('\n| routing | wall time (s) | cached prompt tokens | cached share |');
console.log('|---|---|---|---|');
for (const r of [a, rr]) console.log(`| ${r.routing} | ${r.seconds.toFixed(2)} | ${r.cached} of ${r.prompt} | ${(100 * r.share).toFixed(1)}% |`);
console.log(`\naffinity / round-robin: cached share x${(a.share / rr.share).toFixed(2)}, speed x${(rr.seconds / a.seconds).toFixed(2)} ` +
  `(load ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end)`);
