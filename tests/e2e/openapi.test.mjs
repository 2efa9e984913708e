// Every kind of object openbatch answers with validates against OpenAI's own OpenAPI document (see
// openapi_schema.mjs): chat completions (plain, logprobs, json_object, stop), their stream chunks,
// completions, embeddings, models, files (created, listed, retrieved, deleted), batches in each state they
// pass through (validating to completed, cancelled, failed) and their lists, the output and error lines'
// bodies, responses (synchronous, streamed events, retrieved), and error envelopes. So the next field
// OpenAI adds to a required list is noticed.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitForBatch, fileLines } from './harness.mjs';
import { openapiValidator, OPENAPI_DOC } from './openapi_schema.mjs';

const validate = openapiValidator();

function check(schema, value) {
  const errors = validate(schema, value);
  assert.equal(errors, null, `${schema}: ${errors}\n${JSON.stringify(value).slice(0, 2000)}`);
}

describe('answers validate against OpenAI\'s OpenAPI document', { skip: !validate && `${OPENAPI_DOC} not found` }, () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  // The raw JSON of an answer (the client's objects are the same JSON, with methods added).
  async function call(method, path, body) {
    const r = await fetch(`${server.baseURL}${path}`, {
      method, headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, json: await r.json() };
  }

  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16 };

  test('chat completions, their stream chunks, completions, embeddings, models', async () => {
    for (const extra of [{}, { logprobs: true, top_logprobs: 2 }, { response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'Say hello in JSON.' }] },
      { stop: ['x'], n: 2, temperature: 0.5 }]) {
      const r = await call('POST', '/chat/completions', { ...chat, ...extra });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      check('CreateChatCompletionResponse', r.json);
    }
    const stream = await server.client.chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } });
    let chunks = 0;
    for await (const chunk of stream) {
      check('CreateChatCompletionStreamResponse', chunk);
      chunks++;
    }
    assert.ok(chunks > 1);
    const c = await call('POST', '/completions', { model: 'gpt-4o-mini', prompt: 'Once', max_tokens: 8 });
    assert.equal(c.status, 200, JSON.stringify(c.json));
    check('CreateCompletionResponse', c.json);
    const e = await call('POST', '/embeddings', { model: 'gpt-4o-mini', input: ['a', 'b'] });
    assert.equal(e.status, 200, JSON.stringify(e.json));
    check('CreateEmbeddingResponse', e.json);
    const models = await call('GET', '/models');
    check('ListModelsResponse', models.json);
    check('Model', (await call('GET', '/models/gpt-4o-mini')).json);
  });

  test('responses: synchronous, streamed events, retrieved', async () => {
    const r = await call('POST', '/responses', { model: 'gpt-4o-mini', input: 'Say hello.', max_output_tokens: 16 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    check('Response', r.json);
    const again = await call('GET', `/responses/${r.json.id}`);
    if (again.status === 200) check('Response', again.json);
    else check('ErrorResponse', again.json);
    const stream = await server.client.responses.create({ model: 'gpt-4o-mini', input: 'Say hello.', max_output_tokens: 16, stream: true });
    const types = new Set();
    for await (const event of stream) {
      check('ResponseStreamEvent', event);
      types.add(event.type);
    }
    assert.ok(types.has('response.completed') || types.has('response.incomplete'), [...types].join());
  });

  test('files, batches in each state, their lines and lists', async () => {
    const line = (i, body) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body });
    const lines = [line(0, chat), line(1, { ...chat, max_tokens: -1 })];  // the second fails when run
    const file = await server.client.files.create({ file: new File([lines.join('\n') + '\n'], 'in.jsonl'), purpose: 'batch' });
    check('OpenAIFile', (await call('GET', `/files/${file.id}`)).json);
    check('ListFilesResponse', (await call('GET', '/files')).json);

    const created = await call('POST', '/batches', { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    assert.equal(created.status, 200, JSON.stringify(created.json));
    check('Batch', created.json);
    const done = await waitForBatch(server.client, created.json.id);
    assert.equal(done.status, 'completed');
    check('Batch', (await call('GET', `/batches/${done.id}`)).json);
    for (const out of await fileLines(server.client, done.output_file_id)) {
      check('CreateChatCompletionResponse', out.response.body);
    }
    for (const err of await fileLines(server.client, done.error_file_id)) {
      check('ErrorResponse', err.response.body);
    }

    // Cancelled: a batch of long answers, cancelled at once.
    const long = Array.from({ length: 16 }, (_, i) => line(i, { ...chat, max_tokens: 400 }));
    const longFile = await server.client.files.create({ file: new File([long.join('\n') + '\n'], 'long.jsonl'), purpose: 'batch' });
    const running = await server.client.batches.create({ input_file_id: longFile.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const cancelling = await call('POST', `/batches/${running.id}/cancel`);
    assert.equal(cancelling.status, 200, JSON.stringify(cancelling.json));
    check('Batch', cancelling.json);
    const cancelled = await waitForBatch(server.client, running.id);
    check('Batch', (await call('GET', `/batches/${cancelled.id}`)).json);

    // An upload that is not JSON lines is refused at once.
    const notJson = await fetch(`${server.baseURL}/files`, {
      method: 'POST', headers: { authorization: 'Bearer sk-test' },
      body: (() => { const f = new FormData(); f.append('purpose', 'batch'); f.append('file', new Blob(['not json\n']), 'x.jsonl'); return f; })(),
    });
    assert.equal(notJson.status, 400);
    check('ErrorResponse', await notJson.json());

    // Failed: a line for another endpoint than the batch's.
    const bad = await server.client.files.create({
      file: new File([JSON.stringify({ custom_id: 'x', method: 'POST', url: '/v1/embeddings', body: chat }) + '\n'], 'bad.jsonl'),
      purpose: 'batch',
    });
    const failing = await server.client.batches.create({ input_file_id: bad.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const failed = await waitForBatch(server.client, failing.id);
    assert.equal(failed.status, 'failed');
    check('Batch', (await call('GET', `/batches/${failed.id}`)).json);
    check('ListBatchesResponse', (await call('GET', '/batches?limit=10')).json);

    const deleted = await call('DELETE', `/files/${bad.id}`);
    check('DeleteFileResponse', deleted.json);
  });

  test('error envelopes', async () => {
    const answers = [
      await call('POST', '/chat/completions', { ...chat, max_tokens: 'x' }),
      await call('GET', '/files/file-nope'),
      await call('GET', '/batches/batch_nope'),
      await call('POST', '/chat/completions', { ...chat, model: 'no-such-model' }),
      await call('POST', '/responses', { model: 'gpt-4o-mini', input: 'x', truncation: 'nope' }),
    ];
    for (const a of answers) {
      assert.ok(a.status >= 400, JSON.stringify(a));
      check('ErrorResponse', a.json);
    }
  });
});
