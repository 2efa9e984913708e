// The demo: the guide's Example 1 against a running openbatch (OPENAI_BASE_URL, OPENAI_API_KEY).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { readCsv, get_categories, run_batch } from './guide_example1.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const client = new OpenAI();  // reads OPENAI_BASE_URL and OPENAI_API_KEY, as with OpenAI itself
const df = readCsv(process.env.DATASET ?? join(here, 'data/movies.csv'));

console.log('== Step 2: one request with Chat Completions');
for (const row of df.slice(0, 2)) {
  console.log(`TITLE: ${row.Series_Title}\nOVERVIEW: ${row.Overview}\n\nRESULT: ${await get_categories(client, row.Overview)}\n`);
}
console.log(`== Steps 3-7: a batch of ${df.length} movies`);
const started = Date.now();
const { batch_job, matched } = await run_batch(client, df, { dir: mkdtempSync(join(tmpdir(), 'openbatch-demo-')) });
const secs = (Date.now() - started) / 1000;
for (const m of matched.slice(0, 5)) console.log(`TITLE: ${m.title}\nOVERVIEW: ${m.description}\n\nRESULT: ${m.result}\n\n----\n`);
const u = batch_job.usage ?? {};
console.log(`batch ${batch_job.id} ${batch_job.status}: ${batch_job.request_counts.completed} completed, ` +
  `${batch_job.request_counts.failed} failed in ${secs.toFixed(1)} s; tokens in ${u.input_tokens} ` +
  `(cached ${u.input_tokens_details?.cached_tokens}), out ${u.output_tokens}`);
if (batch_job.status !== 'completed' || matched.length !== df.length) process.exit(1);
