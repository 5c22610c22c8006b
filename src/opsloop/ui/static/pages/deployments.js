// Deployments and monitoring: the models this server scores at /serving/... with their traffic,
// latency and errors over time (GET /api/opsloop/v1/deployments[/{name}/{ref}]), and per model the
// drift of each feature over time with the reference distribution beside the live one, plus live
// performance, from the model-health signals (GET /api/opsloop/v1/signals?kind=model_drift|model_performance).
import { ApiError, get, ops } from '../api.js';
import { distributionChart, lineChart, PALETTE } from '../charts.js';
import { badge, clear, emptyState, errorBox, fmtEpoch, fmtNum, h, section, setTitle } from '../dom.js';
import { href } from '../router.js';

const SIGNALS = '/api/opsloop/v1/signals';
const DEPLOYMENTS = '/api/opsloop/v1/deployments';
const STAT_ORDER = ['psi', 'jensen_shannon', 'wasserstein', 'ks_statistic', 'chi2_statistic', 'ks_pvalue'];
const ms = (t) => (t < 1e11 ? t * 1000 : t);
const enc = encodeURIComponent;
const modelOf = (s) => s.service || (s.labels || {}).model;

export async function render(root, ctx) {
  setTitle('Deployments');
  const listHost = h('div', {});
  const healthHost = h('div', {});
  clear(root, h('h1', { text: 'Deployments and monitoring' }), section('Traffic, latency and errors', listHost), healthHost);
  const [deployments, signals] = await Promise.all([loadDeployments(listHost, ctx), loadSignals(healthHost)]);
  if (!signals) return;
  const [drift, perf] = signals;
  const models = [...new Set([...drift.map(modelOf), ...perf.map(modelOf), ...deployments.map((d) => d.model)].filter(Boolean))].sort();
  if (!drift.length && !perf.length) {
    clear(healthHost, emptyState('No drift or performance signal yet',
      'Serve a model with monitoring: the monitor compares live rows with the reference sample and sends drift (with the reference and live distributions) and live-performance signals here; they also open incidents when they fire.',
      `opsloop serve models:/my-model@champion --port 5001 \\\n    --monitor-store sqlite:///monitoring.db --reference reference.csv --drift-interval 300\n# or post them yourself: POST ${location.origin}/api/opsloop/v1/events  {"kind": "model_drift", "service": "my-model", "labels": {"feature": "age"}, "values": {"psi": 0.31}}`));
    return;
  }
  const model = models.includes(ctx.query.get('model')) ? ctx.query.get('model') : models.find((m) => drift.some((s) => modelOf(s) === m)) || models[0];
  const of = (list) => list.filter((s) => modelOf(s) === model).sort((a, b) => a.time - b.time);
  clear(healthHost,
    h('nav', { class: 'toolbar', 'aria-label': 'Models' }, models.map((m) => h('a', { class: 'button', href: href('/deployments', { model: m, dep: ctx.query.get('dep') }), 'aria-current': m === model ? 'page' : null, text: m }))),
    section(`Drift of ${model} per feature`, driftView(of(drift))),
    section(`Live performance of ${model}`, perfView(of(perf))));
}

async function loadSignals(host) {
  try {
    return await Promise.all([
      get(SIGNALS, { kind: 'model_drift', limit: 5000 }).then((r) => r.signals || []),
      get(SIGNALS, { kind: 'model_performance', limit: 5000 }).then((r) => r.signals || []),
    ]);
  } catch (err) {
    clear(host, err instanceof ApiError && err.missingEndpoint
      ? emptyState('Model health is not available on this server', 'This server does not serve the signals API (/api/opsloop/v1/signals), where drift and performance signals of served models arrive.')
      : errorBox(err, 'Loading model health signals'));
    return null;
  }
}

async function loadDeployments(host, ctx) {
  let res;
  try {
    res = await ops.deployments();
  } catch (err) {
    clear(host, err instanceof ApiError && err.missingEndpoint
      ? h('p', { class: 'muted', text: 'This server does not list deployments (GET /api/opsloop/v1/deployments is not served), so traffic, latency and errors cannot be shown here; a model served with `opsloop serve` exposes them on its own port (/metrics).' })
      : errorBox(err, 'Listing deployments'));
    return [];
  }
  const deployments = res.deployments || [];
  if (!deployments.length) {
    clear(host, h('div', { class: 'deployments-empty' },
      h('p', { class: 'muted', text: 'No model has been scored by this server since it started. Every registered model is served at /serving/<name>/<version or alias>/invocations; score one and its requests, errors and latency appear here (sampled every few seconds). A model served by its own `opsloop serve` process reports on its own port instead.' }),
      h('pre', { class: 'code' }, h('code', { text: `curl -X POST ${location.origin}/serving/my-model/champion/invocations \\\n  -H 'content-type: application/json' \\\n  -d '{"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}'` }))));
    return [];
  }
  const chosen = deployments.find((d) => d.name === ctx.query.get('dep')) || deployments[0];
  const detail = h('div', { id: 'deployment-detail' });
  clear(host, deploymentTable(deployments, chosen, ctx), detail);
  loadDetail(detail, chosen, res.sample_seconds);
  return deployments;
}

function deploymentTable(deployments, chosen, ctx) {
  const cols = ['Deployment', 'Status', 'Requests', 'Requests/s (1 min)', 'Errors', 'Error rate', 'p50 ms', 'p95 ms', 'p99 ms'];
  return h('div', { class: 'table-wrap' }, h('table', { id: 'deployments-table' },
    h('thead', {}, h('tr', {}, cols.map((t, i) => h('th', { scope: 'col', class: i >= 2 ? 'num' : null, text: t })))),
    h('tbody', {}, deployments.map((d) => h('tr', { 'data-deployment': d.name, class: d === chosen ? 'selected' : null },
      h('td', {}, h('a', { href: href('/deployments', { dep: d.name, model: ctx.query.get('model') || d.model }), 'aria-current': d === chosen ? 'true' : null, text: d.name })),
      h('td', {}, badge(d.status, d.status === 'serving' ? 'ok' : 'muted')),
      ...[d.requests, d.requests_per_s, d.errors, d.error_rate, d.p50_ms, d.p95_ms, d.p99_ms]
        .map((v) => h('td', { class: 'num', text: fmtNum(v) })))))));
}

async function loadDetail(host, dep, sampleSeconds) {
  let doc;
  try {
    doc = await get(`${DEPLOYMENTS}/${enc(dep.model)}/${enc(dep.ref)}`);
  } catch (err) {
    clear(host, errorBox(err, `Loading ${dep.name}`));
    return;
  }
  const kinds = Object.entries(doc.error_kinds || {}).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(', ');
  const traffic = h('div', { class: 'chart-traffic' });
  const latency = h('div', { class: 'chart-latency' });
  const errors = h('div', { class: 'chart-errors' });
  clear(host,
    h('h3', {}, `${doc.name} `, h('span', { class: 'muted', text: `${doc.uri} · ${doc.flavor || ''} · POST ${doc.invocations}` })),
    h('p', { class: 'muted', text: `${doc.requests} requests (${Object.entries(doc.status_counts || {}).map(([k, n]) => `${k} ${n}`).join(', ')}); errors: ${kinds || 'none'}; mean ${fmtNum(doc.mean_ms)} ms. Percentiles are estimated within latency histogram buckets.` }),
    doc.series.length
      ? h('div', { class: 'grid3' }, h('section', { class: 'card' }, h('h4', { text: 'Traffic' }), traffic),
        h('section', { class: 'card' }, h('h4', { text: 'Latency' }), latency), h('section', { class: 'card' }, h('h4', { text: 'Errors' }), errors))
      : h('p', { class: 'muted', id: 'series-pending', text: `The server samples these counters every ${sampleSeconds || 5} s; the first point of the charts appears after the next sample (reload the page).` }));
  if (!doc.series.length) return;
  const pts = (key) => doc.series.map((p) => [ms(p.time), p[key]]).filter((p) => Number.isFinite(p[1]));
  lineChart(traffic, { series: [{ name: 'requests/s', points: pts('requests_per_s'), color: PALETTE[0] }], xTime: true, height: 150, yMin: 0, label: `${doc.name} requests per second` });
  lineChart(latency, { series: ['p50_ms', 'p95_ms', 'p99_ms'].map((k, i) => ({ name: k.replace('_ms', ' ms'), points: pts(k), color: PALETTE[i] })), xTime: true, height: 150, yMin: 0, label: `${doc.name} latency percentiles` });
  lineChart(errors, { series: [{ name: 'errors', points: pts('errors'), color: PALETTE[1] }], xTime: true, height: 150, yMin: 0, label: `${doc.name} errors per sample` });
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

// The bins and both distributions of a drift signal: evidence.drift.histogram (what opsloop's monitor
// sends), or bins + reference_histogram + current_histogram.
function histogramOf(signal) {
  const d = (signal.evidence && signal.evidence.drift) || signal.evidence || {};
  const hist = d.histogram || {};
  const bins = d.bins || hist.bins;
  const ref = d.reference_histogram || hist.reference;
  const live = d.current_histogram || hist.current;
  return bins && ref && live ? { bins, ref, live } : null;
}

const shares = (counts) => {
  const total = counts.reduce((a, b) => a + Number(b || 0), 0) || 1;
  return counts.map((c) => Number(c || 0) / total);
};

function driftView(signals) {
  if (!signals.length) return h('p', { class: 'muted', text: 'No drift signal for this model yet.' });
  const grid = h('div', { class: 'grid2' });
  for (const [feature, list] of groupBy(signals, (s) => (s.labels || {}).feature || '__prediction__')) {
    const last = list[list.length - 1];
    const stat = statOf(last.values);
    const chart = h('div', {});
    const dist = h('div', { class: 'drift-distribution' });
    grid.append(h('section', { class: 'card drift-feature', 'data-feature': feature },
      h('h3', {}, feature === '__prediction__' ? 'prediction' : feature, ' ', badge(last.status === 'firing' ? 'drifted' : 'ok', last.status === 'firing' ? 'failed' : 'ok')),
      h('p', { class: 'muted', text: `${Object.entries(last.values || {}).map(([k, v]) => `${k} ${fmtNum(v)}`).join(', ')} · ${fmtEpoch(last.time)}` }),
      chart, dist));
    queueMicrotask(() => {
      const pts = list.map((s) => [ms(s.time), Number((s.values || {})[stat])]).filter((p) => Number.isFinite(p[1]));
      lineChart(chart, { series: [{ name: stat || 'drift', points: pts, color: PALETTE[0], anomalies: list.filter((s) => s.status === 'firing').map((s) => [ms(s.time), Number((s.values || {})[stat])]) }],
        xTime: true, height: 150, label: `${feature} ${stat} over time` });
      const withHist = [...list].reverse().find(histogramOf);
      const hist = withHist && histogramOf(withHist);
      if (!hist) {
        dist.append(h('p', { class: 'muted', text: 'The monitor sent statistics but no bin counts, so the reference and live distributions are not drawn.' }));
        return;
      }
      const sum = (xs) => xs.reduce((a, b) => a + Number(b || 0), 0);
      distributionChart(dist, hist.bins, shares(hist.ref), shares(hist.live));
      dist.append(h('p', { class: 'muted', text: `Share of rows per bin: reference ${sum(hist.ref)} rows, live ${sum(hist.live)} rows (${fmtEpoch(withHist.time)}).` }));
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
