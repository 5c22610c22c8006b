// Metric history charts shared by the run and compare pages: step / wall time / relative time axis,
// smoothing, log scale, several runs overlaid.
import { mlflow } from './api.js';
import { lineChart, PALETTE, smooth } from './charts.js';
import { clear, errorBox, h } from './dom.js';
import { setQuery } from './router.js';

/** Controls bound to the URL query (x, smooth, log) so a link keeps the chart settings. */
export function chartControls(query, onChange) {
  const opts = { x: query.get('x') || 'step', smooth: Number(query.get('smooth') || 0), log: query.get('log') === '1' };
  const xSel = h('select', { 'aria-label': 'X axis' },
    [['step', 'Step'], ['time', 'Wall time'], ['relative', 'Relative time (s)']].map(([v, t]) => h('option', { value: v, text: t, selected: opts.x === v })));
  const sm = h('input', { type: 'range', min: 0, max: 0.99, step: 0.01, value: opts.smooth, 'aria-label': 'Smoothing' });
  const smOut = h('output', { text: opts.smooth.toFixed(2) });
  const log = h('input', { type: 'checkbox', checked: opts.log, 'aria-label': 'Log scale' });
  const changed = () => {
    opts.x = xSel.value;
    opts.smooth = Number(sm.value);
    opts.log = log.checked;
    smOut.textContent = opts.smooth.toFixed(2);
    const q = Object.fromEntries(new URLSearchParams(location.hash.split('?')[1] || ''));
    setQuery({ ...q, x: opts.x === 'step' ? '' : opts.x, smooth: opts.smooth ? opts.smooth : '', log: opts.log ? '1' : '' }, { push: false });
    onChange(opts);
  };
  xSel.addEventListener('change', changed);
  sm.addEventListener('input', changed);
  log.addEventListener('change', changed);
  const el = h('div', { class: 'chart-controls' },
    h('label', { class: 'inline' }, 'X axis ', xSel),
    h('label', { class: 'inline' }, 'Smoothing ', sm, smOut),
    h('label', { class: 'inline' }, log, 'Log scale'));
  return { el, opts };
}

const BULK_POINTS = 1000;
const MAX_CHARTS = 12;
const MAX_POINTS = 100_000;
const DRAW_POINTS = 4000;

/**
 * The history of ``key`` for each run: [{run, points: [metric]}]. One run gets its full history;
 * several runs share one sampled request (get-history-bulk-interval, up to 1000 points a run).
 */
export async function histories(runs, key) {
  let byRun;
  if (runs.length === 1) {
    byRun = { [runs[0].info.run_id]: await fullHistory(runs[0].info.run_id, key) };
  } else {
    const res = await mlflow.metricHistoryBulk(runs.map((r) => r.info.run_id), key, BULK_POINTS);
    byRun = {};
    for (const m of res.metrics || []) (byRun[m.run_id] = byRun[m.run_id] || []).push(m);
  }
  return runs.map((run) => {
    const pts = (byRun[run.info.run_id] || []).map((m) => ({ ...m, value: Number(m.value) }));
    pts.sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
    return { run, points: pts };
  });
}

/** Every point of one run's metric, page by page (up to MAX_POINTS). */
async function fullHistory(runId, key) {
  const out = [];
  let token;
  do {
    const res = await mlflow.metricHistory(runId, key, token);
    out.push(...(res.metrics || []));
    token = res.next_page_token;
  } while (token && out.length < MAX_POINTS);
  return out;
}

/**
 * At most about DRAW_POINTS points for drawing: per bucket of consecutive points, its lowest and highest
 * (in order), plus the first and last point. An even stride dropped what fell between its picks, such
 * as a loss spike or a NaN-free dip at one step of 100,000.
 */
export function thin(points, max = DRAW_POINTS) {
  if (points.length <= max) return points;
  const buckets = Math.max(1, Math.floor((max - 2) / 2));
  const size = (points.length - 2) / buckets;
  const out = [points[0]];
  for (let b = 0; b < buckets; b += 1) {
    const from = 1 + Math.floor(b * size);
    const to = Math.min(points.length - 1, 1 + Math.floor((b + 1) * size));
    let lo = -1;
    let hi = -1;
    for (let i = from; i < to; i += 1) {
      const y = points[i][1];
      if (!Number.isFinite(y)) continue;
      if (lo < 0 || y < points[lo][1]) lo = i;
      if (hi < 0 || y > points[hi][1]) hi = i;
    }
    if (lo < 0) { if (to > from) out.push(points[from]); continue; }  // a bucket of NaN only: keep one gap
    if (lo === hi) out.push(points[lo]);
    else out.push(...(lo < hi ? [points[lo], points[hi]] : [points[hi], points[lo]]));
  }
  out.push(points[points.length - 1]);
  return out;
}

function xOf(m, mode, t0) {
  if (mode === 'time') return Number(m.timestamp);
  if (mode === 'relative') return (Number(m.timestamp) - t0) / 1000;
  return Number(m.step);
}

/** One card per metric with the runs overlaid; redraws in place when the options change. */
export function metricChart(key, data, opts) {
  const host = h('div', { class: 'metric-chart' });
  const card = h('section', { class: 'card', 'data-metric': key }, h('h3', { text: key }), host);
  const draw = () => {
    const series = data.map(({ run, points }, i) => {
      const t0 = Number(run.info.start_time) || (points[0] ? Number(points[0].timestamp) : 0);
      const raw = points.map((m) => [xOf(m, opts.x, t0), m.value]);
      if (opts.x !== 'step') raw.sort((a, b) => a[0] - b[0]);
      return { name: run.info.run_name || run.info.run_id, color: PALETTE[i % PALETTE.length], points: thin(smooth(raw, opts.smooth)) };
    });
    if (series.every((s) => !s.points.length)) {
      clear(host, h('p', { class: 'muted', text: 'No points logged.' }));
      return;
    }
    if (!series.some((s) => s.points.some(([, y]) => Number.isFinite(Number(y))))) {
      clear(host, h('p', { class: 'muted', text: 'Nothing to draw: every point logged is NaN or ±Infinity.' }));
      return;
    }
    lineChart(host, { series, xTime: opts.x === 'time', yLog: opts.log, height: 220, label: `${key} over ${opts.x}`,
      xLabel: { step: 'step', time: 'time', relative: 'seconds' }[opts.x] });
  };
  return { card, draw };
}

/** Charts for ``keys`` over ``runs`` into ``container``, with controls above them. */
export async function renderMetricCharts(container, runs, keys, query) {
  if (!keys.length) {
    clear(container, h('p', { class: 'muted', text: 'No metrics logged. Log some with mlflow.log_metric(key, value, step=…).' }));
    return;
  }
  const charts = [];
  const controls = chartControls(query, () => charts.forEach((c) => c.draw()));
  const grid = h('div', { class: 'grid2' });
  const shown = keys.slice(0, MAX_CHARTS);
  const rest = keys.slice(MAX_CHARTS);
  const more = rest.length ? h('button', { type: 'button', text: `Show ${rest.length} more metric charts` }) : null;
  clear(container, controls.el, grid, more);
  if (more) more.addEventListener('click', () => { more.remove(); addCharts(rest); });
  await addCharts(shown);

  async function addCharts(list) {
    await Promise.all(list.map((key) => addChart(key)));
    // Keep the charts in name order whatever order the requests finished in.
    [...grid.children].sort((a, b) => (a.dataset.metric || '').localeCompare(b.dataset.metric || '')).forEach((c) => grid.append(c));
  }

  async function addChart(key) {
    try {
      const data = await histories(runs, key);
      const chart = metricChart(key, data, controls.opts);
      charts.push(chart);
      grid.append(chart.card);
      chart.draw();
    } catch (err) {
      grid.append(h('section', { class: 'card', 'data-metric': key }, h('h3', { text: key }), errorBox(err, `Loading ${key}`)));
    }
  }
}
