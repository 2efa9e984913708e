// Models with real tokenizers and chat templates (issue 13): make-model's qwen2.5-tiny, llama3-tiny and
// qwen3-tiny carry the vocabularies and Jinja templates of llama.cpp's pinned source. Through the
// official openai package: the prompt openbatch decodes is llama-server's, token for token (the same
// conversations sent to llama-server built from the same source); the guide's Example 1; tool calls
// synchronously, streamed and in a batch; a tool result round trip; thinking; refused fields.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, waitForBatch, fileLines } from './harness.mjs';
import { readCsv, run_batch, get_categories } from '../../examples/guide_example1.mjs';
import { weather } from './weather_tool.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const MODELS = process.env.OPENBATCH_TEST_REAL_MODELS;
const LLAMA_SERVER = process.env.OPENBATCH_LLAMA_SERVER;
const df = readCsv(join(here, '../../examples/data/movies.csv')).slice(0, 8);

const lookup = {
  type: 'function',
  function: { name: 'lookup_movie', parameters: { type: 'object', properties: { title: { type: 'string' } }, required: ['title'] } },
};

// The arguments of a get_weather call, parsed and checked against its parameters.
function checkWeatherArguments(call) {
  assert.equal(call.type, 'function');
  assert.match(call.id, /^call_/);
  assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.deepEqual(Object.keys(args).sort(), ['city', 'unit']);
  assert.equal(typeof args.city, 'string');
  assert.ok(['celsius', 'fahrenheit'].includes(args.unit), args.unit);
}

const conversations = {
  'no system message': { messages: [{ role: 'user', content: 'What is the weather in Paris?' }] },
  'system and user': {
    messages: [{ role: 'system', content: 'You are a terse assistant.' }, { role: 'user', content: 'Name a colour.' }],
  },
  'several turns': {
    messages: [
      { role: 'system', content: 'You answer in one word.' },
      { role: 'user', content: 'Capital of France?' },
      { role: 'assistant', content: 'Paris.' },
      { role: 'user', content: 'And of Italy?' },
    ],
  },
  'with tools': { messages: [{ role: 'user', content: 'What is the weather in Paris?' }], tools: [weather, lookup] },
  'with a tool result': {
    tools: [weather],
    messages: [
      { role: 'user', content: 'What is the weather in Paris?' },
      {
        role: 'assistant', content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21, "sky": "clear"}' },
    ],
  },
};

// llama-server from the same llama.cpp source, on a loopback port: the prompt tokens it counts.
async function startLlamaServer(model) {
  const proc = spawn(LLAMA_SERVER, ['-m', model, '--host', '127.0.0.1', '--port', '0', '-np', '1', '-c', '4096', '--jinja',
    '--no-webui'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`llama-server did not start:\n${log}`)), 60000);
    const onData = (d) => {
      log += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`llama-server exited with ${code}:\n${log}`)); });
  });
  // It answers 503 while the model loads.
  for (let i = 0; i < 300; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
    if (r?.ok) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    async promptTokens(body) {
      const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, max_tokens: 1, temperature: 0 }),
      });
      const j = await r.json();
      assert.equal(r.status, 200, JSON.stringify(j));
      return j.usage.prompt_tokens;
    },
    stop() { proc.kill('SIGKILL'); },
  };
}

for (const shape of ['qwen2.5-tiny', 'llama3-tiny', 'qwen3-tiny']) {
  const model = MODELS && join(MODELS, `${shape}.gguf`);
  describe(shape, { skip: !model || !existsSync(model) ? 'OPENBATCH_TEST_REAL_MODELS not set' : false }, () => {
    let server;
    before(async () => { server = await startServer({ model }); });
    after(async () => { await server?.stop(); });

    test('prompt_tokens equal llama-server\'s for the same conversations', { skip: !LLAMA_SERVER && 'OPENBATCH_LLAMA_SERVER not set' }, async () => {
      const llama = await startLlamaServer(model);
      try {
        for (const [name, conv] of Object.entries(conversations)) {
          const ours = await server.client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 1, temperature: 0, ...conv });
          const theirs = await llama.promptTokens(conv);
          assert.equal(ours.usage.prompt_tokens, theirs, `${shape}, ${name}`);
        }
      } finally { llama.stop(); }
    });

    test('the guide\'s Example 1: get_categories and the batch', async () => {
      JSON.parse(await get_categories(server.client, df[0].Overview));
      const dir = mkdtempSync(join(tmpdir(), 'openbatch-real-'));
      const { batch_job, matched } = await run_batch(server.client, df, { dir, pollMs: 200, log: () => {} });
      assert.equal(batch_job.status, 'completed');
      assert.deepEqual(batch_job.request_counts, { total: df.length, completed: df.length, failed: 0 });
      assert.ok(batch_job.usage.input_tokens_details.cached_tokens > 0, 'the shared system prompt is reused');
      for (const m of matched) JSON.parse(m.result);
    });

    test('tool_choice required and named return calls whose arguments validate', async () => {
      for (const tool_choice of ['required', { type: 'function', function: { name: 'get_weather' } }]) {
        const r = await server.client.chat.completions.create({
          model: 'gpt-4o-mini', temperature: 0, max_tokens: 200, tools: [weather, lookup], tool_choice,
          parallel_tool_calls: false,
          messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
        });
        const choice = r.choices[0];
        assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(choice));
        assert.equal(choice.message.content, null);
        assert.ok(choice.message.tool_calls.length >= 1);
        if (typeof tool_choice === 'object') {
          assert.equal(choice.message.tool_calls.length, 1);
          checkWeatherArguments(choice.message.tool_calls[0]);
        } else {
          for (const call of choice.message.tool_calls) JSON.parse(call.function.arguments);
        }
      }
    });

    test('streamed tool calls add up to a call that validates', async () => {
      const stream = await server.client.chat.completions.create({
        model: 'gpt-4o-mini', temperature: 0, max_tokens: 200, stream: true, tools: [weather],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        messages: [{ role: 'user', content: 'Weather in Oslo?' }],
      });
      const calls = [];
      let finish = null;
      for await (const chunk of stream) {
        const c = chunk.choices[0];
        if (!c) continue;
        if (c.finish_reason) finish = c.finish_reason;
        for (const d of c.delta.tool_calls ?? []) {
          if (!calls[d.index]) {
            assert.ok(d.id && d.function.name, 'the first piece of a call carries its id and name');
            calls[d.index] = { id: d.id, type: d.type, function: { name: d.function.name, arguments: '' } };
          }
          calls[d.index].function.arguments += d.function.arguments ?? '';
        }
      }
      assert.equal(finish, 'tool_calls');
      assert.equal(calls.length, 1);
      checkWeatherArguments(calls[0]);
    });

    test('a conversation with a tool result round-trips', async () => {
      const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
      const first = await server.client.chat.completions.create({
        model: 'gpt-4o-mini', temperature: 0, max_tokens: 200, tools: [weather], tool_choice: 'required', messages,
        parallel_tool_calls: false, reasoning_effort: 'none',  // greedy decoding of a random thinking model would think to max_tokens
      });
      assert.equal(first.choices[0].finish_reason, 'tool_calls');
      const message = first.choices[0].message;
      messages.push(message);  // as the SDK returned it (refusal, annotations and all)
      for (const call of message.tool_calls) {
        messages.push({ role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' });
      }
      const second = await server.client.chat.completions.create({
        model: 'gpt-4o-mini', max_tokens: 16, tools: [weather], tool_choice: 'none', messages,
      });
      assert.ok(second.usage.prompt_tokens > first.usage.prompt_tokens);
      assert.equal(second.choices[0].message.tool_calls, undefined);
      assert.equal(typeof second.choices[0].message.content, 'string');
    });

    test('tool calls in a batch', async () => {
      const lines = df.slice(0, 4).map((row, i) => JSON.stringify({
        custom_id: `w${i}`, method: 'POST', url: '/v1/chat/completions',
        body: {
          model: 'gpt-4o-mini', temperature: 0, max_tokens: 200, tools: [weather],
          tool_choice: { type: 'function', function: { name: 'get_weather' } },
          messages: [{ role: 'user', content: `Weather for the city of this film: ${row.Overview}` }],
        },
      }));
      const dir = mkdtempSync(join(tmpdir(), 'openbatch-tools-'));
      writeFileSync(join(dir, 'tools.jsonl'), lines.join('\n') + '\n');
      const file = await server.client.files.create({ file: new File([lines.join('\n') + '\n'], 'tools.jsonl'), purpose: 'batch' });
      const batch = await server.client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      const done = await waitForBatch(server.client, batch.id);
      assert.equal(done.status, 'completed');
      const out = await fileLines(server.client, done.output_file_id);
      assert.equal(out.length, 4);
      for (const line of out) {
        const choice = line.response.body.choices[0];
        assert.equal(choice.finish_reason, 'tool_calls');
        checkWeatherArguments(choice.message.tool_calls[0]);
      }
    });

    test('fields this server does not honour are refused with their param', async () => {
      const base = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
      for (const [extra, param] of [
        [{ audio: { voice: 'alloy', format: 'wav' } }, 'audio'],
        [{ modalities: ['text', 'audio'] }, 'modalities'],
        [{ prediction: { type: 'content', content: 'x' } }, 'prediction'],
        [{ web_search_options: {} }, 'web_search_options'],
        [{ frobnicate: 1 }, 'frobnicate'],
        [{ tool_choice: 'required' }, 'tool_choice'],
        [{ tools: [weather], tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice.function.name'],
        [{ tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'tools[0].type'],
        [{ reasoning_effort: 'extreme' }, 'reasoning_effort'],
      ]) {
        await assert.rejects(server.client.chat.completions.create({ ...base, ...extra }), (e) => {
          assert.equal(e.status, 400, JSON.stringify(extra));
          assert.equal(e.error.param, param);
          assert.equal(e.error.type, 'invalid_request_error');
          return true;
        });
      }
      // Taken without effect (README): metadata for the caller, OpenAI's routing hints.
      const ok = await server.client.chat.completions.create({
        ...base, max_tokens: 2, store: false, metadata: { job: 'x' }, user: 'u1', service_tier: 'auto', prompt_cache_key: 'k',
        safety_identifier: 's',
      });
      assert.equal(ok.object, 'chat.completion');
    });

    if (shape === 'qwen3-tiny') {
      test('a thinking model\'s reasoning goes to reasoning_content, and not with reasoning_effort "none"', async () => {
        const ask = (extra) => server.client.chat.completions.create({
          model: 'gpt-4o-mini', temperature: 0.7, seed: 3, max_tokens: 120,
          messages: [{ role: 'user', content: 'Describe this film in JSON: a heist in Rome.' }],
          response_format: { type: 'json_object' }, ...extra,
        });
        const thinking = await ask({});
        const m = thinking.choices[0].message;
        assert.ok(m.reasoning_content?.length > 0, JSON.stringify(m));
        assert.ok(!m.content.includes('<think>'));
        JSON.parse(m.content);  // the JSON constraint applies to the answer after the thinking
        const details = thinking.usage.completion_tokens_details;
        assert.ok(details.reasoning_tokens > 0 && details.reasoning_tokens < thinking.usage.completion_tokens);

        const plain = await ask({ reasoning_effort: 'none' });
        assert.equal(plain.choices[0].message.reasoning_content, undefined);
        assert.equal(plain.usage.completion_tokens_details.reasoning_tokens, 0);
        JSON.parse(plain.choices[0].message.content);
      });
    }
  });
}
