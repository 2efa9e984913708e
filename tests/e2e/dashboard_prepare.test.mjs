// The dashboard's "New batch" page makes requests in the browser (web/prepare.js); they must be exactly
// what `openbatch prepare` writes for the same file and options, and fail where it fails, with its
// words. Each case runs both and compares. Also the chart's rates from cumulative samples (web/chart.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseCsv, parseJsonlTable, buildRequests, batchInputSummary, fillTemplate } from '../../web/prepare.js';
import { rateBuckets } from '../../web/chart.js';

const BIN = process.env.OPENBATCH_BIN;
const base = { model: 'gpt-4o-mini', endpoint: '/v1/chat/completions', system: '', idColumn: '', imageColumn: '', format: 'text', schemaText: '', temperature: null, maxTokens: null };

// name, file name, content, options (as the page holds them); the CLI gets the same as flags.
const CASES = [
  ['quoted commas, quotes, line breaks, BOM, UTF-8', 'a.csv', '\uFEFFid,text\r\n1,"a, b"\r\n2,"say ""hi""\nnext line"\n3,café\n',
    { user: 'Say: {text} ({id})', system: 'Be brief.' }],
  ['empty fields, short rows, blank lines, no final newline', 'b.csv', 'a,b,c\n,"",x\n1\n\n2,3,4', { user: '[{a}|{b}|{c}]' }],
  ['id column, JSON mode, temperature, max tokens, braces', 'c.csv', 'key,v\nk1,one\nk2,two\n',
    { user: '{{literal}} {v}', idColumn: 'key', format: 'json_object', temperature: 0.1, maxTokens: 20 }],
  ['image column (empty cells send text only)', 'd.csv', 'title,img\nA,https://example.com/a.png\nB,\n', { user: 'Caption {title}', imageColumn: 'img' }],
  ['JSON schema, bare', 'e.csv', 'q\nx\n', { user: '{q}', format: 'json_schema', schemaText: '{"type":"object","properties":{"a":{"type":"string"}}}' }],
  ['JSON schema, OpenAI form', 'f.csv', 'q\nx\n', { user: '{q}', format: 'json_schema', schemaText: '{"name":"s","schema":{"type":"object"},"strict":false}' }],
  ['JSONL rows', 'g.jsonl', '{"t":"a","n":1}\n\n{"t":"b","extra":null,"n":[2]}\n', { user: '{t} {n} {extra}' }],
  ['unknown column', 'h.csv', 'a\n1\n', { user: '{b}' }],
  ['unclosed brace', 'i.csv', 'a\n1\n', { user: '{a' }],
  ['unclosed quote', 'j.csv', 'a\n"open', { user: '{a}' }],
  ['quote inside a field', 'k.csv', 'a\nx"y', { user: '{a}' }],
  ['text after a closing quote', 'l.csv', 'a\n"x"y', { user: '{a}' }],
  ['more fields than the header', 'm.csv', 'a\n1,2', { user: '{a}' }],
  ['repeated id', 'n.csv', 'id\nx\nx\n', { user: '{id}', idColumn: 'id' }],
  ['empty id', 'o.csv', 'id,v\n,1\n', { user: '{v}', idColumn: 'id' }],
  ['a JSONL line that is not an object', 'p.jsonl', '{"a":1}\n[1]\n', { user: '{a}' }],
  // Every endpoint in its own fields.
  ['/v1/responses: instructions, an image, text.format json_schema, max_output_tokens', 'q.csv', 'title,img\nA,https://example.com/a.png\nB,\n',
    { endpoint: '/v1/responses', user: 'Caption {title}', system: 'Be brief.', imageColumn: 'img', format: 'json_schema',
      schemaText: '{"name":"c","schema":{"type":"object"},"strict":true}', temperature: 0.2, maxTokens: 30 }],
  ['/v1/responses: json_object', 'r.csv', 'q\nx\n', { endpoint: '/v1/responses', user: '{q}', format: 'json_object' }],
  ['/v1/completions: the system prompt before the template', 's.csv', 'q\nx\ny\n',
    { endpoint: '/v1/completions', user: 'Q: {q}\nA:', system: 'Answer briefly.', temperature: 0, maxTokens: 5 }],
  ['/v1/embeddings: only the input', 't.csv', 'q\nx\n', { endpoint: '/v1/embeddings', user: 'say {q}' }],
  ['/v1/completions refuses an image column', 'u.csv', 'q,img\nx,y\n', { endpoint: '/v1/completions', user: '{q}', imageColumn: 'img' }],
  ['/v1/completions refuses JSON mode', 'v.csv', 'q\nx\n', { endpoint: '/v1/completions', user: '{q}', format: 'json_object' }],
  ['/v1/embeddings refuses a system prompt', 'w.csv', 'q\nx\n', { endpoint: '/v1/embeddings', user: '{q}', system: 's' }],
  ['an endpoint rows cannot go to', 'x.csv', 'q\nx\n', { endpoint: '/v1/moderations', user: '{q}' }],
];

function cliArgs(file, out, o, dir) {
  const args = ['prepare', file, '--model', o.model, '--user', o.user, '--endpoint', o.endpoint, '-o', out];
  if (o.system) args.push('--system', o.system);
  if (o.idColumn) args.push('--id-column', o.idColumn);
  if (o.imageColumn) args.push('--image-column', o.imageColumn);
  if (o.format === 'json_object') args.push('--json-object');
  if (o.format === 'json_schema') { writeFileSync(join(dir, 'schema.json'), o.schemaText); args.push('--json-schema', `@${join(dir, 'schema.json')}`); }
  if (o.temperature !== null) args.push('--temperature', String(o.temperature));
  if (o.maxTokens !== null) args.push('--max-tokens', String(o.maxTokens));
  return args;
}

test('the page makes the requests `openbatch prepare` makes, and fails where it fails', { skip: !BIN && 'set OPENBATCH_BIN' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'openbatch-prepare-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, fileName, content, options] of CASES) {
    const o = { ...base, ...options };
    const file = join(dir, fileName);
    const out = join(dir, `${fileName}.out.jsonl`);
    writeFileSync(file, content);
    let cli;
    try {
      await promisify(execFile)(BIN, cliArgs(file, out, o, dir));
      cli = { requests: readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) };
    } catch (e) {
      cli = { error: e.stderr };
    }
    let page;
    try {
      const table = fileName.endsWith('.jsonl') ? parseJsonlTable(content) : parseCsv(content);
      page = { requests: buildRequests(table, o) };
    } catch (e) {
      page = { error: e.message };
    }
    if (cli.error !== undefined) {
      assert.ok(page.error, `${name}: the CLI fails (${cli.error.trim()}), the page made ${JSON.stringify(page.requests)}`);
      // The CLI says "--user: ..." where the page says "user template: ...".
      const words = page.error.replace(/^(user template|image column|output|system prompt|temperature|max tokens|endpoint): /, '');
      assert.ok(cli.error.includes(words), `${name}: the page says "${page.error}", the CLI "${cli.error.trim()}"`);
    } else {
      assert.deepEqual(page, cli, name);
    }
  }
});

test('a JSONL file of batch requests is recognised and summarised; rows are not', () => {
  const line = (i, url = '/v1/chat/completions') => JSON.stringify({ custom_id: `c${i}`, method: 'POST', url, body: { model: 'm', messages: [] } });
  assert.deepEqual(batchInputSummary(`${line(0)}\n${line(1)}\n`), { count: 2, urls: ['/v1/chat/completions'], models: ['m'] });
  assert.deepEqual(batchInputSummary(`${line(0)}\n${line(1, '/v1/embeddings')}\n`).urls, ['/v1/chat/completions', '/v1/embeddings']);
  assert.equal(batchInputSummary('{"title":"a"}\n'), null);
  assert.equal(batchInputSummary('not json'), null);
  assert.equal(fillTemplate('{a}}}{{', ['a'], ['x']), 'x}{');
  // Embeddings requests embed the filled template, and take nothing else.
  assert.deepEqual(buildRequests(parseCsv('t\nhello\n'), { ...base, endpoint: '/v1/embeddings', user: 'say {t}' }),
    [{ custom_id: 'task-0', method: 'POST', url: '/v1/embeddings', body: { model: 'gpt-4o-mini', input: 'say hello' } }]);
  assert.throws(() => buildRequests(parseCsv('t\nhello\n'), { ...base, endpoint: '/v1/embeddings', user: '{t}', format: 'json_object' }),
    /output: \/v1\/embeddings takes only the input/);
});

test('the chart\'s rates come from the cumulative samples', () => {
  const s = (at, completed, failed, out) => ({ at_ms: at, completed, failed, output_tokens: out, input_tokens: 0, cached_tokens: 0 });
  // 10 requests and 100 tokens in the first second, nothing in the second, 4 (1 failed) and 40 in the third.
  const samples = [s(1000, 0, 0, 0), s(2000, 10, 0, 100), s(3000, 10, 0, 100), s(4000, 13, 1, 140)];
  const b = rateBuckets(samples, 1000, 4000, 3);
  assert.equal(b.length, 3);
  assert.deepEqual(b.map((x) => [x.t0, x.t1, x.done, x.failed, x.tokens]), [[0, 1, 10, 0, 100], [1, 2, 0, 0, 0], [2, 3, 3, 1, 40]]);
  // Buckets between samples share the rate linearly; none is shorter than 0.1 s.
  const fine = rateBuckets(samples, 1000, 2000, 60);
  assert.equal(fine.length, 10);
  for (const x of fine) assert.ok(Math.abs(x.done - 10) < 1e-9 && Math.abs(x.tokens - 100) < 1e-9);
  // Before the first sample nothing is counted (a resumed batch starts at its counts).
  assert.deepEqual(rateBuckets([s(2000, 5, 0, 50), s(3000, 6, 0, 60)], 1000, 3000, 2).map((x) => x.done), [0, 1]);
  assert.deepEqual(rateBuckets([], 0, 1000), []);
});
