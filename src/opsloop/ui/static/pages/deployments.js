// Deployments and monitoring: the models this server scores at /serving/... with their traffic,
// latency and errors over time (GET /api/opsloop/v1/deployments[/{name}/{ref}]); per model, the
// server's own monitoring of those requests (GET /api/opsloop/v1/monitoring/models/{model}[/drift|
// /performance]: sampled rows, the reference and where it came from, the latest drift check per feature,
// live performance), the drift of each feature over time with the reference distribution beside the
// live one, and the model's drift/performance signals with the incidents they opened (GET /api/opsloop/v1/signals).
import { ApiError, get, ops } from '../api.js';
import { distributionChart, lineChart, PALETTE } from '../charts.js';
import { badge, clear, emptyState, errorBox, fmtEpoch, fmtNum, h, kvTable, loading, section, setTitle } from '../dom.js';
import { href } from '../router.js';

const SIGNALS = '/api/opsloop/v1/signals';
const DEPLOYMENTS = '/api/opsloop/v1/deployments';
const MONITORING = '/api/opsloop/v1/monitoring';
const PREDICTION = '__prediction__';
const TRAINING_DATA_TAG = 'opsloop.training_data'; // lineage.TRAINING_DATA_TAG: where a version's training data is
const STAT_ORDER = ['psi', 'jensen_shannon', 'wasserstein', 'ks_statistic', 'chi2_statistic', 'ks_pvalue'];
// the drift report's statistics, in the order of the report table's columns
const REPORT_STATS = [['psi', 'PSI'], ['ks_statistic', 'KS statistic'], ['ks_pvalue', 'KS p-value'],
  ['chi2', 'χ²'], ['chi2_pvalue', 'χ² p-value'], ['jensen_shannon', 'JS distance'], ['current_mean', 'Live mean']];
// DriftPolicy's defaults (src/opsloop/mlops/monitoring/drift.py), shown when the reference keeps none
const BOUNDS = [['accuracy', 'min_accuracy', '≥'], ['mae', 'max_mae', '≤'], ['rmse', 'max_rmse', '≤']];
const ms = (t) => (t < 1e11 ? t * 1000 : t);
const enc = encodeURIComponent;
const modelOf = (s) => s.service || (s.labels || {}).model;
const featureName = (f) => (f === PREDICTION ? 'prediction' : f);
const shellWord = (s) => (/^[\w.@:/-]+$/.test(s) ? s : `'${String(s).replace(/'/g, "'\\''")}'`);

/** Drift report features in reading order: drifted first, then checked ones, those without a verdict
 * last; within each, the largest PSI (numeric) or Jensen-Shannon distance (categorical) first. */
export function driftOrder(features) {
  const rank = (f) => (f.drifted ? 0 : f.note ? 2 : 1);
  const size = (f) => { const s = f.statistics || {}; return Number(s.psi ?? s.jensen_shannon ?? -1); };
  return [...(features || [])].sort((a, b) => rank(a) - rank(b) || size(b) - size(a) || String(a.feature).localeCompare(String(b.feature)));
}

/** One model's monitoring status (GET …/monitoring/models/{model}) in a few words: [text, badge kind]. */
export function monitoringSummary(status) {
  if (!status) return ['not monitored', 'muted'];
  if (!status.reference) return ['no reference', 'muted'];
  if (!status.last_drift_check) return ['not checked yet', 'muted'];
  const drifted = (status.drifted || []).map(featureName);
  return drifted.length ? [`drift: ${drifted.join(', ')}`, 'failed'] : ['no drift', 'ok'];
}

export async function render(root, ctx) {
  setTitle('Deployments');
  const listHost = h('div', {});
  const healthHost = h('div', { id: 'model-monitoring' }, loading());
  clear(root, h('h1', { text: 'Deployments and monitoring' }), section('Traffic, latency and errors', listHost), healthHost);
  const status = statusCache();
  const [deployments, signals, monitored] = await Promise.all([loadDeployments(listHost, ctx, status), loadSignals(), monitoredModels()]);
  const { drift, perf } = signals;
  const models = [...new Set([...monitored.models, ...drift.map(modelOf), ...perf.map(modelOf), ...deployments.map((d) => d.model)].filter(Boolean))].sort();
  if (!models.length) {
    clear(healthHost, monitored.error ? monitoringUnavailable(monitored.error) : null, signals.error,
      emptyState('No model is monitored yet',
        'This server samples the requests it scores at /serving/<name>/<version or alias>/invocations and checks them for drift against a reference you set per model (and live performance once labels are posted); drift and performance signals open incidents. Score a model, then set its reference from the training data:',
        referenceCommands('my-model')));
    return;
  }
  const model = models.includes(ctx.query.get('model')) ? ctx.query.get('model') : models.find((m) => drift.some((s) => modelOf(s) === m)) || models[0];
  const of = (list) => list.filter((s) => modelOf(s) === model).sort((a, b) => a.time - b.time);
  const body = h('div', {}, loading());
  clear(healthHost,
    h('nav', { class: 'toolbar', 'aria-label': 'Models' }, models.map((m) => h('a', { class: 'button', href: href('/deployments', { model: m, dep: ctx.query.get('dep') }), 'aria-current': m === model ? 'page' : null, text: m }))),
    body);
  await modelMonitoring(body, model, status, { drift: of(drift), perf: of(perf), error: signals.error });
}

/** GET …/monitoring/models/{model} once per model and page view (the table and the model section share it). */
function statusCache() {
  const cache = new Map();
  return (model) => {
    if (!cache.has(model)) cache.set(model, get(`${MONITORING}/models/${enc(model)}`));
    return cache.get(model);
  };
}

async function monitoredModels() {
  try {
    return { models: (await get(`${MONITORING}/models`)).models || [] };
  } catch (err) {
    return { models: [], error: err };
  }
}

async function loadSignals() {
  try {
    const [drift, perf] = await Promise.all([
      get(SIGNALS, { kind: 'model_drift', limit: 5000 }).then((r) => r.signals || []),
      get(SIGNALS, { kind: 'model_performance', limit: 5000 }).then((r) => r.signals || []),
    ]);
    return { drift, perf };
  } catch (err) {
    return { drift: [], perf: [], error: err instanceof ApiError && err.missingEndpoint
      ? h('p', { class: 'muted', text: 'This server does not serve the signals API (/api/opsloop/v1/signals), so drift over time and the incidents of signals are not shown.' })
      : errorBox(err, 'Loading model health signals') };
  }
}

function monitoringUnavailable(err) {
  return err instanceof ApiError && (err.missingEndpoint || err.status === 503)
    ? h('p', { class: 'muted monitoring-off', text: `Model monitoring is not available on this server (${MONITORING}: ${err.message}), so sampled requests, references and drift checks cannot be shown.` })
    : errorBox(err, 'Loading model monitoring');
}

function referenceCommands(model) {
  return `opsloop --url ${location.origin} models reference ${shellWord(model)} --data train.parquet\n`
    + '# or through the API, with the data logged to a run (or inline rows: {"dataframe_split": {"columns": […], "data": […]}})\n'
    + `curl -X POST ${location.origin}${MONITORING}/models/${enc(model)}/reference \\\n`
    + "  -H 'content-type: application/json' \\\n"
    + '  -d \'{"path": "runs:/<run_id>/data/train.parquet"}\'';
}

async function loadDeployments(host, ctx, status) {
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
  const health = get(`${MONITORING}/health`).then((r) => r.deployments || []);
  clear(host, deploymentTable(deployments, chosen, ctx, status, health), detail);
  loadDetail(detail, chosen, res.sample_seconds);
  return deployments;
}

/** A deployment's health checks (GET /api/opsloop/v1/monitoring/health: 5xx rate and p99 latency over its
 * window, against its thresholds) in a few words and a badge kind: the firing ones, else "ok", else why no
 * check has a verdict yet. */
export function healthSummary(state) {
  const checks = Object.entries((state || {}).checks || {}).filter(([, c]) => c.threshold !== null && c.threshold !== undefined);
  if (!state || !checks.length) return ['no checks', 'muted'];
  const shown = (name, v) => (name === 'error_rate' ? `${(100 * v).toFixed(1)}%` : `${Math.round(1000 * v)} ms`);
  const label = { error_rate: '5xx rate', latency_p99: 'p99' };
  const firing = checks.filter(([, c]) => c.firing);
  if (firing.length) {
    return [firing.map(([n, c]) => `${label[n] || n} ${c.observed === null || c.observed === undefined ? '—' : shown(n, c.observed)} > ${shown(n, c.threshold)}`).join(', '), 'failed'];
  }
  if (checks.every(([, c]) => c.observed === null || c.observed === undefined)) return [`too few requests in ${fmtNum(state.window_s)} s`, 'muted'];
  return ['ok', 'ok'];
}

function deploymentTable(deployments, chosen, ctx, status, health) {
  const cols = ['Deployment', 'Status', 'Requests', 'Requests/s (1 min)', 'Errors', 'Error rate', 'p50 ms', 'p95 ms', 'p99 ms', 'Health', 'Monitoring'];
  return h('div', { class: 'table-wrap' }, h('table', { id: 'deployments-table' },
    h('thead', {}, h('tr', {}, cols.map((t, i) => h('th', { scope: 'col', class: i >= 2 && i <= 8 ? 'num' : null, text: t })))),
    h('tbody', {}, deployments.map((d) => h('tr', { 'data-deployment': d.name, class: d === chosen ? 'selected' : null },
      h('td', {}, h('a', { href: href('/deployments', { dep: d.name, model: ctx.query.get('model') || d.model }), 'aria-current': d === chosen ? 'true' : null, text: d.name })),
      h('td', {}, badge(d.status, d.status === 'serving' ? 'ok' : 'muted')),
      ...[d.requests, d.requests_per_s, d.errors].map((v) => h('td', { class: 'num', text: fmtNum(v) })),
      h('td', { class: 'num', text: fmtShare(d.error_rate) }),
      ...[d.p50_ms, d.p95_ms, d.p99_ms].map((v) => h('td', { class: 'num', text: fmtNum(v) })),
      healthCell(health, d),
      monitoringCell(status(d.model), href('/deployments', { dep: d.name, model: d.model })))))));
}

/** A share (0.1667) as a percentage (16.7%), as the health checks and Grafana's panels read it. */
export const fmtShare = (v) => (v === undefined || v === null || !Number.isFinite(Number(v)) ? '' : `${fmtNum(Number((100 * v).toFixed(Math.abs(v) < 0.001 && v ? 3 : 1)))}%`);

/** A deployments-table cell with the deployment's health checks, once the server has judged them. */
function healthCell(promise, dep) {
  const cell = h('td', { class: 'health-cell' }, h('span', { class: 'muted', text: '…' }));
  promise.then((states) => {
    const state = states.find((x) => x.model === dep.model && x.ref === dep.ref);
    const [text, kind] = healthSummary(state);
    clear(cell, badge(text, kind));
  }, (err) => clear(cell, h('span', { class: 'muted', title: err.message, text: '—' })));
  return cell;
}

/** A deployments-table cell that fills in once its model's monitoring status arrives. */
function monitoringCell(promise, link) {
  const cell = h('td', { class: 'monitoring-cell' }, h('span', { class: 'muted', text: '…' }));
  promise.then((st) => {
    const [text, kind] = monitoringSummary(st);
    clear(cell, h('a', { href: link, title: 'Show this model\'s monitoring below' }, badge(text, kind)));
  }, (err) => clear(cell, h('span', { class: 'muted', title: err.message, text: '—' })));
  return cell;
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

// One card per feature with drift signals, the firing ones first: the statistic over time and the
// reference distribution beside the live one (from the latest drift check when it is the newest).
function driftView(signals, report) {
  if (!signals.length) return h('p', { class: 'muted', text: 'No drift signal for this model yet.' });
  const grid = h('div', { class: 'grid2' });
  const firing = ([, list]) => (list[list.length - 1].status === 'firing' ? 0 : 1);
  const groups = groupBy(signals, (s) => (s.labels || {}).feature || PREDICTION).sort((a, b) => firing(a) - firing(b));
  for (const [feature, list] of groups) {
    const last = list[list.length - 1];
    const stat = statOf(last.values);
    const chart = h('div', {});
    const dist = h('div', { class: 'drift-distribution' });
    grid.append(h('section', { class: 'card drift-feature', 'data-feature': feature },
      h('h3', {}, featureName(feature), ' ', badge(last.status === 'firing' ? 'drifted' : 'ok', last.status === 'firing' ? 'failed' : 'ok')),
      h('p', { class: 'muted', text: `${Object.entries(last.values || {}).map(([k, v]) => `${k} ${fmtNum(v)}`).join(', ')} · ${fmtEpoch(last.time)}` }),
      chart, dist));
    queueMicrotask(() => {
      const pts = list.map((s) => [ms(s.time), Number((s.values || {})[stat])]).filter((p) => Number.isFinite(p[1]));
      lineChart(chart, { series: [{ name: stat || 'drift', points: pts, color: PALETTE[0], anomalies: list.filter((s) => s.status === 'firing').map((s) => [ms(s.time), Number((s.values || {})[stat])]) }],
        xTime: true, height: 150, label: `${feature} ${stat} over time` });
      const checked = report && (report.features || []).find((f) => f.feature === feature && f.histogram);
      const signalled = [...list].reverse().find(histogramOf);
      const withHist = checked && (!signalled || report.time >= signalled.time) ? { time: report.time, evidence: { drift: checked } } : signalled;
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
  if (!signals.length) return h('p', { class: 'muted', text: 'No live-performance signal for this model yet: one is sent when live performance (from posted labels) breaks a bound kept with the reference, and when it is back within it.' });
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

const settle = (promise) => promise.then((value) => ({ value }), (error) => ({ error }));

// One model's monitoring: its status, the latest drift check, drift over time, live performance and its signals.
async function modelMonitoring(host, model, status, signals) {
  const st = await settle(status(model));
  const ref = st.value && st.value.reference;
  const path = `${MONITORING}/models/${enc(model)}`;
  const [report, perf, incidents] = await Promise.all([
    ref ? settle(get(`${path}/drift`, { limit: 1 }).then((r) => (r.reports || [])[0] || null)) : {},
    st.value ? settle(get(`${path}/performance`).then((r) => r.report || {})) : {},
    settle(ops.incidents({ service: model, limit: 200 }).then((r) => r.incidents || [])),
  ]);
  clear(host,
    section(`Monitoring of ${model}`, h('div', { id: 'monitoring-status' }, st.error ? statusError(model, st.error) : statusView(model, st.value))),
    ref ? section(`Latest drift check of ${model}`, h('div', { id: 'drift-report' }, driftReportView(model, report, ref))) : null,
    signals.drift.length ? section(`Drift of ${model} per feature over time`, driftView(signals.drift, report.value)) : null,
    section(`Live performance of ${model}`, h('div', { id: 'live-performance' }, performanceView(model, perf, st.value), perfView(signals.perf))),
    section(`Drift and performance signals of ${model}`, h('div', { id: 'model-signals' },
      signals.error, signalsTable([...signals.drift, ...signals.perf], incidents.value || []))));
}

function statusError(model, err) {
  return err instanceof ApiError && err.status === 404 && err.code === 'RESOURCE_DOES_NOT_EXIST'
    ? h('p', { class: 'muted', text: `${model} is not a registered model of this server, so its requests are not sampled here; its signals below were sent by another monitor (such as \`opsloop serve --report-to\`).` })
    : monitoringUnavailable(err);
}

function statusView(model, st) {
  const ref = st.reference;
  const [summary, kind] = monitoringSummary(st);
  const pairs = [
    ['Sampled rows', fmtNum(st.samples)],
    ['Reference', ref ? `${fmtNum(ref.rows)} rows, set ${fmtEpoch(ref.created)}` : badge('not set', 'muted')],
  ];
  if (ref) {
    const columns = Object.entries(ref.features || {}).map(([k, v]) => `${k} (${v})`);
    pairs.push(...originPairs(model, ref.origin),
      ['Profiled', `${columns.join(', ')}${ref.predictions ? `${columns.length ? ', ' : ''}prediction` : ''}` || 'nothing'],
      ['Last drift check', st.last_drift_check ? fmtEpoch(st.last_drift_check) : 'not yet'],
      ['Drift', badge(summary, kind)]);
  }
  return [ref && ref.behind ? behindBanner(model, ref.origin || {}, ref.behind) : null, kvTable(pairs),
    st.samples ? null : h('p', { class: 'muted', text: `No request of ${model} sampled yet: a share (monitoring.sample_rate) of the rows scored at /serving/${model}/<version or alias>/invocations is kept for the drift and performance checks.` }),
    ref ? null : h('div', { class: 'reference-hint' },
      h('p', { text: `No reference is set for ${model}, so its sampled rows are not checked for drift. Set one from the training data (a Parquet or CSV file: a local file is sent inline, a runs:/ path is read by the server); the server then checks drift every monitoring.drift_interval_s seconds, or at once on POST …/drift.` }),
      h('pre', { class: 'code' }, h('code', { text: referenceCommands(model) })))];
}

/** A reference's origin (its summary's `origin`) as rows of the status table: the data it was read
 * from (a link to the run that logged it) and the model version it profiles, or how it followed its alias. */
function originPairs(model, origin) {
  if (!origin) return [['Reference data', h('span', { class: 'muted', text: 'not recorded (set before opsloop recorded where a reference comes from)' })]];
  const data = origin.data === 'inline'
    ? h('span', { class: 'reference-data', text: 'inline rows sent with the request' })
    : h('span', { class: 'reference-data' }, origin.run_id
      ? h('a', { href: href(`/runs/${enc(origin.run_id)}`), class: 'reference-run', title: `run ${origin.run_id}` }, h('code', { text: origin.data }))
      : h('code', { text: origin.data }));
  const previous = (origin.previous || {}).data;
  return [['Reference data', data], ['Reference version', h('span', { id: 'reference-origin', title: previous ? `before: ${previous}` : null },
    originText(origin), versionLink(model, origin.version))]];
}

/** How a reference relates to the served model, in words: the version it profiles and its alias. */
export function originText(origin) {
  const o = origin || {};
  if (!o.version) return 'profiled without a model version (no served model named it)';
  const prev = o.previous || {};
  if (o.set === 'followed') return `version ${o.version}: followed @${o.alias} from version ${prev.version || '?'} on ${fmtEpoch(o.time)}`;
  if (o.alias) return `version ${o.version} (served at @${o.alias}; the reference follows the alias to each promoted version's training data)`;
  return `version ${o.version} (set with a version number, so it stays with that version)`;
}

const versionLink = (model, v) => (v ? [' · ', h('a', { href: href(`/models/${enc(model)}`, { v }), class: 'reference-version', text: 'in the registry' })] : null);

// The reference did not follow its alias: the version served now has no training data the server can find.
function behindBanner(model, origin, behind) {
  const alias = behind.alias || origin.alias;
  const body = { name: model, version: String(behind.version), key: TRAINING_DATA_TAG, value: '<path of its training data in its run, or a runs:/ URI>' };
  return h('div', { class: 'notice reference-behind', role: 'alert' },
    h('p', {}, h('strong', { text: `Drift is measured against version ${origin.version || '?'}'s training data; ` }),
      `version ${behind.version} (served at @${alias}) has no known training data: tag it ${TRAINING_DATA_TAG} (on the version or its run), and the reference follows at the next check.`),
    behind.reason ? h('p', { class: 'muted', text: `Since ${fmtEpoch(behind.since || behind.time)}: ${behind.reason}.` }) : null,
    h('pre', { class: 'code' }, h('code', { text: `curl -X POST ${location.origin}/api/2.0/mlflow/model-versions/set-tag \\\n  -H 'content-type: application/json' \\\n  -d '${JSON.stringify(body).replace(/'/g, "'\\''")}'` })));
}

function driftRule(p) {
  if (!p) return '';
  return `A numeric feature drifts when PSI > ${p.psi_threshold} beyond what samples of this size show by chance, its bins differing at χ² p-value < ${p.psi_alpha}, or KS p-value < ${p.ks_alpha} with KS statistic > ${p.ks_min_statistic}; a categorical one when χ² p-value < ${p.chi2_alpha} with the Jensen-Shannon distance > ${p.js_threshold / 2} (above ${p.js_threshold}: a big drift).`;
}

function driftReportView(model, report, ref) {
  if (report.error) return errorBox(report.error, `Loading the drift reports of ${model}`);
  if (!report.value) {
    return h('p', { class: 'muted', text: `Not checked yet: the server checks ${model} when it has rows sampled since its last check (every monitoring.drift_interval_s seconds). Check now: opsloop --url ${location.origin} models drift ${shellWord(model)}, or POST ${MONITORING}/models/${enc(model)}/drift.` });
  }
  const r = report.value;
  const drifted = r.drifted || [];
  return [
    h('p', { class: 'muted', text: `${fmtEpoch(r.time)}: the newest ${fmtNum(r.current_rows)} sampled rows against ${fmtNum(r.reference_rows)} reference rows; ${drifted.length ? `${drifted.length} of ${(r.features || []).length} drifted (${drifted.map(featureName).join(', ')})` : 'nothing drifted'}. ${driftRule((ref.thresholds || {}).drift)}` }),
    driftTable(r)];
}

/** A feature's missing values (null, NaN) in the live rows against the reference's, as the drift check
 * measured them: "30.0% (ref 0.0%)", or "—" when neither had any. */
export function missingText(statistics) {
  const s = statistics || {};
  if (s.missing_share === undefined || s.missing_share === null) return '—';
  const pct = (v) => `${(100 * Number(v)).toFixed(1)}%`;
  return `${pct(s.missing_share)} (ref ${pct(s.reference_missing_share ?? 0)})`;
}

function driftTable(report) {
  const cols = ['Feature', 'Type', 'Verdict', ...REPORT_STATS.map(([, t]) => t), 'Missing', 'Live rows'];
  return h('div', { class: 'table-wrap' }, h('table', { id: 'drift-report-table' },
    h('thead', {}, h('tr', {}, cols.map((t, i) => h('th', { scope: 'col', class: i >= 3 ? 'num' : null, text: t })))),
    h('tbody', {}, driftOrder(report.features).map((f) => h('tr', { 'data-feature': f.feature, class: f.drifted ? 'drifted' : null },
      h('td', {}, h('strong', { text: featureName(f.feature) })),
      h('td', { text: f.kind }),
      h('td', {}, f.drifted ? badge('drifted', 'failed') : f.note ? h('span', { class: 'muted', text: f.note }) : badge('ok')),
      ...REPORT_STATS.map(([k]) => h('td', { class: 'num', 'data-stat': k, text: k in (f.statistics || {}) ? fmtNum(f.statistics[k]) : '—' })),
      h('td', { class: 'num', 'data-stat': 'missing_share', text: missingText(f.statistics) }),
      h('td', { class: 'num', text: fmtNum(f.current_rows) }))))));
}

function performanceView(model, perf, st) {
  if (!st) return null;
  if (perf.error) return errorBox(perf.error, `Loading the live performance of ${model}`);
  const report = perf.value || {};
  const policy = ((st.reference || {}).policies || {}).performance || {};
  if (!report.labelled) {
    return h('div', { class: 'labels-hint' },
      h('p', { class: 'muted', text: `No labelled rows yet. Post the ground truth of scored requests (the x-request-id header of each /invocations answer, one value per row); live accuracy (classification) or MAE/RMSE (regression) then appear here${Object.keys(policy).length ? ', checked against the bounds kept with the reference' : ''}.` }),
      h('pre', { class: 'code' }, h('code', { text: `curl -X POST ${location.origin}${MONITORING}/models/${enc(model)}/labels \\\n  -H 'content-type: application/json' \\\n  -d '{"request_id": "<x-request-id>", "values": [1, 0, 1]}'` })));
  }
  const rows = Object.entries(report.metrics || {}).map(([metric, value]) => {
    const [, key, op] = BOUNDS.find(([m]) => m === metric) || [];
    const bound = key ? policy[key] : undefined;
    const breached = (report.breaches || {})[metric];
    return [metric, h('span', { 'data-metric': metric }, fmtNum(value), bound !== undefined && bound !== null ? ` (bound ${op} ${fmtNum(bound)}) ` : ' ',
      breached ? badge('breached', 'failed') : bound !== undefined && bound !== null ? badge('ok') : null)];
  });
  return [h('p', { class: 'muted', text: `${report.task}, over the newest ${fmtNum(report.labelled)} labelled rows${Object.keys(policy).length ? '' : '; no bound is kept with the reference (set one with opsloop models reference … --min-accuracy or --max-rmse), so no breach is signalled'}.` }),
    kvTable(rows, null, 'No metric.')];
}

function signalsTable(signals, incidents) {
  if (!signals.length) return h('p', { class: 'muted', text: 'No drift or performance signal for this model yet. A drift check that finds a drifted feature, or live performance past a bound kept with the reference, sends one here and opens an incident.' });
  const byId = new Map(incidents.map((i) => [String(i.id), i]));
  const seen = (s) => s.last_time || s.time;
  const recent = [...signals].sort((a, b) => seen(b) - seen(a)).slice(0, 25);
  const cols = ['Last seen', 'Signal', 'Feature or metric', 'Status', 'Values', 'Count', 'Incident'];
  return [h('div', { class: 'table-wrap' }, h('table', { id: 'model-signals-table' },
    h('thead', {}, h('tr', {}, cols.map((t) => h('th', { scope: 'col', class: t === 'Count' ? 'num' : null, text: t })))),
    h('tbody', {}, recent.map((s) => {
      const labels = s.labels || {};
      return h('tr', { 'data-signal': s.id, title: s.text || null },
        h('td', { text: fmtEpoch(seen(s)) }),
        h('td', { text: s.kind === 'model_drift' ? 'drift' : 'performance' }),
        h('td', { text: labels.feature ? featureName(labels.feature) : labels.metric || '' }),
        h('td', {}, badge(s.status)),
        h('td', { class: 'wrap', text: Object.entries(s.values || {}).map(([k, v]) => `${k} ${fmtNum(v)}`).join(', ') }),
        h('td', { class: 'num', text: fmtNum(s.count) }),
        h('td', { class: 'wrap' }, incidentLink(s.incident_id, byId)));
    })))),
  signals.length > recent.length ? h('p', { class: 'muted', text: `The ${recent.length} most recent of ${signals.length}.` }) : null];
}

function incidentLink(id, byId) {
  if (id === undefined || id === null) return h('span', { class: 'muted', title: 'Not (yet) grouped into an incident, or suppressed by a silence', text: '—' });
  const inc = byId.get(String(id));
  return [h('a', { href: href(`/incidents/${id}`), class: 'incident-link', text: inc && inc.title ? `#${id} ${inc.title}` : `#${id}` }),
    inc ? [' ', badge(inc.state)] : null];
}
