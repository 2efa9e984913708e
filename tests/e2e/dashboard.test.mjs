// The dashboard in a real browser: Debian's Chromium driven by puppeteer-core against the real server.
// A CSV is dropped on the "New batch" page, turned into requests the way `openbatch prepare` makes them,
// submitted through the Files and Batches API and followed on the batch's page to `completed`, with
// its timeline, chart and the error line of the row that was too long for the model. Each key sees only
// its own batches. A screenshot is saved (OPENBATCH_DASHBOARD_SCREENSHOT, else in the temp folder).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import puppeteer from 'puppeteer-core';
import { toFile } from 'openai';
import { BIN, startServer, fileLines } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = process.env.OPENBATCH_DASHBOARD_SCREENSHOT ?? join(tmpdir(), 'openbatch-dashboard.png');
const SYSTEM = 'You categorize movies. Answer with a JSON object {"categories": [...]}.';
const TEMPLATE = 'Movie: {title}\n\n{overview}';

function csvField(v) { return /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v; }
// Forty movies; m5's overview is far longer than the tiny model's context, so its request fails.
function moviesCsv() {
  const rows = [['id', 'title', 'overview']];
  for (let i = 0; i < 40; ++i) {
    const overview = i === 5 ? 'an endless story '.repeat(3000)
      : `A "quoted" tale, number ${i}, with commas,\nand a line break.`;
    rows.push([`m${i}`, `Movie ${i}`, overview]);
  }
  return rows.map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

async function launch() {
  return puppeteer.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
}
// The page's text in one string, and each key's view of a route.
const bodyText = (page) => page.evaluate(() => document.body.innerText);
async function waitText(page, selector, pattern, timeout = 30000) {
  await page.waitForFunction((sel, src) => {
    const e = document.querySelector(sel);
    return e && new RegExp(src).test(e.textContent);
  }, { timeout, polling: 100 }, selector, pattern.source);
}

test('a CSV dropped on the dashboard becomes a batch that is followed on its page to completed, chart and error line included', async (t) => {
  const server = await startServer({ args: ['--api-key', 'sk-alice', '--api-key', 'sk-bob'] });
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-dash-'));
  const browser = await launch();
  t.after(async () => { await browser.close(); await server.stop(); rmSync(dir, { recursive: true, force: true }); });
  const root = server.baseURL.replace(/\/v1$/, '');
  const csvPath = join(dir, 'movies.csv');
  writeFileSync(csvPath, moviesCsv());

  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.setViewport({ width: 1200, height: 900 });
  await page.goto(`${root}/#key=sk-alice`);
  await waitText(page, '#batches', /no batches yet/);
  assert.equal(await page.evaluate(() => location.hash), '#/', 'the key is taken out of the address');
  await waitText(page, '#model', /model: gpt-4o-mini/);
  // The models batches may name, this node's with their state and heartbeat.
  await waitText(page, '#models tr[data-model="gpt-4o-mini"]', /gpt-4o-minithis nodeloaded(just now|\d)/);

  // New batch: drop the CSV (the file input behind the drop zone), fill the form like `prepare`'s flags.
  await page.click('a[href="#/new"].button');
  await page.waitForSelector('#file');
  await (await page.$('#file')).uploadFile(csvPath);
  await waitText(page, '#file-info', /movies\.csv: 40 rows, 3 columns/);
  await page.$eval('#system', (e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }, SYSTEM);
  await page.$eval('#user', (e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }, TEMPLATE);
  await page.select('#id-column', 'id');
  await page.select('#format', 'json_object');
  await page.type('#max-tokens', '24');
  await page.type('#description', 'movies from the browser');
  await waitText(page, '#summary', /40 requests, one per row, to \/v1\/chat\/completions/);
  assert.match(await page.$eval('#preview', (e) => e.textContent), /"custom_id": "m0"/);
  assert.equal(await page.$eval('#submit', (e) => e.disabled), false);

  // An unknown column is named before anything is sent.
  await page.$eval('#user', (e) => { e.value = '{nope}'; e.dispatchEvent(new Event('input')); });
  await waitText(page, '#problem', /no column named 'nope' \(columns: id, title, overview\)/);
  assert.equal(await page.$eval('#submit', (e) => e.disabled), true);
  await page.$eval('#user', (e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }, TEMPLATE);

  await page.click('#submit');
  await page.waitForFunction(() => /^#\/batches\/batch_/.test(location.hash), { timeout: 30000 });
  const batchId = await page.evaluate(() => location.hash.slice('#/batches/'.length));
  await page.waitForSelector('.batch-head .pill[data-status="completed"]', { timeout: 120000 });
  await page.waitForSelector('#error-lines');

  const alice = server.client.withOptions({ apiKey: 'sk-alice' });
  const batch = await alice.batches.retrieve(batchId);
  assert.equal(batch.status, 'completed');
  assert.deepEqual(batch.request_counts, { total: 40, completed: 39, failed: 1 });
  assert.deepEqual(batch.metadata, { source: 'dashboard', file: 'movies.csv', description: 'movies from the browser' });

  // The requests are the ones `openbatch prepare` writes for the same CSV and options.
  const cliTasks = join(dir, 'tasks.jsonl');
  writeFileSync(join(dir, 'system.txt'), SYSTEM);
  await promisify(execFile)(BIN, ['prepare', csvPath, '--model', 'gpt-4o-mini', '--system', `@${join(dir, 'system.txt')}`,
    '--user', TEMPLATE, '--id-column', 'id', '--json-object', '--max-tokens', '24', '-o', cliTasks]);
  const cli = readFileSync(cliTasks, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(await fileLines(alice, batch.input_file_id), cli);

  // The page: counts, timeline, chart, first output lines, the failed row's error.
  assert.equal((await page.$eval('#counts b', (e) => e.textContent)).replace(/\s+/g, ' '), '39 / 1 / 40');
  for (const step of ['created', 'in_progress', 'finalizing', 'completed']) {
    assert.ok(await page.$(`#timeline li.reached[data-step="${step}"]`), `timeline step ${step}`);
  }
  assert.match(await page.$eval('#timeline li[data-step="completed"] time', (e) => e.textContent), /\d/);
  const chart = await page.$eval('#chart svg.chart', (e) => ({
    buckets: Number(e.dataset.buckets), tokens: e.querySelectorAll('path.tokens-line').length,
    bars: e.querySelectorAll('rect.bar-done').length, failedBars: e.querySelectorAll('rect.bar-failed').length,
    width: e.getBoundingClientRect().width,
  }));
  assert.ok(chart.buckets >= 1 && chart.tokens === 1 && chart.bars >= 1, JSON.stringify(chart));
  assert.equal(chart.failedBars >= 1, true, 'the failed request shows in red');
  assert.ok(chart.width > 600, 'the chart fills its card');
  const progress = await alice.get(`/batches/${batchId}/progress`);
  assert.equal(progress.samples.at(-1).completed, 39);
  assert.equal(progress.samples.at(-1).failed, 1);
  assert.match(await page.$eval('.legend', (e) => e.textContent), new RegExp(`${progress.samples.length} samples`));

  assert.equal(await page.$$eval('#output-lines tbody tr', (rows) => rows.length), 5);
  const errorLine = await page.$eval('tr.error-line[data-custom-id="m5"]', (e) => e.textContent);
  assert.match(errorLine, /400/);
  assert.match(errorLine, /context_length_exceeded/);
  assert.match(errorLine, /context/i);
  assert.equal(await page.$$eval('tr.error-line', (rows) => rows.length), 1);
  assert.ok(await page.$('#download-output') && await page.$('#download-errors'));
  assert.equal(await page.$('#cancel'), null, 'no cancel for a completed batch');

  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.ok(statSync(SCREENSHOT).size > 10000, 'a screenshot of the page');
  t.diagnostic(`screenshot: ${SCREENSHOT}`);

  // At phone width nothing runs off the side of the screen.
  await page.setViewport({ width: 390, height: 844, isMobile: true });
  await page.reload();
  await page.waitForSelector('#chart svg.chart');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone`);
  await page.goto(`${root}/#/new`);
  await page.waitForSelector('#file');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth) <= 1);

  // The list has the batch, linked to its page.
  await page.setViewport({ width: 1200, height: 900 });
  await page.goto(`${root}/#/`);
  await page.waitForSelector(`tr[data-batch="${batchId}"][data-status="completed"]`);
  assert.match(await page.$eval(`tr[data-batch="${batchId}"] .counts`, (e) => e.textContent), /39 \/ 1 \/ 40/);
  assert.match(await page.$eval(`tr[data-batch="${batchId}"]`, (e) => e.textContent), /movies from the browser/);

  // Bob sees none of it: not in his list, not on the batch's page.
  await page.evaluate(() => { location.hash = '#/?key=sk-bob'; });
  await waitText(page, '#batches', /no batches yet/);
  assert.doesNotMatch(await bodyText(page), new RegExp(batchId));
  await page.evaluate((id) => { location.hash = `#/batches/${id}`; }, batchId);
  await waitText(page, '#view', /No batch batch_\w+ for this API key/);
  await waitText(page, '#error', /No batch found with id/);

  await page.evaluate(() => { location.hash = '#/?key=sk-wrong'; });
  await waitText(page, '#error', /Incorrect API key provided/);
  assert.deepEqual(pageErrors, []);
});

test('a JSONL file of batch requests goes as it is, and a running batch can be cancelled from its page', async (t) => {
  const server = await startServer({ args: ['--api-key', 'sk-alice'], apiKey: 'sk-alice' });
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-dash-'));
  const browser = await launch();
  t.after(async () => { await browser.close(); await server.stop(); rmSync(dir, { recursive: true, force: true }); });
  const root = server.baseURL.replace(/\/v1$/, '');
  // Far more generation than any machine finishes before cancel is pressed (2,000 x 200 tokens).
  const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({
    custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', max_tokens: 200, ignore_eos: true, messages: [{ role: 'user', content: `Item ${i}` }] },
  }));
  writeFileSync(join(dir, 'tasks.jsonl'), lines.join('\n') + '\n');
  const before = await server.client.files.create({ file: await toFile(Buffer.from(lines[0] + '\n'), 'x.jsonl'), purpose: 'batch' });

  const page = await browser.newPage();
  page.on('dialog', (d) => d.accept());
  await page.goto(`${root}/#/new?key=sk-alice`);
  await (await page.waitForSelector('#file')).uploadFile(join(dir, 'tasks.jsonl'));
  await waitText(page, '#file-info', /a batch input file, 2000 requests for gpt-4o-mini/);
  await waitText(page, '#summary', /2000 requests to \/v1\/chat\/completions, sent as they are/);
  assert.equal(await page.$eval('#user', (e) => e.closest('section').hidden), true, 'no template for ready requests');
  await page.click('#submit');
  await page.waitForFunction(() => /^#\/batches\/batch_/.test(location.hash), { timeout: 30000 });
  const batchId = await page.evaluate(() => location.hash.slice('#/batches/'.length));
  const batch = await server.client.batches.retrieve(batchId);
  const input = await (await server.client.files.content(batch.input_file_id)).text();
  assert.equal(input, readFileSync(join(dir, 'tasks.jsonl'), 'utf8'), 'the file is uploaded unchanged');
  assert.notEqual(batch.input_file_id, before.id);

  await (await page.waitForSelector('#cancel', { timeout: 30000 })).click();
  await page.waitForSelector('.batch-head .pill[data-status="cancelled"]', { timeout: 60000 });
  assert.ok(await page.$('#timeline li.reached[data-step="cancelled"]'));
  const ended = await server.client.batches.retrieve(batchId);
  assert.equal(ended.status, 'cancelled');
  assert.ok(ended.request_counts.failed > 0, 'unfinished requests were cancelled');
  await page.waitForSelector('#error-lines');
  assert.match(await page.$eval('#error-lines', (e) => e.textContent), /batch_cancelled/);
});

test('the page makes a /v1/responses batch from a CSV, and shows each endpoint only the fields it takes', async (t) => {
  const server = await startServer({ args: ['--api-key', 'sk-alice'], apiKey: 'sk-alice' });
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-dash-'));
  const browser = await launch();
  t.after(async () => { await browser.close(); await server.stop(); rmSync(dir, { recursive: true, force: true }); });
  const root = server.baseURL.replace(/\/v1$/, '');
  writeFileSync(join(dir, 'tickets.csv'), 'id,text\nt1,My order is late\nt2,The chair arrived broken\nt3,How do I return a lamp?\n');
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${root}/#/new?key=sk-alice`);
  await (await page.waitForSelector('#file')).uploadFile(join(dir, 'tickets.csv'));
  await waitText(page, '#file-info', /tickets\.csv: 3 rows, 2 columns/);
  await page.$eval('#system', (e) => { e.value = 'Summarise the ticket in JSON.'; e.dispatchEvent(new Event('input')); });
  await page.$eval('#user', (e) => { e.value = 'Ticket: {text}'; e.dispatchEvent(new Event('input')); });
  await page.select('#id-column', 'id');
  await page.select('#format', 'json_object');
  await page.type('#max-tokens', '16');
  const visible = (sel) => page.$eval(sel, (e) => !!e.closest('label').offsetParent);

  // Embeddings take only the input; completions no image and no output format; their hidden fields
  // do not leak into the requests.
  await page.select('#endpoint', '/v1/embeddings');
  await waitText(page, '#summary', /3 requests, one per row, to \/v1\/embeddings/);
  assert.deepEqual([await visible('#system'), await visible('#format'), await visible('#max-tokens')], [false, false, false]);
  assert.deepEqual(JSON.parse(await page.$eval('#preview', (e) => e.textContent)).body, { model: 'gpt-4o-mini', input: 'Ticket: My order is late' });
  await page.select('#endpoint', '/v1/completions');
  await waitText(page, '#summary', /to \/v1\/completions/);
  assert.deepEqual([await visible('#system'), await visible('#format'), await visible('#image-column')], [true, false, false]);
  assert.deepEqual(JSON.parse(await page.$eval('#preview', (e) => e.textContent)).body,
    { model: 'gpt-4o-mini', max_tokens: 16, prompt: 'Summarise the ticket in JSON.\n\nTicket: My order is late' });

  await page.select('#endpoint', '/v1/responses');
  await waitText(page, '#summary', /3 requests, one per row, to \/v1\/responses/);
  assert.deepEqual(JSON.parse(await page.$eval('#preview', (e) => e.textContent)).body, {
    model: 'gpt-4o-mini', max_output_tokens: 16, text: { format: { type: 'json_object' } },
    instructions: 'Summarise the ticket in JSON.', input: 'Ticket: My order is late',
  });
  await page.click('#submit');
  await page.waitForFunction(() => /^#\/batches\/batch_/.test(location.hash), { timeout: 30000 });
  const batchId = await page.evaluate(() => location.hash.slice('#/batches/'.length));
  await page.waitForSelector('.batch-head .pill[data-status="completed"]', { timeout: 60000 });
  const batch = await server.client.batches.retrieve(batchId);
  assert.equal(batch.endpoint, '/v1/responses');
  assert.deepEqual(batch.request_counts, { total: 3, completed: 3, failed: 0 });
  const out = await fileLines(server.client, batch.output_file_id);
  assert.deepEqual(out.map((l) => l.custom_id).sort(), ['t1', 't2', 't3']);
  for (const l of out) {
    assert.equal(l.response.status_code, 200);
    assert.equal(l.response.body.object, 'response');
    assert.ok(l.response.body.usage.output_tokens <= 16);
  }
  assert.deepEqual(pageErrors, []);
});
