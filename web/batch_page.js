// #/batches/ID : one batch. Its status timeline, counts, usage and metadata, the chart of its run (from
// GET /v1/batches/{id}/progress), the first lines of its output file and the lines of its error file,
// downloads and cancel. While it runs, why it waits for its model, if it does (GET /web/data/batches/{id}).
// Refreshed every 2 s until the batch has ended.
import {
  apiJson, postJson, fileHead, downloadFile, el, statusPill, formatNumber, formatDuration, formatTime,
  TERMINAL, STATUS_LABELS,
} from './api.js';
import { progressChart } from './chart.js';

const OUTPUT_LINES = 5;
const ERROR_LINES = 50;

// The steps a batch went through, with their times: created, in progress, finalizing, and how it ended.
function timelineSteps(b) {
  const steps = [{ key: 'created', label: 'created', at: b.created_at }];
  if (b.failed_at && !b.in_progress_at) {
    steps.push({ key: 'failed', label: 'failed validation', at: b.failed_at, bad: true });
    return steps;
  }
  steps.push({ key: 'in_progress', label: 'in progress', at: b.in_progress_at });
  if (b.cancelling_at || b.cancelled_at) {
    steps.push({ key: 'cancelling', label: 'cancelling', at: b.cancelling_at });
    steps.push({ key: 'cancelled', label: 'cancelled', at: b.cancelled_at, bad: true });
  } else if (b.expired_at) {
    steps.push({ key: 'expired', label: 'expired', at: b.expired_at, bad: true });
  } else {
    steps.push({ key: 'finalizing', label: 'finalizing', at: b.finalizing_at });
    steps.push({ key: 'completed', label: 'completed', at: b.completed_at });
  }
  return steps;
}

function timeline(b) {
  const steps = timelineSteps(b);
  const now = Date.now() / 1000;
  let prev = null;
  const items = steps.map((s, i) => {
    const reached = !!s.at;
    const current = reached && !steps.slice(i + 1).some((n) => n.at) && !TERMINAL.has(b.status);
    const since = reached && prev ? (s.at - prev < 1 ? '< 1 s' : s.at - prev < 60 ? `${s.at - prev} s` : formatDuration(s.at - prev)) : '';
    if (reached) prev = s.at;
    // The step the batch is in now shows how long it has been there.
    const running = current ? `for ${formatDuration(now - s.at)}` : '';
    return el('li', { class: `step${reached ? ' reached' : ''}${current ? ' current' : ''}${s.bad ? ' bad' : ''}`, 'data-step': s.key },
      el('span', { class: 'dot' }),
      el('span', { class: 'label' }, s.label),
      el('time', { datetime: reached ? new Date(s.at * 1000).toISOString() : undefined }, reached ? formatTime(s.at) : '—'),
      el('span', { class: 'muted small' }, since ? `+${since}` : running));
  });
  return el('ol', { class: 'timeline', id: 'timeline' }, items);
}

function card(title, ...body) { return el('section', { class: 'card' }, el('h3', {}, title), ...body); }
function kv(rows) {
  return el('dl', { class: 'kv' }, rows.filter(Boolean).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

// The answer of an output line, shortened: the message's text, or what an embedding is.
function answerOf(line) {
  const body = line.response?.body;
  if (!body) return '';
  if (body.choices) {
    const m = body.choices[0]?.message;
    return m?.content ?? (m?.tool_calls ? JSON.stringify(m.tool_calls) : '');
  }
  if (body.data && body.object === 'list') return `${body.data.length} embedding(s) of ${body.data[0]?.embedding?.length ?? '?'} dimensions`;
  return JSON.stringify(body);
}
function clip(s, n = 240) { return s.length > n ? `${s.slice(0, n)}…` : s; }

function outputTable(lines) {
  return el('table', { class: 'lines cards', id: 'output-lines' },
    el('thead', {}, el('tr', {}, el('th', {}, 'custom_id'), el('th', {}, 'answer'), el('th', {}, 'tokens'))),
    el('tbody', {}, lines.map((l) => el('tr', {},
      el('td', { 'data-label': 'custom_id' }, el('code', {}, l.custom_id)),
      el('td', { 'data-label': 'answer', class: 'answer' }, clip(answerOf(l))),
      el('td', { 'data-label': 'tokens', class: 'num' }, formatNumber(l.response?.body?.usage?.total_tokens ?? 0))))));
}

function errorTable(lines) {
  return el('table', { class: 'lines cards', id: 'error-lines' },
    el('thead', {}, el('tr', {}, el('th', {}, 'custom_id'), el('th', {}, 'status'), el('th', {}, 'code'), el('th', {}, 'message'))),
    el('tbody', {}, lines.map((l) => {
      const err = l.response?.body?.error ?? l.error ?? {};
      return el('tr', { class: 'error-line', 'data-custom-id': l.custom_id },
        el('td', { 'data-label': 'custom_id' }, el('code', {}, l.custom_id)),
        el('td', { 'data-label': 'status' }, String(l.response?.status_code ?? '–')),
        el('td', { 'data-label': 'code' }, el('code', {}, err.code ?? '')),
        el('td', { 'data-label': 'message', class: 'message' }, err.message ?? JSON.stringify(err)));
    })));
}

function parseLines(lines) {
  return lines.map((l) => { try { return JSON.parse(l); } catch { return { custom_id: '?', error: { message: l } }; } });
}

export function batchPage(view, { id, setError }) {
  let batch = null;
  let samples = [];
  let nowMs = Date.now();
  let files = null;  // { output, errors } once the batch has ended
  let waiting = null;  // why the batch waits for its model, while it does
  let timer = null;
  let stopped = false;
  const chartBox = el('div', { class: 'chart-box', id: 'chart' });
  view.replaceChildren(el('p', { class: 'muted' }, 'loading…'));

  // When the run began and ended (or now), in ms: from the samples where they have them (the batch's
  // timestamps are whole seconds), else from the timestamps.
  function runSpan() {
    const began = batch.in_progress_at ? batch.in_progress_at * 1000 : null;
    if (!began) return null;
    const first = samples[0]?.at_ms;
    const start = first !== undefined && first >= began && first - began < 1000 ? first : began;
    const running = !TERMINAL.has(batch.status) && batch.status !== 'finalizing';
    const endedAt = batch.finalizing_at || batch.expired_at || batch.cancelled_at || batch.completed_at;
    let end = running ? nowMs : Math.max(samples.length ? samples[samples.length - 1].at_ms : start, endedAt ? endedAt * 1000 : start);
    if (!running && samples.length > 1 && endedAt && end - samples[samples.length - 1].at_ms < 1000) end = samples[samples.length - 1].at_ms;
    return { start, end: Math.max(end, start) };
  }

  function drawChart() {
    if (!batch) return;
    const span = runSpan();
    if (!span) {
      chartBox.replaceChildren(el('p', { class: 'muted' }, batch.status === 'validating' ? 'The batch is being validated.' : 'The batch did not run.'));
      return;
    }
    // A running batch's chart spans at least a second, so that its first moments are not stretched wide.
    const running = !TERMINAL.has(batch.status) && batch.status !== 'finalizing';
    const end = Math.max(span.end, span.start + (running ? 1000 : 100));
    chartBox.replaceChildren(progressChart(samples, span.start, end, chartBox.clientWidth || 640));
  }
  const onResize = () => drawChart();
  window.addEventListener('resize', onResize);

  async function cancel(button) {
    if (!confirm(`Cancel ${id}? Requests that finished keep their results.`)) return;
    button.disabled = true;
    try { await postJson(`/v1/batches/${id}/cancel`, {}); await refresh(); } catch (e) { setError(e.message); button.disabled = false; }
  }

  function render() {
    const b = batch;
    const c = b.request_counts || { total: 0, completed: 0, failed: 0 };
    const u = b.usage || {};
    const done = c.completed + c.failed;
    const pct = c.total ? (100 * done) / c.total : b.status === 'completed' ? 100 : 0;
    const span = runSpan();
    const elapsed = span ? (span.end - span.start) / 1000 : null;
    const rate = elapsed > 0 ? done / elapsed : null;
    const eta = !TERMINAL.has(b.status) && rate > 0 && c.total > done ? (c.total - done) / rate : null;
    const tokensPerSec = elapsed > 0 ? (u.output_tokens || 0) / elapsed : null;

    const actions = el('div', { class: 'actions' },
      el('button', { onclick: () => downloadFile(b.input_file_id, `${b.input_file_id}-input.jsonl`).catch((e) => setError(e.message)) }, 'input'),
      b.output_file_id ? el('button', { id: 'download-output', onclick: () => downloadFile(b.output_file_id, `${id}-output.jsonl`).catch((e) => setError(e.message)) }, '⤓ output') : null,
      b.error_file_id ? el('button', { id: 'download-errors', onclick: () => downloadFile(b.error_file_id, `${id}-errors.jsonl`).catch((e) => setError(e.message)) }, '⤓ errors') : null,
      ['validating', 'in_progress'].includes(b.status) ? el('button', { class: 'danger', id: 'cancel', onclick: (e) => cancel(e.currentTarget) }, 'cancel') : null);

    const metadata = b.metadata && Object.keys(b.metadata).length
      ? kv(Object.entries(b.metadata).map(([k, v]) => [k, v]))
      : el('p', { class: 'muted' }, 'none');

    const head = [
      el('nav', { class: 'crumbs' }, el('a', { href: '#/' }, '← batches')),
      el('div', { class: 'batch-head' },
        el('h2', {}, el('code', { id: 'batch-id' }, b.id)), statusPill(b.status),
        b.metadata?.description ? el('span', { class: 'muted' }, b.metadata.description) : null,
        el('span', { class: 'grow' }), actions),
      timeline(b),
      waiting ? el('p', { class: 'waiting', id: 'waiting' }, waiting) : null,
    ];
    const details = card('Details', kv([
      ['endpoint', el('code', {}, b.endpoint)],
      ['model', b.model || '–'],
      ['input file', el('code', {}, b.input_file_id)],
      ['completion window', b.completion_window],
      ['expires', formatTime(b.expires_at)],
    ]));
    const validationErrors = b.errors?.data?.length ? card(`Validation errors (${b.errors.data.length})`, el('table', { class: 'lines cards', id: 'validation-errors' },
      el('thead', {}, el('tr', {}, el('th', {}, 'line'), el('th', {}, 'code'), el('th', {}, 'message'))),
      el('tbody', {}, b.errors.data.map((e) => el('tr', {},
        el('td', { 'data-label': 'line' }, e.line ?? '–'), el('td', { 'data-label': 'code' }, el('code', {}, e.code)),
        el('td', { 'data-label': 'message', class: 'message' }, e.message)))))) : null;
    if (b.status === 'failed' && !b.in_progress_at) {
      view.replaceChildren(...head, validationErrors ?? card('Failed', el('p', {}, 'The batch failed before it ran.')),
        el('div', { class: 'grid2' }, details, card('Metadata', metadata)));
      return;
    }

    const parts = [
      ...head,
      el('div', { class: 'stats' },
        el('div', { class: 'stat wide' }, el('span', { class: 'muted' }, 'progress'),
          el('b', { id: 'pct' }, `${Math.floor(pct)}%`),
          el('span', { class: 'bar big' },
            el('span', { class: 'done', style: `width:${c.total ? (100 * c.completed) / c.total : pct}%` }),
            el('span', { class: 'failed', style: `width:${c.total ? (100 * c.failed) / c.total : 0}%` }))),
        el('div', { class: 'stat', id: 'counts' }, el('span', { class: 'muted' }, 'done / failed / total'),
          el('b', {}, `${c.completed} / `, el('span', { class: c.failed ? 'bad' : '' }, String(c.failed)), ` / ${c.total}`)),
        el('div', { class: 'stat' }, el('span', { class: 'muted' }, TERMINAL.has(b.status) ? 'ran for' : 'running for'), el('b', {}, formatDuration(elapsed))),
        el('div', { class: 'stat' }, el('span', { class: 'muted' }, eta !== null ? 'time left' : 'requests/s'), el('b', {}, eta !== null ? `~${formatDuration(eta)}` : formatNumber(rate))),
        el('div', { class: 'stat' }, el('span', { class: 'muted' }, 'generated tokens/s'), el('b', {}, formatNumber(tokensPerSec)))),
      card('Requests and tokens a second', chartBox,
        el('p', { class: 'legend small' }, el('span', { class: 'swatch tokens' }), 'generated tokens/s ',
          el('span', { class: 'swatch done' }), 'requests/s ', el('span', { class: 'swatch failed' }), 'failed/s',
          el('span', { class: 'muted' }, ` — ${samples.length} samples from the server`))),
      el('div', { class: 'grid2' },
        card('Usage', kv([
          ['prompt tokens', formatNumber(u.input_tokens ?? 0)],
          ['  of them cached', `${formatNumber(u.input_tokens_details?.cached_tokens ?? 0)}${u.input_tokens ? ` (${Math.round((100 * (u.input_tokens_details?.cached_tokens ?? 0)) / u.input_tokens)}%)` : ''}`],
          ['generated tokens', formatNumber(u.output_tokens ?? 0)],
          ['total tokens', formatNumber(u.total_tokens ?? 0)],
        ])),
        details,
        card('Metadata', metadata)),
    ];
    if (files?.output) {
      parts.push(card(`First output lines${files.output.more ? ` (of ${formatNumber(c.completed)})` : ''}`,
        files.output.lines.length ? outputTable(files.output.lines) : el('p', { class: 'muted' }, 'none')));
    } else if (!TERMINAL.has(b.status)) {
      parts.push(card('Output', el('p', { class: 'muted' }, 'The output and error files are written when the batch ends.')));
    }
    if (files?.errors) {
      parts.push(card(`Error lines${files.errors.more ? ` (first ${ERROR_LINES} of ${formatNumber(c.failed)})` : ` (${files.errors.lines.length})`}`,
        errorTable(files.errors.lines)));
    }
    view.replaceChildren(...parts);
    drawChart();
  }

  async function loadFiles() {
    const [output, errors] = await Promise.all([
      batch.output_file_id ? fileHead(batch.output_file_id, OUTPUT_LINES) : null,
      batch.error_file_id ? fileHead(batch.error_file_id, ERROR_LINES) : null,
    ]);
    files = {
      output: output && { lines: parseLines(output.lines), more: output.more },
      errors: errors && { lines: parseLines(errors.lines), more: errors.more },
    };
  }

  async function refresh() {
    try {
      batch = await apiJson(`/v1/batches/${id}`);
      const after = samples.length ? samples[samples.length - 1].at_ms : 0;
      const p = await apiJson(`/v1/batches/${id}/progress?after_ms=${after}`);
      samples = samples.concat(p.samples);
      nowMs = p.now_ms;
      waiting = batch.status === 'in_progress' ? (await apiJson(`/web/data/batches/${id}`)).waiting : null;
      if (TERMINAL.has(batch.status) && !files) await loadFiles();
      if (stopped) return;
      document.title = `${id} · ${STATUS_LABELS[batch.status] || batch.status} · openbatch`;
      render();
      setError('');
      if (TERMINAL.has(batch.status)) { clearInterval(timer); timer = null; }
    } catch (e) {
      if (stopped) return;
      setError(e.message);
      if (e.status === 404) {
        clearInterval(timer);
        view.replaceChildren(el('p', { class: 'empty' }, `No batch ${id} for this API key. `, el('a', { href: '#/' }, 'Your batches')));
      }
    }
  }
  refresh();
  timer = setInterval(refresh, 2000);
  return () => {
    stopped = true;
    if (timer) clearInterval(timer);
    window.removeEventListener('resize', onResize);
    document.title = 'openbatch';
  };
}
