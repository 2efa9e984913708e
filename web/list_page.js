// #/ : the key's batches, newest first, with the server's live numbers (from /metrics) above them, and
// the models batches may name: this node's and the fleet's, with their last heartbeat (/web/data/models).
import { apiJson, api, el, statusPill, formatNumber, timeAgo, formatTime, TERMINAL } from './api.js';

// Prometheus text: name{labels} -> value.
function parseMetrics(body) {
  const m = {};
  for (const line of body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    m[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return m;
}

function progressBar(b) {
  const c = b.request_counts || { total: 0, completed: 0, failed: 0 };
  const pct = c.total ? Math.round((100 * (c.completed + c.failed)) / c.total) : b.status === 'completed' ? 100 : 0;
  const failedPct = c.total ? (100 * c.failed) / c.total : 0;
  return el('span', { class: 'progress', title: `${pct}%` },
    el('span', { class: 'bar' },
      el('span', { class: 'done', style: `width:${pct - failedPct}%` }),
      el('span', { class: 'failed', style: `width:${failedPct}%` })),
    el('span', { class: 'pct' }, `${pct}%`));
}

// One model of /web/data/models: where it is served, its state here, its last heartbeat.
function modelRow(m) {
  const where = m.served_here ? 'this node' : m.live ? 'another node' : 'no live node';
  return el('tr', { 'data-model': m.id, 'data-live': String(m.live) },
    el('td', { 'data-label': 'model' }, el('code', {}, m.id)),
    el('td', { 'data-label': 'served by', class: m.live ? '' : 'bad' }, where),
    el('td', { 'data-label': 'state' }, m.state ?? '–'),
    el('td', { 'data-label': 'last heartbeat' }, m.last_heartbeat_ms ? timeAgo(m.last_heartbeat_ms / 1000) : '–'));
}

function batchRow(b) {
  const c = b.request_counts || { total: 0, completed: 0, failed: 0 };
  const href = `#/batches/${b.id}`;
  const description = b.metadata?.description || b.metadata?.job || b.metadata?.file || '';
  return el('tr', { 'data-batch': b.id, 'data-status': b.status, onclick: (e) => { if (!e.target.closest('a')) location.hash = href; } },
    el('td', { 'data-label': 'batch' }, el('a', { href }, el('code', {}, b.id)), description ? el('div', { class: 'muted small' }, description) : null),
    el('td', { 'data-label': 'status' }, statusPill(b.status)),
    el('td', { 'data-label': 'endpoint' }, el('code', {}, b.endpoint)),
    el('td', { 'data-label': 'model' }, b.model || '–'),
    el('td', { 'data-label': 'created', title: formatTime(b.created_at) }, timeAgo(b.created_at)),
    el('td', { 'data-label': 'progress' }, progressBar(b)),
    el('td', { 'data-label': 'done / failed / total', class: 'counts' }, `${c.completed} / ${c.failed} / ${c.total}`),
    el('td', { 'data-label': 'tokens', class: 'num' }, formatNumber(b.usage?.total_tokens ?? 0)));
}

export function listPage(view, { setError }) {
  const stats = {
    tps: el('b', {}, '–'), cached: el('b', {}, '–'), pending: el('b', {}, '–'), inflight: el('b', {}, '–'),
  };
  const stat = (label, b, id) => el('div', { class: 'stat', id }, el('span', { class: 'muted' }, label), b);
  const tbody = el('tbody', { id: 'batches' }, el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'loading…')));
  const models = el('tbody', { id: 'models' });
  const summary = el('span', { class: 'muted' });
  view.replaceChildren(
    el('div', { class: 'stats' },
      stat('generated tokens/s', stats.tps, 'tps'), stat('prompt tokens cached', stats.cached, 'cached'),
      stat('requests pending', stats.pending, 'pending'), stat('running now', stats.inflight, 'inflight')),
    el('div', { class: 'section-head' }, el('h2', {}, 'Batches'), summary, el('span', { class: 'grow' }),
      el('a', { class: 'button primary', href: '#/new' }, '+ New batch')),
    el('table', { class: 'batches cards' },
      el('thead', {}, el('tr', {}, ...['batch', 'status', 'endpoint', 'model', 'created', 'progress', 'done / failed / total', 'tokens'].map((h) => el('th', {}, h)))),
      tbody),
    el('p', { class: 'muted small' }, 'Your batches, newest first; refreshed every 2 seconds.'),
    el('div', { class: 'section-head' }, el('h2', {}, 'Models')),
    el('table', { class: 'models cards' },
      el('thead', {}, el('tr', {}, ...['model', 'served by', 'state', 'last heartbeat'].map((h) => el('th', {}, h)))),
      models),
    el('p', { class: 'muted small' }, 'The models batches may name: those this node serves, and those the nodes sharing its database serve or served.'));

  let last = null;
  let disposed = false;
  async function refresh() {
    try {
      const list = await apiJson('/v1/batches?limit=100');
      if (disposed) return;
      const rows = list.data.map(batchRow);
      tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 8, class: 'empty' },
        'no batches yet — ', el('a', { href: '#/new' }, 'create one'), ' from a CSV or JSONL file'))]));
      const running = list.data.filter((b) => !TERMINAL.has(b.status)).length;
      summary.textContent = `${list.data.length}${list.has_more ? '+' : ''} batches${running ? `, ${running} running` : ''}`;
      const served = await apiJson('/web/data/models');
      if (disposed) return;
      models.replaceChildren(...served.data.map(modelRow));
      const m = parseMetrics(await (await api('/metrics')).text());
      if (disposed) return;
      const now = Date.now();
      const generated = m.openbatch_completion_tokens_total;
      if (last && now > last.at) stats.tps.textContent = formatNumber(Math.max(0, (generated - last.generated) / ((now - last.at) / 1000)));
      last = { at: now, generated };
      const prompt = m.openbatch_prompt_tokens_total;
      stats.cached.textContent = prompt ? `${Math.round((100 * m.openbatch_prompt_tokens_cached_total) / prompt)}%` : '–';
      stats.pending.textContent = formatNumber(m.openbatch_batch_requests_pending ?? 0);
      stats.inflight.textContent = formatNumber((m['openbatch_generations_in_flight{priority="interactive"}'] || 0) +
        (m['openbatch_generations_in_flight{priority="batch"}'] || 0));
      setError('');
    } catch (e) {
      if (!disposed) setError(e.message);
    }
  }
  refresh();
  const timer = setInterval(refresh, 2000);
  return () => { disposed = true; clearInterval(timer); };
}
