// Compare 2-10 runs: params diff, metrics side by side, overlaid curves, parallel coordinates.
import { kv, mlflow } from '../api.js';
import { PALETTE, parallelCoords } from '../charts.js';
import { clear, emptyState, errorBox, fmtNum, foldedText, h, loading, section, setTitle } from '../dom.js';
import { renderMetricCharts } from '../metric_charts.js';
import { href, listFromQuery, setQuery } from '../router.js';

const MAX_DIMS = 10;

export async function render(root, ctx) {
  setTitle('Compare runs');
  const ids = [...new Set(listFromQuery(ctx.query, 'runs'))];
  if (ids.length < 2 || ids.length > 10) {
    clear(root, h('h1', { text: 'Compare runs' }), emptyState('Pick 2 to 10 runs',
      `Compare takes 2 to 10 runs (this link names ${ids.length}). In the runs table, tick the runs you want and press Compare.`));
    return;
  }
  const settled = await Promise.allSettled(ids.map((id) => mlflow.getRun(id)));
  const runs = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value.run);
  const failed = settled.map((s, i) => [s, ids[i]]).filter(([s]) => s.status === 'rejected');
  if (!runs.length) {
    clear(root, h('nav', { class: 'breadcrumb' }, h('a', { href: href('/runs'), text: 'Runs' }), ' / '),
      h('h1', { text: 'Compare runs' }), failed.map(([s, id]) => errorBox(s.reason, `Loading run ${id}`)),
      h('p', { class: 'muted', text: 'None of these runs could be read. Pick runs again in the runs table.' }));
    return;
  }
  const colors = Object.fromEntries(runs.map((r, i) => [r.info.run_id, PALETTE[i % PALETTE.length]]));
  const name = (r) => r.info.run_name || r.info.run_id;
  const params = runs.map((r) => kv(r.data.params));
  const metrics = runs.map((r) => Object.fromEntries((r.data.metrics || []).map((m) => [m.key, m.value])));
  const paramKeys = [...new Set(params.flatMap(Object.keys))].sort();
  const metricKeys = [...new Set(metrics.flatMap(Object.keys))].sort();
  const differs = (key, rows) => new Set(rows.map((p) => (p[key] === undefined ? '\u0000' : String(p[key])))).size > 1;
  const onlyDiff = ctx.query.get('diff') === '1';

  const head = (r) => h('th', { scope: 'col' }, h('i', { class: 'swatch', style: `background:${colors[r.info.run_id]}` }), ' ', h('a', { href: href(`/runs/${r.info.run_id}`), text: name(r) }));
  const diffBox = h('input', { type: 'checkbox', checked: onlyDiff });
  const paramsHost = h('div', {});
  const drawParams = () => {
    const keys = paramKeys.filter((k) => !diffBox.checked || differs(k, params));
    clear(paramsHost, keys.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'params-diff' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Parameter' }), runs.map(head))),
      h('tbody', {}, keys.map((k) => h('tr', { class: differs(k, params) ? 'diff' : '' }, h('th', { scope: 'row', text: k }),
        params.map((p) => h('td', { class: 'wrap' }, p[k] === undefined ? '—' : foldedText(p[k])))))))) : h('p', { class: 'muted', text: paramKeys.length ? 'The runs share every parameter value.' : 'None of these runs logged parameters.' }));
  };
  diffBox.addEventListener('change', () => { setQuery({ runs: ids, diff: diffBox.checked ? '1' : '' }, { push: false }); drawParams(); });
  drawParams();

  const metricsTable = metricKeys.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'metrics-compare' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Metric' }), runs.map(head))),
    h('tbody', {}, metricKeys.map((k) => h('tr', { class: differs(k, metrics) ? 'diff' : '' }, h('th', { scope: 'row', text: k }),
      metrics.map((m) => h('td', { class: 'num', text: m[k] === undefined ? '—' : fmtNum(m[k]) }))))))) : h('p', { class: 'muted', text: 'None of these runs logged metrics.' });

  const pcHost = h('div', { id: 'parallel-coords' });
  const chartsHost = h('div', {}, loading('Loading metric histories…'));
  clear(root,
    h('nav', { class: 'breadcrumb' }, h('a', { href: href('/runs', { exp: [...new Set(runs.map((r) => r.info.experiment_id))] }), text: 'Runs' }), ' / '),
    h('h1', { text: `Compare ${runs.length} runs` }),
    failed.map(([s, id]) => errorBox(s.reason, `Loading run ${id}`)),
    section('Parameters', h('label', { class: 'inline' }, diffBox, 'Show only parameters that differ'), paramsHost),
    section('Metrics (latest values)', metricsTable),
    section('Parallel coordinates', pcHost),
    section('Metric curves', chartsHost));

  const dims = [...paramKeys.filter((k) => differs(k, params)).map((k) => ({ name: `params.${k}`, src: params, key: k })),
    ...metricKeys.map((k) => ({ name: `metrics.${k}`, src: metrics, key: k }))].slice(0, MAX_DIMS);
  if (dims.length >= 2) {
    parallelCoords(pcHost, dims, runs.map((r, i) => ({ name: name(r), color: colors[r.info.run_id], values: Object.fromEntries(dims.map((d) => [d.name, d.src[i][d.key]])) })));
  } else clear(pcHost, h('p', { class: 'muted', text: 'Needs at least two differing parameters or metrics to draw.' }));
  if (runs.length) await renderMetricCharts(chartsHost, runs, metricKeys, ctx.query);
}
