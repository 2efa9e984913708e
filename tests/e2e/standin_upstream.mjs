// A stand-in for an OpenAI-compatible upstream server on loopback: every chat completion is answered
// after a fixed delay, with a JSON answer and fixed usage, so that a test (or a benchmark) can count
// tokens exactly and measure openbatch, not a model.
import { createServer } from 'node:http';

export const PROMPT_TOKENS = 11;
export const COMPLETION_TOKENS = 7;

// busyFirst: the first call of each conversation (by its last message) is answered 503, as a busy
// upstream answers. held: answers wait until release() (a batch stays in progress until the test says);
// holdAfter: N answers go out at once, the later ones wait so. answerBytes: each answer's content is
// padded to about that many bytes.
export async function startStandin({ delayMs = 50, busyFirst = false, held = false, holdAfter = Infinity, answerBytes = 0 } = {}) {
  let calls = 0;
  const seen = new Set();
  let holding = held;
  const waiting = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'standin' }] }));
        return;
      }
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'not here', type: 'invalid_request_error', param: null, code: null } }));
        return;
      }
      calls++;
      const request = JSON.parse(body);
      const last = request.messages[request.messages.length - 1].content;
      if (busyFirst && !seen.has(last)) {
        seen.add(last);
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'busy', type: 'server_error', param: null, code: null } }));
        return;
      }
      const answer = () => setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          id: `chatcmpl-${calls}`, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: request.model,
          choices: [{ index: 0, message: { role: 'assistant', content: JSON.stringify({ categories: ['drama'], summary: String(last).slice(0, 40), ...(answerBytes ? { padding: 'x'.repeat(answerBytes) } : {}) }) }, finish_reason: 'stop', logprobs: null }],
          usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: COMPLETION_TOKENS, total_tokens: PROMPT_TOKENS + COMPLETION_TOKENS },
        }));
      }, delayMs).unref(); // a closed stand-in with requests still held does not keep node alive
      if (holding || calls > holdAfter) waiting.push(answer); else answer();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    calls: () => calls,
    held: () => waiting.length,
    release: () => { holding = false; holdAfter = Infinity; waiting.splice(0).forEach((answer) => answer()); },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}
