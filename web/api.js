// The dashboard's way to the server: the API key the user typed (kept in localStorage), calls with it,
// and the small DOM and formatting helpers every page uses.

const KEY_STORAGE = 'openbatch.key';

export function apiKey() { return localStorage.getItem(KEY_STORAGE) || ''; }
export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key); else localStorage.removeItem(KEY_STORAGE);
}

// An API error with the server's OpenAI envelope (message, code, param) and the HTTP status.
export class ApiError extends Error {
  constructor(path, status, error) {
    super(error?.message ? error.message : `${path}: HTTP ${status}`);
    this.status = status;
    this.code = error?.code ?? null;
    this.param = error?.param ?? null;
  }
}

// fetch() with the key; a non-2xx answer throws ApiError with the server's message.
export async function api(path, options = {}) {
  const key = apiKey();
  const headers = { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...(options.headers || {}) };
  const res = await fetch(path, { ...options, headers });
  if (!res.ok) {
    let error = null;
    try { error = (await res.json()).error; } catch { /* not JSON */ }
    throw new ApiError(path, res.status, error);
  }
  return res;
}
export async function apiJson(path, options = {}) { return (await api(path, options)).json(); }
export function postJson(path, body) {
  return apiJson(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

// The first `maxLines` lines of a file's content, reading no more than `maxBytes` of it (output files
// can be hundreds of megabytes; the page shows only their start). Returns { lines, more }.
export async function fileHead(fileId, maxLines, maxBytes = 1 << 20) {
  const res = await api(`/v1/files/${fileId}/content`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let read = 0;
  let done = false;
  while (!done && read < maxBytes && text.split('\n').length <= maxLines) {
    const chunk = await reader.read();
    done = chunk.done;
    if (chunk.value) { read += chunk.value.length; text += decoder.decode(chunk.value, { stream: true }); }
  }
  if (!done) reader.cancel().catch(() => {});
  const all = text.split('\n');
  if (!done) all.pop();  // a line that may be cut
  const lines = all.filter((l) => l.trim() !== '');
  return { lines: lines.slice(0, maxLines), more: !done || lines.length > maxLines };
}

// Saves a file's content under its own name (the key goes in the request, so a plain link cannot).
export async function downloadFile(fileId, filename) {
  const blob = await (await api(`/v1/files/${fileId}/content`)).blob();
  const a = el('a', { href: URL.createObjectURL(blob), download: filename || `${fileId}.jsonl` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---- DOM

// el('div', {class: 'x', onclick: f}, 'text', child...): attributes starting with "on" are listeners.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'value') e.value = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  append(e, children);
  return e;
}
function append(parent, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}
const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, v);
  append(e, children);
  return e;
}

// ---- formatting

export const STATUS_LABELS = {
  validating: 'validating', failed: 'failed', in_progress: 'in progress', finalizing: 'finalizing',
  completed: 'completed', expired: 'expired', cancelling: 'cancelling', cancelled: 'cancelled',
};
export const TERMINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);
export function statusPill(status) {
  return el('span', { class: `pill status-${status}`, 'data-status': status }, STATUS_LABELS[status] || status);
}

export function formatNumber(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(n >= 1e5 ? 0 : 1)}k`;
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}
// 0.4 s, 12 s, 3 min 5 s, 2 h 10 min
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(seconds < 1 ? 2 : 1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}
export function formatTime(unixSeconds) {
  if (!unixSeconds) return '–';
  const d = new Date(unixSeconds * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}
export function timeAgo(unixSeconds) {
  const s = Date.now() / 1000 - unixSeconds;
  if (s < 5) return 'just now';
  return `${formatDuration(s).replace(/ \d+ s$/, '')} ago`;
}
