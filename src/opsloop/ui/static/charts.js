// SVG charts drawn by hand: overlaid line charts (smoothing, log scale, time or step axis, expected
// band), parallel coordinates, paired distributions and sparklines. No dependencies.

const NS = 'http://www.w3.org/2000/svg';
export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Exponential moving average with TensorBoard's debiasing; weight in [0, 1). */
export function smooth(points, weight) {
  if (!weight) return points;
  let last = 0;
  let n = 0;
  return points.map(([x, y]) => {
    if (!Number.isFinite(y)) return [x, y];
    last = last * weight + (1 - weight) * y;
    n += 1;
    return [x, last / (1 - weight ** n)];
  });
}

export function niceTicks(min, max, count = 5) {
  if (!(max > min)) return [min];
  const step0 = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const err = step0 / mag;  // round to the nearest 1, 2, 5 or 10 times the magnitude (d3's rule)
  const step = (err >= 7.07 ? 10 : err >= 3.16 ? 5 : err >= 1.41 ? 2 : 1) * mag;
  // Each tick is a whole multiple of the step (adding the step up accumulates float error: a tick
  // of -5.6e-17 where 0 belongs).
  const out = [];
  for (let i = Math.ceil(min / step - 1e-9); i * step <= max + step * 1e-9; i += 1) out.push(Number((i * step).toPrecision(12)) || 0);
  return out;
}

/** Ticks of a log axis (in log10 units): whole decades, or plain nice values when the range spans less. */
function logTicks(y0, y1) {
  const decades = [];
  for (let t = Math.ceil(y0); t <= Math.floor(y1); t += 1) decades.push(t);
  if (decades.length >= 2) return decades.length > 6 ? decades.filter((t, i) => i % Math.ceil(decades.length / 6) === 0) : decades;
  return niceTicks(10 ** y0, 10 ** y1, 4).filter((v) => v > 0).map(Math.log10);
}

function fmtTick(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** A value read off a chart (a tooltip): whole numbers (steps) as they are, others to 6 significant digits. */
export function fmtValue(v) {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

/** A time tick for an axis spanning ``span`` ms with ticks ``step`` ms apart. */
function fmtTimeTick(ms, span, step) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  if (span > 2 * 86400e3) return `${d.getMonth() + 1}/${d.getDate()}`;
  if (span > 600e3) return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  // under ten minutes: the seconds too, with the hour ("03:40" alone reads as a time of day)
  if (!(step < 1000)) return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${pad(d.getMinutes())}:${pad(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;  // a fast loop
}

/** [min, max] of the finite values; a single value is padded by ``flatPad`` (default 5% of it, or 1). */
function extent(values, flatPad = 0) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) { const pad = flatPad || Math.abs(lo) * 0.05 || 1; return [lo - pad, hi + pad]; }
  return [lo, hi];
}

/** A linear y range: ``extent``, but an all-zero series (no errors, no traffic) gets 0..1, not -1..1. */
function yExtent(values) {
  const finite = values.filter(Number.isFinite);
  return finite.length && finite.every((v) => v === 0) ? [0, 1] : extent(values);
}

const FLAT_TIME_PAD_MS = 60e3;  // one sample on a time axis: a minute each side (5% of epoch ms is ~2 years)

function nearest(points, x) {
  let lo = 0;
  let hi = points.length - 1;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (points[mid][0] < x) lo = mid; else hi = mid; }
  return Math.abs(points[lo][0] - x) <= Math.abs(points[hi][0] - x) ? points[lo] : points[hi];
}

/**
 * Draw an overlaid line chart into ``container``; returns a function that redraws (e.g. on resize).
 * opts: {series: [{name, color, points: [[x, y]]}], band: [[x, lo, hi]], xTime, yLog, height, xLabel,
 *        markers: [{x, label}], label (accessible name), yMin (a value the y axis always includes, e.g. 0),
 *        bandLabel (what the band is; default "expected band")}
 */
export function lineChart(container, opts) {
  const draw = () => drawLineChart(container, opts);
  draw();
  // One observer per container: a redraw with new options replaces the previous one.
  if (container._ro) container._ro.disconnect();
  const ro = new ResizeObserver(() => { if (container.isConnected && container.clientWidth !== container._w) draw(); });
  ro.observe(container);
  container._ro = ro;
  return draw;
}

function drawLineChart(container, opts) {
  const width = Math.max(260, container.clientWidth || 600);
  container._w = container.clientWidth;
  const height = opts.height || 240;
  const m = { l: 56, r: 12, t: 10, b: 34 };
  const yT = opts.yLog ? (v) => (v > 0 ? Math.log10(v) : NaN) : (v) => v;
  const series = opts.series.map((s) => ({ ...s, pts: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(yT(y))) }));
  const band = (opts.band || []).filter(([x, lo, hi]) => Number.isFinite(x) && Number.isFinite(yT(lo)) && Number.isFinite(yT(hi)));
  const xs = [...series.flatMap((s) => s.pts.map((p) => p[0])), ...band.map((b) => b[0]), ...(opts.markers || []).map((mk) => mk.x)];
  const ys = [...series.flatMap((s) => s.pts.map((p) => yT(p[1]))), ...band.flatMap((b) => [yT(b[1]), yT(b[2])])];
  const [x0, x1] = extent(xs, opts.xTime ? FLAT_TIME_PAD_MS : 0);
  const yv = Number.isFinite(yT(opts.yMin)) ? [...ys, yT(opts.yMin)] : ys;  // yMin: e.g. 0 for counts
  const [y0, y1] = opts.yLog ? extent(yv) : yExtent(yv);
  const X = (x) => m.l + ((x - x0) / (x1 - x0)) * (width - m.l - m.r);
  const Y = (y) => height - m.b - ((y - y0) / (y1 - y0)) * (height - m.t - m.b);
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': opts.label || 'chart' });
  const yTicks = opts.yLog ? logTicks(y0, y1) : niceTicks(y0, y1, 4);
  for (const t of yTicks) {
    root.append(svg('line', { x1: m.l, x2: width - m.r, y1: Y(t), y2: Y(t), class: 'grid' }));
    root.append(svg('text', { x: m.l - 6, y: Y(t) + 4, 'text-anchor': 'end', class: 'tick' }, opts.yLog ? fmtTick(10 ** t) : fmtTick(t)));
  }
  const xTicks = niceTicks(x0, x1, Math.max(2, Math.floor(width / 110)));
  for (const t of xTicks) {
    root.append(svg('text', { x: X(t), y: height - m.b + 16, 'text-anchor': 'middle', class: 'tick' }, opts.xTime ? fmtTimeTick(t, x1 - x0, xTicks[1] - xTicks[0]) : fmtTick(t)));
  }
  root.append(svg('line', { x1: m.l, x2: width - m.r, y1: height - m.b, y2: height - m.b, class: 'axis' }));
  if (opts.xLabel) root.append(svg('text', { x: width - m.r, y: height - 4, 'text-anchor': 'end', class: 'axis-label' }, opts.xLabel));
  if (band.length) {
    const upper = band.map(([x, , hi]) => `${X(x)},${Y(yT(hi))}`);
    const lower = band.slice().reverse().map(([x, lo]) => `${X(x)},${Y(yT(lo))}`);
    root.append(svg('polygon', { points: [...upper, ...lower].join(' '), class: 'band' }, svg('title', {}, opts.bandLabel || 'expected band')));
  }
  for (const mk of opts.markers || []) {
    root.append(svg('line', { x1: X(mk.x), x2: X(mk.x), y1: m.t, y2: height - m.b, class: 'marker' }));
    const nearRight = X(mk.x) > width - m.r - 60;
    if (mk.label) root.append(svg('text', { x: X(mk.x) + (nearRight ? -3 : 3), y: m.t + 10, 'text-anchor': nearRight ? 'end' : 'start', class: 'marker-label' }, mk.label));
  }
  series.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    if (s.pts.length === 1) root.append(svg('circle', { cx: X(s.pts[0][0]), cy: Y(yT(s.pts[0][1])), r: 3, fill: color }));
    else root.append(svg('polyline', { points: s.pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(yT(y)).toFixed(1)}`).join(' '), stroke: color, class: 'line' }));
    for (const [x, y] of s.anomalies || []) root.append(svg('circle', { cx: X(x), cy: Y(yT(y)), r: 4, class: 'anomaly' }));
  });
  const hover = svg('line', { y1: m.t, y2: height - m.b, class: 'hover', visibility: 'hidden' });
  root.append(hover);
  const tip = document.createElement('div');
  tip.className = 'chart-tip';
  tip.hidden = true;
  root.addEventListener('mousemove', (ev) => {
    const rect = root.getBoundingClientRect();
    const x = x0 + ((ev.clientX - rect.left - m.l) / (width - m.l - m.r)) * (x1 - x0);
    const near = series.filter((s) => s.pts.length).map((s, i) => [s, i, nearest(s.pts, x)]);
    if (!near.length) return;
    const rows = near.map(([s, i, p]) => `<span style="color:${s.color || PALETTE[i % PALETTE.length]}">■</span> ${escapeHtml(s.name)}: ${fmtValue(p[1])}`);
    // the x of the points read (the one nearest the pointer), not the pointer's own x rounded to 4 digits
    const px = near.reduce((best, [, , p]) => (Math.abs(p[0] - x) < Math.abs(best - x) ? p[0] : best), near[0][2][0]);
    hover.setAttribute('x1', ev.clientX - rect.left);
    hover.setAttribute('x2', ev.clientX - rect.left);
    hover.setAttribute('visibility', 'visible');
    tip.innerHTML = `<b>${opts.xTime ? new Date(px).toLocaleString() : `${opts.xLabel ? `${escapeHtml(opts.xLabel)} ` : ''}${fmtValue(px)}`}</b><br>${rows.join('<br>')}`;
    tip.hidden = false;
    tip.style.left = `${Math.min(ev.clientX - rect.left + 12, width - 160)}px`;
  });
  root.addEventListener('mouseleave', () => { hover.setAttribute('visibility', 'hidden'); tip.hidden = true; });
  const legend = document.createElement('div');
  legend.className = 'legend';
  series.forEach((s, i) => {
    const item = document.createElement('span');
    item.innerHTML = `<i style="background:${s.color || PALETTE[i % PALETTE.length]}"></i>${escapeHtml(s.name)}`;
    legend.append(item);
  });
  if (band.length) legend.insertAdjacentHTML('beforeend', `<span><i class="band-swatch"></i>${escapeHtml(opts.bandLabel || 'expected band')}</span>`);
  const wrap = document.createElement('div');
  wrap.className = 'chart-wrap';
  wrap.append(root, tip);
  container.replaceChildren(wrap, ...(series.length > 1 || band.length ? [legend] : []));
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

/**
 * Parallel coordinates: one vertical axis per dimension, one polyline per row.
 * dims: [{name}], rows: [{name, color, values: {dimName: value}}]; non-numeric dims become categorical.
 */
export function parallelCoords(container, dims, rows) {
  const width = Math.max(320, container.clientWidth || 700);
  const height = 280;
  const m = { l: 40, r: 60, t: 30, b: 20 };
  const step = dims.length > 1 ? (width - m.l - m.r) / (dims.length - 1) : 0;
  const scales = dims.map((d) => {
    const vals = rows.map((r) => r.values[d.name]).filter((v) => v !== undefined && v !== null && v !== '');
    const numeric = vals.length && vals.every((v) => Number.isFinite(Number(v)));
    if (numeric) {
      const [lo, hi] = extent(vals.map(Number));
      return { numeric, lo, hi, pos: (v) => (Number(v) - lo) / (hi - lo) };
    }
    const cats = [...new Set(vals.map(String))].sort();
    return { numeric: false, cats, pos: (v) => (cats.length > 1 ? cats.indexOf(String(v)) / (cats.length - 1) : 0.5) };
  });
  const Y = (p) => height - m.b - p * (height - m.t - m.b);
  const root = svg('svg', { width, height, class: 'chart', role: 'img', 'aria-label': `parallel coordinates of ${dims.map((d) => d.name).join(', ')}` });
  rows.forEach((r, i) => {
    const pts = dims.map((d, j) => {
      const v = r.values[d.name];
      return v === undefined || v === null || v === '' ? null : `${m.l + j * step},${Y(scales[j].pos(v))}`;
    }).filter(Boolean);
    root.append(svg('polyline', { points: pts.join(' '), stroke: r.color || PALETTE[i % PALETTE.length], class: 'line pc-line' }, svg('title', {}, r.name)));
  });
  dims.forEach((d, j) => {
    const x = m.l + j * step;
    const sc = scales[j];
    root.append(svg('line', { x1: x, x2: x, y1: m.t, y2: height - m.b, class: 'axis' }));
    root.append(svg('text', { x, y: m.t - 12, 'text-anchor': 'middle', class: 'axis-label' }, d.name.length > 18 ? `${d.name.slice(0, 17)}…` : d.name));
    const labels = sc.numeric ? [[sc.lo, 0], [sc.hi, 1]] : sc.cats.map((c) => [c, sc.pos(c)]);
    for (const [v, p] of labels) root.append(svg('text', { x: x + 4, y: Y(p) + 4, class: 'tick' }, sc.numeric ? fmtTick(v) : String(v).slice(0, 12)));
  });
  container.replaceChildren(root);
}

/** Reference and live distributions of one feature as paired bars. bins: labels; ref/live: fractions. */
export function distributionChart(container, bins, ref, live) {
  const width = Math.max(260, container.clientWidth || 400);
  const height = 160;
  const m = { l: 36, r: 8, t: 8, b: 28 };
  const max = Math.max(...ref, ...live, 1e-9);
  const bw = (width - m.l - m.r) / Math.max(1, bins.length);
  const Y = (v) => height - m.b - (v / max) * (height - m.t - m.b);
  const root = svg('svg', { width, height, class: 'chart', role: 'img', 'aria-label': 'reference and live distributions' });
  bins.forEach((b, i) => {
    const x = m.l + i * bw;
    root.append(svg('rect', { x: x + 1, y: Y(ref[i] || 0), width: Math.max(1, bw / 2 - 2), height: height - m.b - Y(ref[i] || 0), class: 'bar-ref' }, svg('title', {}, `${b}: reference ${fmtTick(ref[i] || 0)}`)));
    root.append(svg('rect', { x: x + bw / 2, y: Y(live[i] || 0), width: Math.max(1, bw / 2 - 2), height: height - m.b - Y(live[i] || 0), class: 'bar-live' }, svg('title', {}, `${b}: live ${fmtTick(live[i] || 0)}`)));
    if (bins.length <= 12) root.append(svg('text', { x: x + bw / 2, y: height - m.b + 14, 'text-anchor': 'middle', class: 'tick' }, String(b).slice(0, 8)));
  });
  root.append(svg('line', { x1: m.l, x2: width - m.r, y1: height - m.b, y2: height - m.b, class: 'axis' }));
  const legend = document.createElement('div');
  legend.className = 'legend';
  legend.innerHTML = '<span><i class="bar-ref-swatch"></i>reference</span><span><i class="bar-live-swatch"></i>live</span>';
  container.replaceChildren(root, legend);
}

/** A small bar sparkline of counts (log template counts over time). */
export function sparkline(values, { width = 160, height = 28, label = 'counts over time' } = {}) {
  const max = Math.max(1, ...values);
  const bw = width / Math.max(1, values.length);
  const root = svg('svg', { width, height, class: 'spark', role: 'img', 'aria-label': label });
  values.forEach((v, i) => {
    const bh = (v / max) * (height - 2);
    root.append(svg('rect', { x: i * bw, y: height - bh, width: Math.max(1, bw - 1), height: bh }));
  });
  return root;
}
