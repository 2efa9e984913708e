// Data at rest (issue 24): the server keeps to folders of its own, keeps them private, opens the data
// folder of an older openbatch with every file and batch there for its key (owner ids moved to keyed
// digests), and bounds what one key stores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI, { toFile } from 'openai';
import { startServer } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
// A data folder as openbatch left it before issue 24 (schema version 6, owners "key-" + FNV-1a-64 of the
// key, no markers, no secret, 0644 database): see fixtures/data-dir-v6/README.md.
const fixture = join(here, 'fixtures', 'data-dir-v6');
const fixtureFacts = JSON.parse(readFileSync(join(fixture, 'facts.json'), 'utf8'));

const mode = (p) => statSync(p).mode & 0o777;
const tempDir = (t, name) => {
  const d = mkdtempSync(join(tmpdir(), name));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
};

test('a folder that holds other files is refused, and nothing in it is touched', async (t) => {
  const dir = tempDir(t, 'openbatch-foreign-');
  const names = ['README', 'Makefile', 'id_rsa', 'backup.tmp'];
  for (const n of names) writeFileSync(join(dir, n), n);
  mkdirSync(join(dir, 'sub'));
  await assert.rejects(startServer({ dataDir: dir }), /is not empty \(.*\) and is not a folder openbatch made/);
  for (const n of names) assert.equal(readFileSync(join(dir, n), 'utf8'), n);
  assert.deepEqual(readdirSync(dir).sort(), [...names, 'sub'].sort());

  // --files-dir: openbatch makes a folder of its own inside, and the operator's files stay beside it.
  const data = join(tempDir(t, 'openbatch-data-'), 'data');
  const server = await startServer({ dataDir: data, args: ['--files-dir', dir] });
  t.after(() => server.stop());
  const file = await server.client.files.create({ file: await toFile(Buffer.from('{"a":1}\n'), 'a.jsonl'), purpose: 'batch' });
  assert.deepEqual(readdirSync(join(dir, 'openbatch-files')).filter((n) => n.startsWith('file-')), [file.id]);
  for (const n of names) assert.equal(readFileSync(join(dir, n), 'utf8'), n);
});

test('a new data folder is private: 0700, and the database, its WAL and every file 0600', async (t) => {
  const data = join(tempDir(t, 'openbatch-private-'), 'data');
  const server = await startServer({ dataDir: data });
  t.after(() => server.stop());
  const file = await server.client.files.create({ file: await toFile(Buffer.from('{"a":1}\n'), 'a.jsonl'), purpose: 'batch' });
  assert.equal(mode(data), 0o700);
  assert.equal(mode(join(data, 'files')), 0o700);
  assert.equal(mode(join(data, 'files', file.id)), 0o600);
  for (const n of ['openbatch.sqlite3', 'openbatch.sqlite3-wal', 'openbatch.sqlite3-shm', 'openbatch.secret']) {
    assert.equal(mode(join(data, n)), 0o600, n);
  }
  assert.doesNotMatch(server.log(), /warning/);
});

test('the data folder of an older openbatch opens with every file and batch there for its key, across restarts', async (t) => {
  const data = join(tempDir(t, 'openbatch-old-'), 'data');
  cpSync(join(fixture, 'data'), data, { recursive: true });
  const keys = Object.keys(fixtureFacts.keys);
  const args = keys.flatMap((k) => ['--api-key', k]);
  for (let start = 0; start < 2; start++) {
    const server = await startServer({ dataDir: data, args });
    try {
      for (const [key, facts] of Object.entries(fixtureFacts.keys)) {
        const client = new OpenAI({ baseURL: server.baseURL, apiKey: key, maxRetries: 0 });
        const listed = [];
        for await (const f of client.files.list()) listed.push(f.id);
        assert.deepEqual(listed.sort(), facts.files.slice().sort(), `files of ${key} (start ${start})`);
        for (const id of facts.files) {
          const bytes = Buffer.from(await (await client.files.content(id)).arrayBuffer());
          assert.deepEqual(bytes, readFileSync(join(fixture, 'data', 'files', id)), `${id} byte for byte`);
        }
        const batches = [];
        for await (const b of client.batches.list()) batches.push(b);
        assert.deepEqual(batches.map((b) => b.id).sort(), facts.batches.slice().sort());
        for (const b of batches) {
          assert.equal(b.status, 'completed');
          assert.equal(b.request_counts.completed + b.request_counts.failed, b.request_counts.total);
        }
      }
      // Another key sees none of it.
      const stranger = new OpenAI({ baseURL: server.baseURL, apiKey: keys[0] + '-not', maxRetries: 0 });
      await assert.rejects(stranger.files.list(), (e) => e.status === 401);
    } finally {
      await server.stop();
    }
    assert.ok(existsSync(join(data, '.openbatch-folder')));
    assert.ok(existsSync(join(data, 'files', '.openbatch-folder')));
    assert.equal(mode(join(data, 'openbatch.sqlite3')), 0o600, 'the older database was made private');
  }
});

test('--max-stored-mb-per-key refuses an upload or a batch past the key\'s storage, in OpenAI\'s shape', async (t) => {
  const server = await startServer({ args: ['--max-stored-mb-per-key', '1', '--api-key', 'sk-test', '--api-key', 'sk-other'] });
  t.after(() => server.stop());
  const { client } = server;
  const line = JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(1000) }] } }) + '\n';
  const body = (bytes) => Buffer.from(line.repeat(Math.ceil(bytes / line.length)));
  const first = await client.files.create({ file: await toFile(body(600 * 1024), 'a.jsonl'), purpose: 'batch' });
  await assert.rejects(client.files.create({ file: await toFile(body(600 * 1024), 'b.jsonl'), purpose: 'batch' }), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.error.type, 'invalid_request_error');
    assert.equal(err.error.code, 'storage_limit_exceeded');
    assert.match(err.error.message, /1 MB/);
    return true;
  });
  // Another key has its own room.
  const other = new OpenAI({ baseURL: server.baseURL, apiKey: 'sk-other', maxRetries: 0 });
  await other.files.create({ file: await toFile(body(600 * 1024), 'c.jsonl'), purpose: 'batch' });
  // Filled to the byte: that upload fits, and then no new batch does (its outputs would be the key's
  // too); once a file is deleted there is room again.
  const rest = 1024 * 1024 - first.bytes;
  const filler = await client.files.create({ file: await toFile(Buffer.from('{"p":"' + 'x'.repeat(rest - 9) + '"}\n'), 'fill.jsonl'), purpose: 'batch' });
  assert.equal(filler.bytes, rest);
  const create = () => client.batches.create({ input_file_id: first.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  await assert.rejects(create(), (err) => err.status === 400 && err.error.code === 'storage_limit_exceeded');
  await client.files.delete(filler.id);
  assert.equal((await create()).status, 'validating');
});
