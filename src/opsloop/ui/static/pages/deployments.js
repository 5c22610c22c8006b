// Deployments and monitoring: each served model's traffic, latency and errors, and drift per feature
// over time with the reference distribution beside the live one.
// Wired to: GET /api/opsloop/v1/deployments (list; not served yet) and the monitoring API
// GET /api/opsloop/v1/monitoring/models/{model}/drift|performance (when the server mounts it).
import { ApiError, get, ops } from '../api.js';
import { distributionChart, lineChart, PALETTE } from '../charts.js';
import { clear, emptyState, errorBox, fmtEpoch, fmtNum, h, kvTable, section, setTitle } from '../dom.js';
import { genericView } from '../generic.js';
import { href, setQuery } from '../router.js';

const MON = '/api/opsloop/v1/monitoring/models';

export async function render(root, ctx) {
  setTitle('Deployments');
  const model = ctx.query.get('model') || '';
  const listHost = h('div', {});
  const detailHost = h('div', {});
  const input = h('input', { type: 'search', id: 'deployment-model', value: model, placeholder: 'served model name', 'aria-label': 'Model name' });
  clear(root, h('h1', { text: 'Deployments and monitoring' }), listHost,
    h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); setQuery({ model: input.value.trim() }); showModel(detailHost, input.value.trim()); } },
      h('label', { class: 'inline' }, 'Monitoring of model ', input), h('button', { type: 'submit', text: 'Show' })),
    detailHost);
  try {
    const res = await ops.deployments();
    drawList(listHost, res.deployments || []);
  } catch (err) {
    clear(listHost, err instanceof ApiError && err.missingEndpoint ? howDataArrives() : errorBox(err, 'Listing deployments'));
  }
  if (model) await showModel(detailHost, model);
}

function howDataArrives() {
  return emptyState('No deployment data on this server yet',
    'A model served with `opsloop serve` keeps its traffic samples, drift and live performance in its monitoring store and answers them on its own port (/monitoring/drift, /monitoring/performance). This server does not collect them yet (GET /api/opsloop/v1/deployments is not served), so the page cannot list deployments. Meanwhile, serve with monitoring and read drift from the CLI:',
    'opsloop serve models:/my-model@champion --port 5001 \\\n    --monitor-store sqlite:///monitoring.db --reference reference.csv --drift-interval 300\nopsloop models drift my-model --store sqlite:///monitoring.db');
}

function drawList(host, deployments) {
  if (!deployments.length) { clear(host, howDataArrives()); return; }
  clear(host, h('div', { class: 'table-wrap' }, h('table', { id: 'deployments-table' },
    h('thead', {}, h('tr', {}, ['Deployment', 'Model', 'Requests/s', 'p50 ms', 'p99 ms', 'Error rate', 'Status'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, deployments.map((d) => h('tr', {},
      h('td', {}, h('a', { href: href('/deployments', { model: d.model || d.name }), text: d.name })),
      h('td', { text: `${d.model || ''}${d.version ? ` v${d.version}` : ''}` }),
      h('td', { class: 'num', text: fmtNum(d.requests_per_s) }), h('td', { class: 'num', text: fmtNum(d.p50_ms) }),
      h('td', { class: 'num', text: fmtNum(d.p99_ms) }), h('td', { class: 'num', text: fmtNum(d.error_rate) }),
      h('td', { text: d.status || '' })))))));
}

async function showModel(host, model) {
  if (!model) { clear(host); return; }
  const enc = encodeURIComponent(model);
  const [drift, perf] = await Promise.allSettled([get(`${MON}/${enc}/drift`, { limit: 50 }), get(`${MON}/${enc}/performance`)]);
  const missing = [drift, perf].every((r) => r.status === 'rejected' && r.reason instanceof ApiError && r.reason.missingEndpoint);
  if (missing) {
    clear(host, emptyState('Monitoring is not served here yet', `This server does not mount the monitoring API (${MON}/{model}/drift), so drift and live performance of "${model}" cannot be shown yet.`));
    return;
  }
  clear(host,
    section(`Live performance of ${model}`, perf.status === 'fulfilled' ? perfView(perf.value.report || perf.value) : errorBox(perf.reason, 'Loading performance')),
    section(`Drift of ${model} per feature`, drift.status === 'fulfilled' ? driftView(drift.value.reports || []) : errorBox(drift.reason, 'Loading drift')));
}

function perfView(report) {
  if (!report || !Object.keys(report.metrics || {}).length) return h('p', { class: 'muted', text: 'No labelled traffic yet: post ground truth to /labels to get live metrics.' });
  return h('div', {}, kvTable(Object.entries(report.metrics).map(([k, v]) => [k, fmtNum(v)])),
    Object.keys(report.breaches || {}).length ? h('div', { class: 'error-box' }, 'Bounds broken: ', genericView(report.breaches)) : null);
}

/** The first numeric statistic of a feature drift entry (the detector's score). */
const score = (f) => { const e = Object.entries(f.statistics || {}).find(([, v]) => Number.isFinite(Number(v))); return e ? [e[0], Number(e[1])] : [null, NaN]; };

function driftView(reports) {
  if (!reports.length) return h('p', { class: 'muted', text: 'No drift report yet: the monitor computes one once enough live rows arrive beside the reference sample.' });
  reports.sort((a, b) => a.time - b.time);
  const latest = reports[reports.length - 1];
  const features = latest.features || [];
  const grid = h('div', { class: 'grid2' });
  for (const f of features) {
    const [stat] = score(f);
    const overTime = h('div', {});
    const dist = h('div', {});
    grid.append(h('section', { class: 'card', 'data-feature': f.feature },
      h('h3', { text: `${f.feature === '__prediction__' ? 'prediction' : f.feature}${f.drifted ? ' — drifted' : ''}` }),
      h('p', { class: 'muted', text: `${f.kind}; ${Object.entries(f.statistics || {}).map(([k, v]) => `${k} ${fmtNum(v)}`).join(', ')}; ${f.current_rows} live rows vs ${f.reference_rows} reference (${fmtEpoch(latest.time)})` }),
      overTime, dist));
    queueMicrotask(() => {
      const pts = reports.map((r) => [r.time * 1000, score((r.features || []).find((x) => x.feature === f.feature) || {})[1]]).filter((p) => Number.isFinite(p[1]));
      if (pts.length > 1) lineChart(overTime, { series: [{ name: stat || 'score', points: pts, color: PALETTE[f.drifted ? 1 : 0] }], xTime: true, height: 140, label: `${f.feature} drift over time` });
      const ref = f.reference_histogram || (f.histogram && f.histogram.reference);
      const live = f.current_histogram || (f.histogram && f.histogram.current);
      const bins = f.bins || (f.histogram && f.histogram.bins);
      if (ref && live && bins) distributionChart(dist, bins, ref, live);
      else dist.append(h('p', { class: 'muted', text: 'The monitor did not send bin counts for this feature, so the reference and live distributions cannot be drawn.' }));
    });
  }
  return grid;
}
