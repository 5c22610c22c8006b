// Deployments and monitoring: served models' traffic, latency and errors (when the server lists
// deployments), and drift per feature and live performance over time, from the model-health signals
// the monitors send (GET /api/opsloop/v1/signals?kind=model_drift|model_performance).
import { ApiError, get, ops } from '../api.js';
import { distributionChart, lineChart, PALETTE } from '../charts.js';
import { badge, clear, emptyState, errorBox, fmtEpoch, fmtNum, h, section, setTitle } from '../dom.js';
import { href } from '../router.js';

const SIGNALS = '/api/opsloop/v1/signals';
const STAT_ORDER = ['psi', 'jensen_shannon', 'wasserstein', 'ks_statistic', 'chi2_statistic', 'ks_pvalue'];
const ms = (t) => (t < 1e11 ? t * 1000 : t);

export async function render(root, ctx) {
  setTitle('Deployments');
  const listHost = h('div', {});
  const healthHost = h('div', {});
  clear(root, h('h1', { text: 'Deployments and monitoring' }), section('Traffic, latency and errors', listHost), healthHost);
  loadDeployments(listHost);
  let drift;
  let perf;
  try {
    [drift, perf] = await Promise.all([
      get(SIGNALS, { kind: 'model_drift', limit: 5000 }).then((r) => r.signals || []),
      get(SIGNALS, { kind: 'model_performance', limit: 5000 }).then((r) => r.signals || []),
    ]);
  } catch (err) {
    clear(healthHost, err instanceof ApiError && err.missingEndpoint
      ? emptyState('Model health is not available on this server', 'This server does not serve the signals API (/api/opsloop/v1/signals), where drift and performance signals of served models arrive.')
      : errorBox(err, 'Loading model health signals'));
    return;
  }
  const models = [...new Set([...drift, ...perf].map((s) => s.service || (s.labels || {}).model).filter(Boolean))].sort();
  if (!models.length) {
    clear(healthHost, emptyState('No drift or performance signal yet',
      'Serve a model with monitoring: the monitor compares live rows with the reference sample and sends drift and live-performance signals here (they also open incidents when they fire).',
      `opsloop serve models:/my-model@champion --port 5001 \\\n    --monitor-store sqlite:///monitoring.db --reference reference.csv --drift-interval 300\n# or post them yourself: POST ${location.origin}/api/opsloop/v1/events  {"kind": "model_drift", "service": "my-model", "labels": {"feature": "age"}, "values": {"psi": 0.31}}`));
    return;
  }
  const model = models.includes(ctx.query.get('model')) ? ctx.query.get('model') : models[0];
  const of = (list) => list.filter((s) => (s.service || (s.labels || {}).model) === model).sort((a, b) => a.time - b.time);
  clear(healthHost,
    h('nav', { class: 'toolbar', 'aria-label': 'Models' }, models.map((m) => h('a', { class: 'button', href: href('/deployments', { model: m }), 'aria-current': m === model ? 'page' : null, text: m }))),
    section(`Drift of ${model} per feature`, driftView(of(drift))),
    section(`Live performance of ${model}`, perfView(of(perf))));
}

async function loadDeployments(host) {
  try {
    const res = await ops.deployments();
    drawList(host, res.deployments || []);
  } catch (err) {
    clear(host, err instanceof ApiError && err.missingEndpoint
      ? h('p', { class: 'muted', text: 'Not collected by this server yet: a model served with `opsloop serve` exposes its request counts and latencies on its own port (/metrics), but this server does not list deployments (GET /api/opsloop/v1/deployments is not served), so traffic, latency and errors cannot be shown here.' })
      : errorBox(err, 'Listing deployments'));
  }
}

function drawList(host, deployments) {
  if (!deployments.length) { clear(host, h('p', { class: 'muted', text: 'No deployment reported yet.' })); return; }
  clear(host, h('div', { class: 'table-wrap' }, h('table', { id: 'deployments-table' },
    h('thead', {}, h('tr', {}, ['Deployment', 'Model', 'Requests/s', 'p50 ms', 'p99 ms', 'Error rate', 'Status'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, deployments.map((d) => h('tr', {},
      h('td', {}, h('a', { href: href('/deployments', { model: d.model || d.name }), text: d.name })),
      h('td', { text: `${d.model || ''}${d.version ? ` v${d.version}` : ''}` }),
      h('td', { class: 'num', text: fmtNum(d.requests_per_s) }), h('td', { class: 'num', text: fmtNum(d.p50_ms) }),
      h('td', { class: 'num', text: fmtNum(d.p99_ms) }), h('td', { class: 'num', text: fmtNum(d.error_rate) }),
      h('td', { text: d.status || '' })))))));
}

function statOf(values) {
  const keys = Object.keys(values || {}).filter((k) => Number.isFinite(Number(values[k])));
  return STAT_ORDER.find((k) => keys.includes(k)) || keys[0];
}

function groupBy(list, key) {
  const out = new Map();
  for (const s of list) {
    const k = key(s);
    if (!out.has(k)) out.set(k, []);
    out.get(k).push(s);
  }
  return [...out.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}

function driftView(signals) {
  if (!signals.length) return h('p', { class: 'muted', text: 'No drift signal for this model yet.' });
  const grid = h('div', { class: 'grid2' });
  for (const [feature, list] of groupBy(signals, (s) => (s.labels || {}).feature || '__prediction__')) {
    const last = list[list.length - 1];
    const stat = statOf(last.values);
    const chart = h('div', {});
    const dist = h('div', {});
    grid.append(h('section', { class: 'card drift-feature', 'data-feature': feature },
      h('h3', {}, feature === '__prediction__' ? 'prediction' : feature, ' ', badge(last.status === 'firing' ? 'drifted' : 'ok', last.status === 'firing' ? 'failed' : 'ok')),
      h('p', { class: 'muted', text: `${Object.entries(last.values || {}).map(([k, v]) => `${k} ${fmtNum(v)}`).join(', ')} · ${fmtEpoch(last.time)}` }),
      chart, dist));
    queueMicrotask(() => {
      const pts = list.map((s) => [ms(s.time), Number((s.values || {})[stat])]).filter((p) => Number.isFinite(p[1]));
      lineChart(chart, { series: [{ name: stat || 'drift', points: pts, color: PALETTE[0], anomalies: list.filter((s) => s.status === 'firing').map((s) => [ms(s.time), Number((s.values || {})[stat])]) }],
        xTime: true, height: 150, label: `${feature} ${stat} over time` });
      const d = (last.evidence && last.evidence.drift) || last.evidence || {};
      const bins = d.bins || (d.histogram && d.histogram.bins);
      const ref = d.reference_histogram || (d.histogram && d.histogram.reference);
      const live = d.current_histogram || (d.histogram && d.histogram.current);
      if (bins && ref && live) distributionChart(dist, bins, ref, live);
      else dist.append(h('p', { class: 'muted', text: 'The monitor sent statistics but no bin counts, so the reference and live distributions are not drawn.' }));
    });
  }
  return grid;
}

function perfView(signals) {
  if (!signals.length) return h('p', { class: 'muted', text: 'No live-performance signal for this model yet (it needs ground-truth labels posted to the scoring server\'s /labels).' });
  const grid = h('div', { class: 'grid2' });
  for (const [metric, list] of groupBy(signals, (s) => (s.labels || {}).metric || 'metric')) {
    const host = h('div', {});
    const last = list[list.length - 1];
    grid.append(h('section', { class: 'card' }, h('h3', {}, metric, ' ', badge(last.status === 'firing' ? 'breached' : 'ok', last.status === 'firing' ? 'failed' : 'ok')),
      h('p', { class: 'muted', text: last.text || '' }), host));
    queueMicrotask(() => lineChart(host, {
      series: [{ name: metric, points: list.map((s) => [ms(s.time), Number((s.values || {}).observed)]).filter((p) => Number.isFinite(p[1])) }],
      xTime: true, height: 150, label: `${metric} over time`,
    }));
  }
  return grid;
}
