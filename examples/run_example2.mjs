// The demo of the guide's Example 2 (captioning images) against a running openbatch started with a
// vision model (OPENAI_BASE_URL, OPENAI_API_KEY); DATASET is a CSV of title,primary_image rows
// (examples/furniture_server.mjs writes one and serves its pictures).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { readCsv } from './guide_example1.mjs';
import { get_caption, run_batch } from './guide_example2.mjs';

const client = new OpenAI();  // reads OPENAI_BASE_URL and OPENAI_API_KEY, as with OpenAI itself
if (!process.env.DATASET) throw new Error('set DATASET to a CSV of title,primary_image rows');
const df = readCsv(process.env.DATASET);
const shown = (url) => (url.startsWith('data:') ? `${url.slice(0, 30)}… (inline)` : url);

console.log('== Step 2: one caption with Chat Completions');
const first = df[0];
console.log(`TITLE: ${first.title}\nIMAGE: ${shown(first.primary_image)}\n\nCAPTION: ${await get_caption(client, first.primary_image, first.title)}\n`);
console.log(`== Steps 3-5: a batch of ${df.length} items`);
const started = Date.now();
const { batch_job, matched } = await run_batch(client, df, { dir: mkdtempSync(join(tmpdir(), 'openbatch-demo2-')) });
const secs = (Date.now() - started) / 1000;
for (const m of matched.slice(0, 5)) console.log(`TITLE: ${m.title}\nIMAGE: ${shown(m.image)}\n\nCAPTION: ${m.caption}\n\n----\n`);
const u = batch_job.usage ?? {};
console.log(`batch ${batch_job.id} ${batch_job.status}: ${batch_job.request_counts.completed} completed, ` +
  `${batch_job.request_counts.failed} failed in ${secs.toFixed(1)} s; tokens in ${u.input_tokens} (images included), out ${u.output_tokens}`);
if (batch_job.status !== 'completed' || matched.length !== df.length) process.exit(1);
