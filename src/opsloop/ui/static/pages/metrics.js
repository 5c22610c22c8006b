// Metrics: the series opsloop ingests (remote_write, OTLP, Prometheus pull) and a chart of each.
//   GET /api/opsloop/v1/metrics/series?name=&service=        the series table (latest value per series)
//   GET /api/opsloop/v1/metrics/points?series=&start=&max_points=  the samples (or mean/min/max buckets)
//   GET /api/opsloop/v1/signals?kind=metric_anomaly&service=  anomalies of the chosen series, drawn as dots
// The view lives in the URL (#/metrics?name=cpu&service=api&series=<fingerprint>&range=6h).
import { ApiError, ops, sampleLine } from '../api.js';
import { lineChart } from '../charts.js';
import { clear, emptyState, errorBox, fmtAgo, fmtEpoch, fmtNum, h, loading, setTitle } from '../dom.js';
import { setQuery } from '../router.js';

const RANGES = [['15m', 900], ['1h', 3600], ['6h', 6 * 3600], ['24h', 86400], ['7d', 7 * 86400], ['all', 0]];
const POINTS = 600;
const LIST = 500;  // series in the table

const SEND_METRICS = (origin) => `# Prometheus (prometheus.yml): stream every sample with remote_write
remote_write:
  - url: ${origin}/api/v1/write

# OpenTelemetry Collector (OTLP/HTTP):
exporters:
  otlphttp:
    metrics_endpoint: ${origin}/v1/metrics`;

const labelText = (labels) => Object.entries(labels || {}).filter(([k]) => k !== '__name__')
  .map(([k, v]) => `${k}="${v}"`).join(', ');

/** True when ``labels`` carry every label of the series (an anomaly adds its rule's name). */
const covers = (labels, series) => Object.entries(series || {}).every(([k, v]) => (labels || {})[k] === v);

export async function render(root, ctx) {
  setTitle('Metrics');
  const f = {
    name: ctx.query.get('name') || '', service: ctx.query.get('service') || '',
    series: ctx.query.get('series') || '', range: ctx.query.get('range') || '6h',
  };
  const nameBox = h('input', { type: 'search', id: 'metric-name', placeholder: 'metric name contains…', value: f.name, 'aria-label': 'Metric name' });
  const serviceBox = h('input', { type: 'search', id: 'metric-service', placeholder: 'service', value: f.service, 'aria-label': 'Service' });
  const rangeSel = h('select', { id: 'metric-range', 'aria-label': 'Time range' },
    RANGES.map(([label]) => h('option', { value: label, selected: label === f.range, text: label === 'all' ? 'all kept' : `last ${label}` })));
  const chartHost = h('section', { id: 'metric-chart', 'aria-live': 'polite' });
  const tableHost = h('div', { id: 'metric-series' });
  root.append(
    h('h1', { text: 'Metrics' }),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); apply(); } },
      nameBox, serviceBox, rangeSel, h('button', { type: 'submit', text: 'Filter' })),
    chartHost, tableHost);
  rangeSel.addEventListener('change', () => { f.range = rangeSel.value; sync(); drawChart(); });

  let controller = null;
  let list = [];
  let missing = '';  // a linked series that is not (or no longer) known

  function sync() { setQuery(f, { push: false }); }

  async function apply() {
    f.name = nameBox.value.trim();
    f.service = serviceBox.value.trim();
    sync();
    await loadSeries();
  }

  async function loadSeries() {
    clear(tableHost, loading());
    try {
      list = (await ops.metricSeries({ name: f.name, service: f.service, limit: LIST })).series;
    } catch (err) {
      if (err.name === 'AbortError' || !ctx.alive()) return;
      clear(tableHost, err instanceof ApiError && err.missingEndpoint
        ? emptyState('Metrics are not available on this server', 'This server does not serve /api/opsloop/v1/metrics.')
        : errorBox(err, 'Loading metric series'));
      return;
    }
    if (!ctx.alive()) return;
    if (!list.length) {
      clear(tableHost, f.name || f.service
        ? emptyState('No series matches these filters', 'Clear a filter to see more series.')
        : emptyState('No metrics yet', 'Send metrics to opsloop and they appear here:', SEND_METRICS(location.origin)));
      clear(chartHost);
      return;
    }
    if (f.series && !list.some((s) => s.series === f.series) && list.length >= LIST) {
      // a linked series past the first page (a metric with a series per pod): fetch it by its fingerprint
      const found = await ops.metricSeriesOne(f.series).catch(() => null);
      if (!ctx.alive()) return;
      if (found && (!f.name || (found.name || '').includes(f.name)) && (!f.service || found.service === f.service)) list = [found, ...list];
    }
    if (!list.some((s) => s.series === f.series)) {
      missing = f.series;
      f.series = list.length === 1 ? list[0].series : '';
    }
    drawTable();
    await drawChart();
  }

  function drawTable() {
    const rows = list.map((s) => {
      const link = h('a', { href: '#', class: 'series-link', text: s.name || '(unnamed)', 'data-series': s.series });
      link.addEventListener('click', (e) => { e.preventDefault(); f.series = s.series; sync(); drawTable(); drawChart(); });
      return h('tr', { 'data-series': s.series, 'aria-selected': String(s.series === f.series), class: s.series === f.series ? 'selected' : '' },
        h('td', { class: 'wrap' }, link),
        h('td', { text: s.service || '' }),
        h('td', { class: 'wrap muted', text: labelText(s.labels) }),
        h('td', { class: 'num', text: fmtNum(s.last_value) }),
        h('td', { title: fmtEpoch(s.last_time), text: fmtAgo(s.last_time) }));
    });
    clear(tableHost, h('div', { class: 'table-wrap' }, h('table', { id: 'series-table', 'aria-label': 'Metric series' },
      h('thead', {}, h('tr', {}, ['Metric', 'Service', 'Labels', 'Latest', 'Seen'].map((t, i) => h('th', { scope: 'col', class: i === 3 ? 'num' : '', text: t })))),
      h('tbody', {}, rows))),
    list.length >= LIST ? h('p', { class: 'muted', text: `Showing the first ${LIST} series; narrow the filters to see others.` }) : null);
  }

  async function drawChart() {
    const s = list.find((x) => x.series === f.series);
    if (!s) {
      clear(chartHost, missing
        ? h('p', { class: 'notice', role: 'status', text: `No series ${missing} here: it may have aged out of the kept history (ingestion.metric_history_days). Pick a series below to chart it.` })
        : h('p', { class: 'muted', text: 'Pick a series below to chart it.' }));
      return;
    }
    missing = '';
    if (controller) controller.abort();
    controller = new AbortController();
    const span = (RANGES.find(([label]) => label === f.range) || RANGES[2])[1];
    clear(chartHost, loading());
    let data;
    let anomalies = [];
    try {
      const params = { series: s.series, max_points: POINTS, start: span ? s.last_time - span : undefined };
      [data, anomalies] = await Promise.all([
        ops.metricPoints(params, controller.signal),
        ops.signals({ kind: 'metric_anomaly', service: s.service || undefined, since: params.start, limit: 500 }, controller.signal)
          .then((r) => r.signals.filter((a) => ((a.evidence || {}).series ? a.evidence.series === s.series : covers(a.labels, s.labels)))).catch(() => []),
      ]);
    } catch (err) {
      if (err.name === 'AbortError' || !ctx.alive()) return;
      clear(chartHost, errorBox(err, 'Loading samples'));
      return;
    }
    if (!ctx.alive()) return;
    const pts = sampleLine(data.points);
    const band = data.bucket_s ? data.points.map((p) => [p[0] * 1000, p[2], p[3]]) : [];
    const chart = h('div', { class: 'chart-box' });
    const what = data.bucket_s
      ? `${fmtNum(data.count)} samples in ${data.points.length} buckets of ${fmtNum(data.bucket_s)} s (mean, with min–max)`
      : `${fmtNum(data.count)} samples`;
    clear(chartHost,
      h('h2', { text: `${s.name}${s.service ? ` · ${s.service}` : ''}` }),
      h('p', { class: 'muted series-labels', text: `${labelText(s.labels) || 'no other labels'} — ${what}${anomalies.length ? ` — ${anomalies.length} anomal${anomalies.length === 1 ? 'y' : 'ies'}` : ''}` }),
      chart);
    if (!pts.length) {
      clear(chart, emptyState('No samples in this range', 'Pick a longer range, or check the retention setting (ingestion.metric_history_days).'));
      return;
    }
    lineChart(chart, {
      series: [{ name: s.name, points: pts, anomalies: anomalies.map((a) => [Number(a.time) * 1000, Number((a.values || {}).observed)]) }],
      band, bandLabel: 'min–max in bucket', xTime: true, label: `${s.name} over time`,
    });
  }

  ctx.onCleanup(() => { if (controller) controller.abort(); });
  await loadSeries();
}
