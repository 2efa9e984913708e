// Chat Completions through the official openai npm package against the real server (issue 2).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { startServer, waitForBatch } from './harness.mjs';
import { startStandin } from './standin_upstream.mjs';
// The guide's system prompt (Example 1, Step 2), word for word.
import { categorize_system_prompt } from '../../examples/guide_example1.mjs';

const descriptions = [
  'Two imprisoned men bond over a number of years, finding solace and eventual redemption through acts of common decency.',
  'An organized crime dynasty\'s aging patriarch transfers control of his clandestine empire to his reluctant son.',
  'When the menace known as the Joker wreaks havoc and chaos on the people of Gotham, Batman must accept one of the greatest tests.',
];

let server;
let client;
before(async () => {
  server = await startServer({ args: ['--api-key', 'sk-test'] });
  client = server.client;
});
after(async () => { await server?.stop(); });

async function get_categories(description) {
  const response = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    temperature: 0.1,
    response_format: { type: 'json_object' },
    messages: [
      { role: 'system', content: categorize_system_prompt },
      { role: 'user', content: description },
    ],
  });
  return response;
}

test('the guide\'s get_categories answers JSON that parses, in OpenAI\'s shape', async () => {
  for (const description of descriptions) {
    const response = await get_categories(description);
    assert.match(response.id, /^chatcmpl-/);
    assert.equal(response.object, 'chat.completion');
    assert.equal(response.model, 'gpt-4o-mini');
    assert.equal(typeof response.created, 'number');
    assert.equal(typeof response.system_fingerprint, 'string');
    assert.equal(response.choices.length, 1);
    const choice = response.choices[0];
    assert.equal(choice.index, 0);
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.message.refusal, null);
    assert.equal(choice.finish_reason, 'stop');
    const parsed = JSON.parse(choice.message.content);
    assert.equal(typeof parsed, 'object');
    assert.ok(!Array.isArray(parsed) && parsed !== null);
    const u = response.usage;
    assert.ok(u.prompt_tokens > 100, `prompt_tokens ${u.prompt_tokens}`);
    assert.ok(u.completion_tokens > 0);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    assert.equal(typeof u.prompt_tokens_details.cached_tokens, 'number');
  }
});

test('the shared system prompt is reused: cached_tokens counts it', async () => {
  await get_categories(descriptions[0]);
  const second = await get_categories(descriptions[1]);
  assert.ok(second.usage.prompt_tokens_details.cached_tokens > 100,
    `cached ${second.usage.prompt_tokens_details.cached_tokens}`);
  assert.ok(second.usage.prompt_tokens_details.cached_tokens < second.usage.prompt_tokens);
});

test('max_tokens stops generation with finish_reason "length"', async () => {
  for (const field of ['max_tokens', 'max_completion_tokens']) {
    const r = await client.chat.completions.create({
      model: 'gpt-4o-mini', [field]: 2, seed: 7, temperature: 1,
      logit_bias: {}, messages: [{ role: 'user', content: 'Write a long story about a chair.' }],
    });
    assert.equal(r.choices[0].finish_reason, 'length', JSON.stringify(r));
    assert.equal(r.usage.completion_tokens, 2);
  }
});

test('the same seed gives the same text; n gives several choices', async () => {
  const ask = () => client.chat.completions.create({
    model: 'gpt-4o-mini', seed: 42, temperature: 1.0, max_tokens: 24,
    messages: [{ role: 'user', content: 'Describe an oak table.' }],
  });
  const a = await ask();
  const b = await ask();
  assert.ok(a.choices[0].message.content.length > 0);
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  const many = await client.chat.completions.create({
    model: 'gpt-4o-mini', n: 3, seed: 5, max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }],
  });
  assert.deepEqual(many.choices.map((c) => c.index), [0, 1, 2]);
});

test('json_schema answers validate against the schema', async () => {
  const schema = {
    type: 'object',
    properties: {
      categories: { type: 'array', items: { type: 'string' } },
      summary: { type: 'string' },
      year: { type: 'integer' },
    },
    required: ['categories', 'summary', 'year'],
    additionalProperties: false,
  };
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({
      model: 'gpt-4o-mini', seed, temperature: 0.7,
      response_format: { type: 'json_schema', json_schema: { name: 'movie', strict: true, schema } },
      messages: [{ role: 'system', content: categorize_system_prompt }, { role: 'user', content: descriptions[2] }],
    });
    const v = JSON.parse(r.choices[0].message.content);
    assert.deepEqual(Object.keys(v).sort(), ['categories', 'summary', 'year']);
    assert.ok(Array.isArray(v.categories) && v.categories.every((c) => typeof c === 'string'));
    assert.equal(typeof v.summary, 'string');
    assert.ok(Number.isInteger(v.year));
  }
});

test('a stream\'s chunks add up to the non-streamed text, with usage at the end', async () => {
  const body = {
    model: 'gpt-4o-mini', seed: 11, temperature: 0.8, max_tokens: 40,
    messages: [{ role: 'user', content: 'Tell me about a blue sofa.' }],
  };
  const whole = await client.chat.completions.create(body);
  const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks >= 3);
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
});

test('32 concurrent requests are all answered correctly', async () => {
  const requests = Array.from({ length: 32 }, (_, i) => client.chat.completions.create({
    model: 'gpt-4o-mini', temperature: 0.1, seed: i,
    response_format: { type: 'json_object' },
    messages: [{ role: 'system', content: categorize_system_prompt },
      { role: 'user', content: `${descriptions[i % 3]} (variant ${i})` }],
  }));
  const results = await Promise.all(requests);
  for (const r of results) {
    assert.equal(r.choices[0].finish_reason, 'stop');
    JSON.parse(r.choices[0].message.content);
  }
});

test('logprobs come back per token with top alternatives', async () => {
  const r = await client.chat.completions.create({
    model: 'gpt-4o-mini', seed: 3, max_tokens: 5, logprobs: true, top_logprobs: 3,
    messages: [{ role: 'user', content: 'Name a color.' }],
  });
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, r.usage.completion_tokens);
  for (const t of lp) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    assert.ok(t.top_logprobs[0].logprob >= t.top_logprobs[2].logprob);
  }
});

test('stop strings end the text before them', async () => {
  const base = { model: 'gpt-4o-mini', seed: 9, temperature: 1, max_tokens: 30, messages: [{ role: 'user', content: 'Go on.' }] };
  const free = (await client.chat.completions.create(base)).choices[0].message.content;
  assert.ok(free.length >= 4, free);
  const stop = free.slice(2, 4);
  const r = await client.chat.completions.create({ ...base, stop: [stop] });
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.choices[0].message.content, free.slice(0, free.indexOf(stop)));
});

async function expectError(promise, status, { param, code, type = 'invalid_request_error' } = {}) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, status, err.message);
    assert.equal(err.error.type, type);
    if (param !== undefined) assert.equal(err.error.param, param);
    if (code !== undefined) assert.equal(err.error.code, code);
    assert.equal(typeof err.error.message, 'string');
    return true;
  });
}

test('bad input gets OpenAI\'s errors', async () => {
  const msgs = [{ role: 'user', content: 'hi' }];
  await expectError(client.chat.completions.create({ model: 'gpt-5-ultra', messages: msgs }), 404, { code: 'model_not_found' });
  await expectError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }), 400, { param: 'messages', code: 'empty_array' });
  await expectError(client.chat.completions.create({ model: 'gpt-4o-mini' }), 400, { param: 'messages', code: 'missing_required_parameter' });
  await expectError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: msgs, temperature: 3 }), 400, { param: 'temperature', code: 'decimal_above_max_value' });
  await expectError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: msgs, temperature: 'hot' }), 400, { param: 'temperature', code: 'invalid_type' });
  await expectError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: msgs, max_tokens: -1 }), 400, { param: 'max_tokens', code: 'integer_below_min_value' });
  await expectError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'wizard', content: 'x' }] }), 400, { param: 'messages[0].role', code: 'invalid_value' });
  await expectError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: msgs, response_format: { type: 'json_object' } }), 400, { param: 'messages' });
  await expectError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }] }), 400, { code: 'image_not_supported' });
  await expectError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'word '.repeat(20000) }] }), 400, { param: 'messages', code: 'context_length_exceeded' });
});

test('malformed JSON and missing keys get 400 and 401 envelopes', async () => {
  const url = `${server.baseURL}/chat/completions`;
  const bad = await fetch(url, { method: 'POST', headers: { Authorization: 'Bearer sk-test', 'Content-Type': 'application/json' }, body: '{"model": ' });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.type, 'invalid_request_error');
  const anon = await fetch(url, { method: 'POST', body: '{}' });
  assert.equal(anon.status, 401);
  assert.ok((await anon.json()).error.message.includes('API key'));
  const wrong = new OpenAI({ baseURL: server.baseURL, apiKey: 'sk-wrong-key-123', maxRetries: 0 });
  await expectError(wrong.models.list(), 401, { code: 'invalid_api_key' });
  const health = await fetch(`${server.baseURL.replace('/v1', '')}/health`);
  assert.equal(health.status, 200);
});

test('models list and retrieve', async () => {
  const list = await client.models.list();
  assert.ok(list.data.some((m) => m.id === 'gpt-4o-mini'));
  const m = await client.models.retrieve('gpt-4o-mini');
  assert.equal(m.object, 'model');
  await expectError(client.models.retrieve('nope'), 404, { code: 'model_not_found' });
});

test('GET /metrics counts the tokens the answers report, in all and per model, with latency histograms, behind the API key', async () => {
  const model = 'model="gpt-4o-mini"';
  const histograms = ['openbatch_queue_wait_seconds', 'openbatch_time_to_first_token_seconds', 'openbatch_generation_duration_seconds'];
  const scrape = async () => {
    const res = await fetch(`${server.baseURL.replace(/\/v1$/, '')}/metrics`, { headers: { Authorization: 'Bearer sk-test' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (name) => {
      const line = new RegExp(`^${name.replace(/[{}"+.]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
      assert.ok(line, `${name} not in:\n${text}`);
      return Number(line[1]);
    };
    const interactive = `${model},priority="interactive"`;
    const latency = Object.fromEntries(histograms.map((h) => [h, {
      count: value(`${h}_count{${interactive}}`),
      inf: value(`${h}_bucket{${interactive},le="+Inf"}`),
      le600: value(`${h}_bucket{${interactive},le="600"}`),
      le0005: value(`${h}_bucket{${interactive},le="0.005"}`),
      sum: value(`${h}_sum{${interactive}}`),
    }]));
    return {
      info: value(`openbatch_model_info{${model},state="loaded"}`),
      completion: value('openbatch_completion_tokens_total'),
      prompt: value('openbatch_prompt_tokens_total'),
      ok: value('openbatch_generations_total{priority="interactive",outcome="ok"}'),
      modelCompletion: value(`openbatch_model_completion_tokens_total{${model}}`),
      modelPrompt: value(`openbatch_model_prompt_tokens_total{${model}}`),
      modelOk: value(`openbatch_model_generations_total{${interactive},outcome="ok"}`),
      modelInFlight: value(`openbatch_model_generations_in_flight{${interactive}}`),
      embeddingCalls: value(`openbatch_embedding_duration_seconds_count{${interactive}}`),
      embeddingInf: value(`openbatch_embedding_duration_seconds_bucket{${interactive},le="+Inf"}`),
      latency,
    };
  };
  const before = await scrape();
  assert.equal(before.info, 1);
  const answers = await Promise.all([1, 2, 3].map((seed) => client.chat.completions.create({
    model: 'gpt-4o-mini', seed, max_tokens: 12, messages: [{ role: 'user', content: `Count ${seed}` }],
  })));
  // A streamed call: its first token is timed when its first text goes out.
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini', seed: 4, max_tokens: 12, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Count 4' }],
  });
  for await (const chunk of stream) if (chunk.usage) answers.push(chunk);
  assert.equal(answers.length, 4);
  // An embeddings call is timed on its own histogram.
  await client.embeddings.create({ model: 'gpt-4o-mini', input: ['one', 'two'] });
  const after = await scrape();
  assert.equal(after.embeddingCalls - before.embeddingCalls, 1);
  assert.equal(after.embeddingInf, after.embeddingCalls);
  const completion = answers.reduce((n, a) => n + a.usage.completion_tokens, 0);
  const prompt = answers.reduce((n, a) => n + a.usage.prompt_tokens, 0);
  assert.equal(after.ok - before.ok, 4);
  assert.equal(after.completion - before.completion, completion);
  assert.equal(after.prompt - before.prompt, prompt);
  assert.equal(after.modelOk - before.modelOk, 4);
  assert.equal(after.modelCompletion - before.modelCompletion, completion);
  assert.equal(after.modelPrompt - before.modelPrompt, prompt);
  assert.equal(after.modelInFlight, 0);
  for (const h of histograms) {
    const [b, a] = [before.latency[h], after.latency[h]];
    assert.equal(a.count - b.count, 4, h);
    assert.equal(a.inf, a.count, `${h}: the +Inf bucket holds every observation`);
    assert.equal(a.le600 - b.le600, 4, `${h}: none took ten minutes`);
    assert.ok(a.le0005 <= a.le600, h);
    assert.ok(a.sum >= b.sum, h);
  }
  // Finished generations took some time.
  assert.ok(after.latency.openbatch_generation_duration_seconds.sum - before.latency.openbatch_generation_duration_seconds.sum > 0);
  const open = await fetch(`${server.baseURL.replace(/\/v1$/, '')}/metrics`);
  assert.equal(open.status, 401);
});

test('GET /metrics times calls sent to an upstream: queue wait, first token (the answer of a call not streamed), duration', async (t) => {
  const standin = await startStandin({ delayMs: 20 });
  t.after(() => standin.close());
  const up = await startServer({ model: null, args: ['--upstream', standin.baseURL] });
  t.after(() => up.stop());
  await Promise.all([1, 2, 3].map((i) => up.client.chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: `q${i}` }],
  })));
  const text = await (await fetch(`http://127.0.0.1:${up.port}/metrics`, { headers: { Authorization: 'Bearer sk-test' } })).text();
  const labels = 'model="gpt-4o-mini",priority="interactive"';
  for (const h of ['openbatch_queue_wait_seconds', 'openbatch_time_to_first_token_seconds', 'openbatch_generation_duration_seconds']) {
    assert.match(text, new RegExp(`^${h}_count\\{${labels}\\} 3$`, 'm'), text);
  }
  // Every answer came after the stand-in's 20 ms: none is in the 10 ms bucket of the first token or the duration.
  assert.match(text, new RegExp(`^openbatch_time_to_first_token_seconds_bucket\\{${labels},le="0.01"\\} 0$`, 'm'));
  assert.match(text, new RegExp(`^openbatch_generation_duration_seconds_bucket\\{${labels},le="0.01"\\} 0$`, 'm'));
  assert.match(text, /^openbatch_model_generations_total\{model="gpt-4o-mini",priority="interactive",outcome="ok"\} 3$/m);
});

test('the JSON text of a chat completion, a batch and a result line starts with "id" then "object", as OpenAI writes it', async () => {
  const post = (path, body) => fetch(`${server.baseURL}${path}`, {
    method: 'POST', headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const body = { model: 'gpt-4o-mini', max_tokens: 4, messages: [{ role: 'user', content: 'Hi' }] };
  const chat = await (await post('/chat/completions', body)).text();
  assert.match(chat, /^\{"id":"chatcmpl-[^"]+","object":"chat\.completion","created":\d+,"model":"gpt-4o-mini","choices":/);

  const file = await client.files.create({
    file: await toFile(Buffer.from(JSON.stringify({ custom_id: 'k', method: 'POST', url: '/v1/chat/completions', body })), 'k.jsonl'),
    purpose: 'batch',
  });
  const batch = await (await post('/batches', {
    input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { zeta: '1', alpha: '2' },
  })).text();
  assert.match(batch, /^\{"id":"batch_[^"]+","object":"batch","endpoint":"\/v1\/chat\/completions",/);
  assert.match(batch, /"metadata":\{"zeta":"1","alpha":"2"\}/);
  const done = await waitForBatch(client, JSON.parse(batch).id);
  assert.equal(done.status, 'completed');
  const line = await (await client.files.content(done.output_file_id)).text();
  assert.match(line, /^\{"id":"batch_req_[^"]+","custom_id":"k","response":\{"status_code":200,"request_id":"[^"]+","body":\{"id":"chatcmpl-[^"]+","object":"chat\.completion",/);
});
