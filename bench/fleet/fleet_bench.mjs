// The fleet benchmark (scripts/bench-fleet.sh runs it): one PostgreSQL, 1, 2 and 4 `openbatch serve`
// nodes whose upstream is a loopback stand-in answering every request after a fixed delay. A batch of
// REQUESTS requests is uploaded and created through node 1; the time from create to `completed` gives
// requests a second. Then GET /v1/batches/{id} with wrk, on a node with SQLite and on one with
// PostgreSQL. Prints a Markdown table.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { startPostgres } from '../../tests/e2e/postgres.mjs';
import { startStandin } from '../../tests/e2e/standin_upstream.mjs';

const require = createRequire(new URL('../../tests/e2e/package.json', import.meta.url));
const { default: OpenAI, toFile } = await import(require.resolve('openai'));

const BIN = process.env.OPENBATCH_BIN;
const REQUESTS = Number(process.env.REQUESTS || 2000);
const DELAY_MS = Number(process.env.DELAY_MS || 200);
const PARALLEL = Number(process.env.PARALLEL || 8);
const NODES = (process.env.NODES || '1,2,4').split(',').map(Number);
const WRK_SECONDS = Number(process.env.WRK_SECONDS || 10);
const KEY = 'sk-bench-fleet';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startNode(args) {
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-fleet-bench-'));
  const proc = spawn(BIN, ['serve', '--model-id', 'gpt-4o-mini', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir,
    '--api-key', KEY, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let listening = false;
  const port = await new Promise((resolve, reject) => {
    // Once it listens, the log (a line a request) is only drained, never searched.
    proc.stderr.on('data', (d) => {
      if (process.env.BENCH_LOG) {
        for (const line of String(d).split('\n')) if (/batch |error|cannot/.test(line)) process.stderr.write(`[${proc.pid}] ${line}\n`);
      }
      if (listening) return;
      log += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) { listening = true; resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => reject(new Error(`node exited with ${code}:\n${log}`)));
  });
  const exited = new Promise((r) => proc.on('exit', r));
  return {
    port,
    client: new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: KEY, maxRetries: 5 }),
    async stop() { proc.kill('SIGTERM'); await exited; rmSync(dir, { recursive: true, force: true }); },
  };
}

function tasks() {
  return Array.from({ length: REQUESTS }, (_, i) => JSON.stringify({
    custom_id: `task-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Describe movie ${i}.` }] },
  }) + '\n').join('');
}

async function runBatch(client) {
  const file = await client.files.create({ file: await toFile(Buffer.from(tasks()), 'tasks.jsonl'), purpose: 'batch' });
  const started = Date.now();
  let b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  let sampled = Date.now();
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(b.status)) {
    await sleep(100);
    b = await client.batches.retrieve(b.id);
    if (process.env.BENCH_LOG && Date.now() - sampled > 2000) {
      sampled = Date.now();
      process.stderr.write(`leases: ${await leases(b.id)} done ${b.request_counts.completed}\n`);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  if (b.status !== 'completed' || b.request_counts.completed !== REQUESTS) {
    throw new Error(`batch ended ${b.status}: ${JSON.stringify(b.request_counts)}`);
  }
  return { seconds, id: b.id };
}

// Not execFileSync: the nodes' logs are read by this process's event loop, and a full pipe would stall
// them.
async function wrk(port, batchId) {
  const out = await new Promise((resolve, reject) => {
    const p = spawn('wrk', ['-t2', '-c64', `-d${WRK_SECONDS}s`, '--latency', '-H', `Authorization: Bearer ${KEY}`,
      `http://127.0.0.1:${port}/v1/batches/${batchId}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    p.stdout.on('data', (d) => { text += d; });
    p.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}`))));
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const p99 = /\s99%\s+(\S+)/.exec(out)[1];
  const errors = /Non-2xx[^\n]*|Socket errors[^\n]*/.exec(out);
  return { rps, p99, errors: errors ? errors[0] : '' };
}

// BENCH_LOG: which nodes hold live leases on the batch's requests now (psql on the bench's database).
function leases(batchId) {
  return new Promise((resolve) => {
    const q = `SELECT coalesce(lease_node,'-') || ':' || count(*) FROM batch_requests WHERE batch_id='${batchId}' AND outcome=0 ` +
      `AND lease_until > (extract(epoch from now())*1000)::bigint GROUP BY lease_node ORDER BY 1`;
    const p = spawn('psql', ['-Atc', q, pg.url()], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (d) => { text += d; });
    p.stderr.on('data', (d) => { text += d; });
    p.on('exit', () => resolve(text.trim().split('\n').join(' ')));
  });
}

const pg = await startPostgres();
const upstream = await startStandin({ delayMs: DELAY_MS });
const rows = [];
const nodeArgs = ['--upstream', upstream.baseURL, '--parallel', String(PARALLEL), '--db', pg.url()];
let lastPgBatch;
let lastPgNode;
try {
  for (const [index, n] of NODES.entries()) {
    const nodes = [];
    for (let i = 0; i < n; i++) nodes.push(await startNode(nodeArgs));
    const r = await runBatch(nodes[0].client);
    rows.push({ n, seconds: r.seconds, rps: REQUESTS / r.seconds });
    process.stderr.write(`fleet bench: ${n} node(s): ${r.seconds.toFixed(1)} s\n`);
    lastPgBatch = r.id;
    for (const node of nodes.slice(1)) await node.stop();
    if (index === NODES.length - 1) lastPgNode = nodes[0]; else await nodes[0].stop();
  }
  const pgGet = await wrk(lastPgNode.port, lastPgBatch);
  await lastPgNode.stop();
  const sqliteNode = await startNode(['--upstream', upstream.baseURL, '--parallel', String(PARALLEL)]);
  const s = await runBatch(sqliteNode.client);
  const sqliteGet = await wrk(sqliteNode.port, s.id);
  await sqliteNode.stop();

  const one = rows.find((r) => r.n === 1);
  console.log(`| nodes | wall s | requests/s | vs 1 node |`);
  console.log(`|---:|---:|---:|---:|`);
  for (const r of rows) {
    console.log(`| ${r.n} | ${r.seconds.toFixed(1)} | ${r.rps.toFixed(1)} | ${one ? (r.rps / one.rps).toFixed(2) + 'x' : ''} |`);
  }
  console.log('');
  console.log(`| GET /v1/batches/{id}, 64 connections, ${WRK_SECONDS} s | requests/s | p99 |`);
  console.log(`|---|---:|---:|`);
  console.log(`| SQLite (one node, SQLite run alone) | ${Math.round(sqliteGet.rps)} | ${sqliteGet.p99} |`);
  console.log(`| PostgreSQL (node 1 of the fleet) | ${Math.round(pgGet.rps)} | ${pgGet.p99} |`);
  console.log('');
  console.log(`${REQUESTS} requests, stand-in upstream answering after ${DELAY_MS} ms, --parallel ${PARALLEL} a node; ` +
    `${cpus().length} cores${sqliteGet.errors || pgGet.errors ? `; wrk: ${sqliteGet.errors} ${pgGet.errors}` : ''}`);
} finally {
  await upstream.close();
  await pg.stop();
}
