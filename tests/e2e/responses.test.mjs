// The Responses API (issue 17) through the official openai package against the real server:
// client.responses.create synchronous, streamed (responses.stream and create({stream: true})) and in a
// batch (the guide's Example 1 written for Responses, text.format json_object: every answer parses);
// input_image parts on the tiny vision pair; a tool call and its round trip on a real-template model; the fields refused with a 400 and param.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, waitForBatch, fileLines, VISION_MODEL, MMPROJ } from './harness.mjs';
import { pngImage, dataUrl } from './test_images.mjs';
import { readCsv, categorize_system_prompt } from '../../examples/guide_example1.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const df = readCsv(join(here, '../../examples/data/movies.csv')).slice(0, 12);
const MODELS = process.env.OPENBATCH_TEST_REAL_MODELS;

// The text of a response body's message items (what the SDK's output_text is).
const outputText = (body) => body.output.filter((i) => i.type === 'message')
  .flatMap((m) => m.content).filter((c) => c.type === 'output_text').map((c) => c.text).join('');

describe('Responses on the tiny model', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  test('responses.create answers a response object with a message and usage', async () => {
    const r = await server.client.responses.create({
      model: 'gpt-4o-mini', instructions: 'You are terse.', input: 'Say hello.', max_output_tokens: 24,
      temperature: 0.2, top_p: 0.9, store: false, metadata: { run: 'e2e' },
    });
    assert.match(r.id, /^resp_/);
    assert.equal(r.object, 'response');
    assert.ok(['completed', 'incomplete'].includes(r.status), r.status);
    assert.equal(r.model, 'gpt-4o-mini');
    assert.equal(r.instructions, 'You are terse.');
    assert.equal(r.store, false);
    assert.deepEqual(r.metadata, { run: 'e2e' });
    assert.equal(r.max_output_tokens, 24);
    assert.equal(r.output.length, 1);
    const m = r.output[0];
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    assert.match(m.id, /^msg_/);
    assert.equal(m.content[0].type, 'output_text');
    assert.equal(typeof r.output_text, 'string');
    assert.equal(r.output_text, m.content[0].text);
    assert.ok(r.usage.input_tokens > 0);
    assert.ok(r.usage.output_tokens > 0 && r.usage.output_tokens <= 24);
    assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
    assert.equal(typeof r.usage.input_tokens_details.cached_tokens, 'number');
    assert.equal(r.usage.output_tokens_details.reasoning_tokens, 0);
    if (r.status === 'incomplete') assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
  });

  test('text.format json_object and json_schema answers parse', async () => {
    const r = await server.client.responses.create({
      model: 'gpt-4o-mini', instructions: categorize_system_prompt, input: df[0].Overview, temperature: 0.1,
      text: { format: { type: 'json_object' } },
    });
    assert.equal(typeof JSON.parse(r.output_text), 'object');
    const s = await server.client.responses.create({
      model: 'gpt-4o-mini', input: 'A movie as JSON.', temperature: 0.1,
      text: {
        format: {
          type: 'json_schema', name: 'movie', strict: true,
          schema: { type: 'object', properties: { title: { type: 'string' }, year: { type: 'integer' } }, required: ['title', 'year'], additionalProperties: false },
        },
      },
    });
    const movie = JSON.parse(s.output_text);
    assert.deepEqual(Object.keys(movie), ['title', 'year']);
    assert.equal(typeof movie.year, 'number');
    assert.equal(s.text.format.type, 'json_schema');
  });

  test('responses.stream sends OpenAI\'s events and its final response is the text streamed', async () => {
    const stream = server.client.responses.stream({ model: 'gpt-4o-mini', input: 'Tell a story.', max_output_tokens: 32 });
    const events = [];
    let deltas = '';
    stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
    for await (const e of stream) events.push(e);
    const final = await stream.finalResponse();
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done',
      final.status === 'incomplete' ? 'response.incomplete' : 'response.completed']);
    assert.ok(types.includes('response.output_text.delta'));
    events.forEach((e, i) => assert.equal(e.sequence_number, i));
    assert.ok(deltas.length > 0);
    assert.equal(final.output_text, deltas);
    assert.equal(events[2].item.id, final.output[0].id);
    assert.ok(final.usage.output_tokens > 0);
  });

  test('create({stream: true}) streams the same events', async () => {
    const stream = await server.client.responses.create({ model: 'gpt-4o-mini', input: 'Hi', max_output_tokens: 16, stream: true });
    let text = '', last;
    for await (const e of stream) {
      if (e.type === 'response.output_text.delta') text += e.delta;
      last = e;
    }
    assert.ok(['response.completed', 'response.incomplete'].includes(last.type));
    assert.equal(outputText(last.response), text);
  });

  test('input items: messages with input_text parts, a sent-back answer, then a new question', async () => {
    const first = await server.client.responses.create({
      model: 'gpt-4o-mini', max_output_tokens: 16,
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Name a colour.' }] }],
    });
    const second = await server.client.responses.create({
      model: 'gpt-4o-mini', max_output_tokens: 16,
      input: [{ role: 'user', content: 'Name a colour.' }, ...first.output, { role: 'user', content: 'Another one.' }],
    });
    assert.ok(second.usage.input_tokens > first.usage.input_tokens);
  });

  test('fields not honoured are refused with a 400 naming the param', async () => {
    const cases = [
      [{ previous_response_id: 'resp_123' }, 'previous_response_id', /does not store responses/],
      [{ background: true }, 'background', /not stored/],
      [{ tools: [{ type: 'web_search' }] }, 'tools[0].type', /only 'function'/],
      [{ reasoning: { summary: 'auto' } }, 'reasoning.summary', /summaries/],
      [{ frobnicate: 1 }, 'frobnicate', /Unrecognized/],
      [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type', /does not store/],
      [{ max_output_tokens: 4 }, 'max_output_tokens', /minimum/],
    ];
    for (const [extra, param, message] of cases) {
      await assert.rejects(server.client.responses.create({ model: 'gpt-4o-mini', input: 'hi', ...extra }), (e) => {
        assert.equal(e.status, 400, JSON.stringify(extra));
        assert.equal(e.param, param);
        assert.match(e.message, message);
        return true;
      });
    }
    await assert.rejects(server.client.responses.retrieve('resp_123'), (e) => e.status === 404 && /does not store/.test(e.message));
  });

  test('the guide\'s Example 1 as a /v1/responses batch: every answer parses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openbatch-responses-'));
    const tasks = df.map((row, index) => ({
      custom_id: `task-${index}`, method: 'POST', url: '/v1/responses',
      body: {
        model: 'gpt-4o-mini', temperature: 0.1, text: { format: { type: 'json_object' } },
        instructions: categorize_system_prompt, input: row.Overview,
      },
    }));
    const file_name = join(dir, 'batch_tasks_movies.jsonl');
    writeFileSync(file_name, tasks.map((t) => JSON.stringify(t) + '\n').join(''));
    const batch_file = await server.client.files.create({ file: createReadStream(file_name), purpose: 'batch' });
    const created = await server.client.batches.create({ input_file_id: batch_file.id, endpoint: '/v1/responses', completion_window: '24h' });
    assert.equal(created.endpoint, '/v1/responses');
    const batch = await waitForBatch(server.client, created.id);
    assert.equal(batch.status, 'completed');
    assert.deepEqual(batch.request_counts, { total: df.length, completed: df.length, failed: 0 });
    assert.ok(batch.usage.input_tokens > 0 && batch.usage.output_tokens > 0);
    const results = await fileLines(server.client, batch.output_file_id);
    assert.equal(results.length, df.length);
    assert.deepEqual(results.map((r) => r.custom_id).sort(), tasks.map((t) => t.custom_id).sort());
    for (const r of results) {
      assert.equal(r.response.status_code, 200);
      assert.match(r.response.body.id, /^resp_/);
      assert.equal(r.response.body.object, 'response');
      const parsed = JSON.parse(outputText(r.response.body));
      assert.equal(typeof parsed, 'object');
    }
  });

  test('a /v1/responses batch line with a refused field goes to the error file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openbatch-responses-'));
    const file_name = join(dir, 'tasks.jsonl');
    writeFileSync(file_name, [
      { custom_id: 'good', method: 'POST', url: '/v1/responses', body: { model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 16 } },
      { custom_id: 'bad', method: 'POST', url: '/v1/responses', body: { model: 'gpt-4o-mini', input: 'hi', previous_response_id: 'resp_1' } },
    ].map((t) => JSON.stringify(t) + '\n').join(''));
    const f = await server.client.files.create({ file: createReadStream(file_name), purpose: 'batch' });
    const b = await server.client.batches.create({ input_file_id: f.id, endpoint: '/v1/responses', completion_window: '24h' });
    const done = await waitForBatch(server.client, b.id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.request_counts, { total: 2, completed: 1, failed: 1 });
    const [error] = await fileLines(server.client, done.error_file_id);
    assert.equal(error.custom_id, 'bad');
    assert.equal(error.response.status_code, 400);
    assert.equal(error.response.body.error.param, 'previous_response_id');
  });
});

const weather = {
  type: 'function', name: 'get_weather', description: 'The current weather in a city.', strict: true,
  parameters: {
    type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
    required: ['city', 'unit'], additionalProperties: false,
  },
};

const qwen = MODELS && join(MODELS, 'qwen2.5-tiny.gguf');
describe('Responses tools on qwen2.5-tiny', { skip: !qwen || !existsSync(qwen) ? 'OPENBATCH_TEST_REAL_MODELS not set' : false }, () => {
  let server;
  before(async () => { server = await startServer({ model: qwen }); });
  after(async () => { await server?.stop(); });

  test('a function_call item whose arguments validate, and the round trip with its output', async () => {
    const input = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const first = await server.client.responses.create({
      model: 'gpt-4o-mini', temperature: 0, max_output_tokens: 200, input, tools: [weather],
      tool_choice: { type: 'function', name: 'get_weather' },
    });
    const calls = first.output.filter((i) => i.type === 'function_call');
    assert.equal(calls.length, 1, JSON.stringify(first.output));
    const call = calls[0];
    assert.match(call.id, /^fc_/);
    assert.match(call.call_id, /^call_/);
    assert.equal(call.name, 'get_weather');
    const args = JSON.parse(call.arguments);
    assert.deepEqual(Object.keys(args).sort(), ['city', 'unit']);
    assert.ok(['celsius', 'fahrenheit'].includes(args.unit));
    assert.equal(first.tools[0].name, 'get_weather');

    const second = await server.client.responses.create({
      model: 'gpt-4o-mini', max_output_tokens: 16, tools: [weather], tool_choice: 'none',
      input: [...input, ...first.output, { type: 'function_call_output', call_id: call.call_id, output: '{"temperature": 21}' }],
    });
    assert.equal(second.output.filter((i) => i.type === 'function_call').length, 0);
    assert.equal(second.output[0].type, 'message');
    assert.ok(second.usage.input_tokens > first.usage.input_tokens);
  });

  test('a streamed call: function_call_arguments deltas add up to the final arguments', async () => {
    const stream = server.client.responses.stream({
      model: 'gpt-4o-mini', temperature: 0, max_output_tokens: 200, tools: [weather], tool_choice: 'required',
      parallel_tool_calls: false, input: 'Weather in Oslo?',
    });
    let args = '';
    stream.on('response.function_call_arguments.delta', (e) => { args += e.delta; });
    const final = await stream.finalResponse();
    const call = final.output.find((i) => i.type === 'function_call');
    assert.ok(call, JSON.stringify(final.output));
    assert.equal(call.arguments, args);
    JSON.parse(call.arguments);
  });
});

describe('Responses with images on tiny-vision', { skip: !VISION_MODEL || !MMPROJ ? 'OPENBATCH_TEST_VISION_MODEL not set' : false }, () => {
  let server;
  before(async () => { server = await startServer({ model: VISION_MODEL, mmproj: MMPROJ }); });
  after(async () => { await server?.stop(); });

  test('an input_image part (a data: URL) is seen: its tokens count in input_tokens', async () => {
    const text = { type: 'input_text', text: 'Oak dining chair' };
    const ask = (content) => server.client.responses.create({
      model: 'gpt-4o-mini', max_output_tokens: 16, temperature: 0, input: [{ role: 'user', content }],
    });
    const without = await ask([text]);
    const withImage = await ask([text, { type: 'input_image', image_url: dataUrl('image/png', pngImage(32, 32, 3)), detail: 'low' }]);
    assert.ok(withImage.usage.input_tokens >= without.usage.input_tokens + 16,
      `${withImage.usage.input_tokens} vs ${without.usage.input_tokens}`);
    assert.equal(withImage.output[0].type, 'message');
  });
});
