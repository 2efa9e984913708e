// The chart of a batch's life, drawn as SVG from the progress samples the server keeps
// (GET /v1/batches/{id}/progress: cumulative counts at moments of the run). Two panels over the same
// time axis: generated tokens a second (area) and requests a second (bars, failed ones in red).
import { svg, formatNumber, formatDuration } from './api.js';

// The cumulative value of key at time t (ms), linear between samples, flat outside them.
function cumulativeAt(samples, key, t) {
  if (t <= samples[0].at_ms) return samples[0][key];
  for (let i = 1; i < samples.length; ++i) {
    const a = samples[i - 1];
    const b = samples[i];
    if (t <= b.at_ms) {
      const span = b.at_ms - a.at_ms;
      return span > 0 ? a[key] + ((b[key] - a[key]) * (t - a.at_ms)) / span : b[key];
    }
  }
  return samples[samples.length - 1][key];
}

// Rates a second in equal time buckets from startMs to endMs: [{t0, t1, tokens, done, failed}] where
// t0/t1 are seconds from the start. At most maxBuckets buckets, none shorter than 0.1 s.
export function rateBuckets(samples, startMs, endMs, maxBuckets = 60) {
  const span = endMs - startMs;
  if (!samples.length || span <= 0) return [];
  const width = Math.max(100, span / maxBuckets);
  const n = Math.max(1, Math.ceil(span / width - 1e-9));
  const buckets = [];
  for (let k = 0; k < n; ++k) {
    const a = startMs + k * width;
    const b = Math.min(endMs, a + width);
    const secs = (b - a) / 1000;
    if (secs <= 0) break;
    const d = (key) => (cumulativeAt(samples, key, b) - cumulativeAt(samples, key, a)) / secs;
    buckets.push({ t0: (a - startMs) / 1000, t1: (b - startMs) / 1000, tokens: d('output_tokens'), done: d('completed'), failed: d('failed') });
  }
  return buckets;
}

// 1, 2, 5 x 10^k at or above v.
function niceCeil(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
function tickStep(total, target) {
  const raw = total / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

// The chart as an <svg class="chart">, width px wide. samples: oldest first; startMs: when the batch
// began running; endMs: when it ended, or now.
export function progressChart(samples, startMs, endMs, width) {
  const buckets = rateBuckets(samples, startMs, endMs);
  const W = Math.max(280, Math.round(width));
  const padL = 46;
  const padR = 12;
  const topH = 120;
  const gap = 26;
  const botH = 70;
  const axisH = 22;
  const H = 8 + topH + gap + botH + axisH;
  const plotW = W - padL - padR;
  const seconds = Math.max(0.001, (endMs - startMs) / 1000);
  const x = (s) => padL + (s / seconds) * plotW;
  const tokMax = niceCeil(Math.max(...buckets.map((b) => b.tokens), 0));
  const reqMax = niceCeil(Math.max(...buckets.map((b) => b.done + b.failed), 0));
  const yTop = (v) => 8 + topH - (v / tokMax) * topH;
  const botTop = 8 + topH + gap;
  const yBot = (v) => botTop + botH - (v / reqMax) * botH;

  const root = svg('svg', {
    class: 'chart', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `Generated tokens and requests a second over ${formatDuration(seconds)}`,
    'data-buckets': buckets.length,
  });
  // Grid and y labels.
  for (const [y0, h, max, label] of [[8, topH, tokMax, 'tokens/s'], [botTop, botH, reqMax, 'requests/s']]) {
    for (const f of [0, 0.5, 1]) {
      const y = y0 + h - f * h;
      root.append(svg('line', { class: 'grid', x1: padL, x2: W - padR, y1: y, y2: y }));
      root.append(svg('text', { class: 'tick', x: padL - 6, y: y + 4, 'text-anchor': 'end' }, formatNumber(max * f)));
    }
    root.append(svg('text', { class: 'axis-label', x: padL + 4, y: y0 + 11 }, label));
  }
  // Time axis.
  const step = tickStep(seconds, Math.max(2, Math.floor(plotW / 90)));
  for (let s = 0; s <= seconds + 1e-9; s += step) {
    const anchor = s === 0 ? 'start' : x(s) > W - padR - 30 ? 'end' : 'middle';
    root.append(svg('text', { class: 'tick', x: x(s), y: H - 6, 'text-anchor': anchor }, formatDuration(s)));
  }
  if (!buckets.length) {
    root.append(svg('text', { class: 'empty', x: padL + plotW / 2, y: 8 + topH / 2, 'text-anchor': 'middle' }, 'no progress yet'));
    return root;
  }
  // Tokens a second: a step area.
  let d = `M ${x(0)} ${yTop(0)}`;
  for (const b of buckets) d += ` L ${x(b.t0)} ${yTop(b.tokens)} L ${x(b.t1)} ${yTop(b.tokens)}`;
  d += ` L ${x(buckets[buckets.length - 1].t1)} ${yTop(0)} Z`;
  root.append(svg('path', { class: 'tokens-area', d }));
  let line = '';
  for (const b of buckets) line += `${line ? ' L' : 'M'} ${x(b.t0)} ${yTop(b.tokens)} L ${x(b.t1)} ${yTop(b.tokens)}`;
  root.append(svg('path', { class: 'tokens-line', d: line }));
  // Requests a second: bars, failures stacked on top in red.
  for (const b of buckets) {
    const bx = x(b.t0) + 0.5;
    const bw = Math.max(1, x(b.t1) - x(b.t0) - 1);
    if (b.done > 0) root.append(svg('rect', { class: 'bar-done', x: bx, width: bw, y: yBot(b.done), height: yBot(0) - yBot(b.done) }));
    if (b.failed > 0) root.append(svg('rect', { class: 'bar-failed', x: bx, width: bw, y: yBot(b.done + b.failed), height: yBot(b.done) - yBot(b.done + b.failed) }));
  }
  // Hover: a cursor line and the bucket's numbers.
  const cursor = svg('line', { class: 'cursor', x1: 0, x2: 0, y1: 8, y2: botTop + botH, visibility: 'hidden' });
  const tip = svg('text', { class: 'tip', x: 0, y: botTop - 8, visibility: 'hidden' });
  const overlay = svg('rect', { class: 'overlay', x: padL, y: 8, width: plotW, height: topH + gap + botH });
  overlay.addEventListener('pointermove', (ev) => {
    const r = root.getBoundingClientRect();
    const px = ((ev.clientX - r.left) * W) / r.width;
    const s = ((px - padL) / plotW) * seconds;
    const b = buckets.find((q) => s >= q.t0 && s < q.t1) || buckets[buckets.length - 1];
    cursor.setAttribute('x1', px);
    cursor.setAttribute('x2', px);
    tip.textContent = `${formatDuration(b.t0)}–${formatDuration(b.t1)}: ${formatNumber(b.tokens)} tok/s, ${formatNumber(b.done + b.failed)} req/s${b.failed ? ` (${formatNumber(b.failed)} failed)` : ''}`;
    const left = px > padL + plotW / 2;
    tip.setAttribute('x', left ? px - 6 : px + 6);
    tip.setAttribute('text-anchor', left ? 'end' : 'start');
    cursor.setAttribute('visibility', 'visible');
    tip.setAttribute('visibility', 'visible');
  });
  overlay.addEventListener('pointerleave', () => {
    cursor.setAttribute('visibility', 'hidden');
    tip.setAttribute('visibility', 'hidden');
  });
  root.append(cursor, tip, overlay);
  return root;
}
