// A stand-in for an OpenAI-compatible upstream server on loopback: every chat completion is answered
// after a fixed delay, with a JSON answer and fixed usage, so that a test (or a benchmark) can count
// tokens exactly and measure openbatch, not a model.
//
// A gate decides when answers go out, so that a test interrupts, kills or cancels at a point it chose
// rather than at whatever point the machine's speed gives: answers past the gate's allowance are held
// (the request stays open) until the test opens it further.
import { createServer } from 'node:http';

export const PROMPT_TOKENS = 11;
export const COMPLETION_TOKENS = 7;

// busyFirst: the first call of each conversation (by its last message) is answered 503, as a busy
// upstream answers (a 503 is never held). held: every answer waits until the test opens the gate (a
// batch stays in progress until the test says); holdAfter: N answers go out, the later ones wait so.
// answerBytes: each answer's content is padded to about that many bytes. jitterMs: each delay is
// delayMs plus up to jitterMs more. maxInFlight: a chat call that arrives while that many are in
// flight (received, not yet answered) is answered 429 at once, as vLLM or a rate-limited API answers.
// down: the stand-in starts with its port closed (connections refused) until up().
//
// The gate: open(k) lets k more answers out (the held ones first, in arrival order), release() every
// one from now on. answered() counts the answers written (200s), held() the requests waiting at the
// gate; waitFor(() => cond) resolves once cond holds (checked as requests come and answers go).
// inFlight() counts the chat calls received and not yet answered (429s never count), peakInFlight()
// the most at once, throttled() the 429s, listed() the GET /v1/models calls; down() closes the port (connections refused), up() opens it
// again on the same port.
export async function startStandin({ delayMs = 50, jitterMs = 0, busyFirst = false, held = false, holdAfter = Infinity, answerBytes = 0, maxInFlight = Infinity, down = false } = {}) {
  let calls = 0;
  let answered = 0;
  let inFlight = 0;
  let peakInFlight = 0;
  let throttled = 0;
  let listed = 0;
  const seen = new Set();
  let allowance = held ? 0 : holdAfter;  // answers that may still go out before the gate holds them
  const waiting = [];
  const watchers = new Set();
  const changed = () => watchers.forEach((w) => w());
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/v1/models') {
        listed++;
        changed();
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
      if (inFlight >= maxInFlight) {
        throttled++;
        res.writeHead(429, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'too many requests in flight', type: 'rate_limit_error', param: null, code: null } }));
        return;
      }
      const request = JSON.parse(body);
      const last = request.messages[request.messages.length - 1].content;
      if (busyFirst && !seen.has(last)) {
        seen.add(last);
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'busy', type: 'server_error', param: null, code: null } }));
        return;
      }
      let gone = false;
      inFlight++;
      peakInFlight = Math.max(peakInFlight, inFlight);
      res.on('close', () => { inFlight--; });
      const answer = () => setTimeout(() => {
        if (gone) return;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          id: `chatcmpl-${calls}`, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: request.model,
          choices: [{ index: 0, message: { role: 'assistant', content: JSON.stringify({ categories: ['drama'], summary: String(last).slice(0, 40), ...(answerBytes ? { padding: 'x'.repeat(answerBytes) } : {}) }) }, finish_reason: 'stop', logprobs: null }],
          usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: COMPLETION_TOKENS, total_tokens: PROMPT_TOKENS + COMPLETION_TOKENS },
        }));
        answered++;
        changed();
      }, delayMs + Math.random() * jitterMs).unref(); // a closed stand-in with requests still held does not keep node alive
      // A client that goes away (a killed run or server) takes its held request off the gate. Its
      // socket ends without closing (the server keeps a half-open socket for a pending answer).
      const socket = req.socket;
      const leave = () => {
        socket.off('end', leave);
        if (res.writableFinished || gone) return;
        gone = true;
        const at = waiting.indexOf(answer);
        if (at >= 0) waiting.splice(at, 1);
        changed();
      };
      socket.on('end', leave);
      res.on('close', leave);
      res.on('finish', () => socket.off('end', leave));
      if (allowance > 0) {
        allowance--;
        answer();
      } else {
        waiting.push(answer);
      }
      changed();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const close = () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); });
  if (down) await close();
  const open = (k) => {
    allowance += k;
    while (allowance > 0 && waiting.length) {
      allowance--;
      waiting.shift()();
    }
  };
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    calls: () => calls,
    answered: () => answered,
    inFlight: () => inFlight,
    peakInFlight: () => peakInFlight,
    throttled: () => throttled,
    listed: () => listed,
    down: close,
    up: () => new Promise((r) => server.listen(port, '127.0.0.1', r)),
    held: () => waiting.length,
    open,
    release: () => open(Infinity),
    // Resolves once cond() is true; rejects after timeoutMs, saying what it waited for.
    waitFor: (cond, what = String(cond), timeoutMs = 60000) => new Promise((resolve, reject) => {
      const check = () => {
        if (!cond()) return;
        watchers.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`stand-in: still waiting for ${what} (answered ${answered}, held ${waiting.length})`));
      }, timeoutMs);
      watchers.add(check);
      check();
    }),
    close: () => (server.listening ? close() : Promise.resolve()),
  };
}
