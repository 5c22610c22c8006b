// Log templates: what the miner learned per service, with counts over time.
//   GET /api/opsloop/v1/logs/services                    the service picker (templates and lines per service)
//   GET /api/opsloop/v1/logs/templates?service=&q=&limit= the template table, most frequent first
//   GET /api/opsloop/v1/logs/templates/{id}              the detail: counts over time, examples, parameters, versions
//   GET /api/opsloop/v1/signals?kind=log_anomaly         templates whose rate was anomalous (marked in the table)
// The view lives in the URL (#/logs?service=checkout&q=timeout&id=12), so a link reproduces it.
// A server without the templates API falls back to the templates named by log-anomaly signals.
import { ApiError, get, ops } from '../api.js';
import { lineChart, sparkline } from '../charts.js';
import { badge, clear, emptyState, errorBox, fmtAgo, fmtEpoch, fmtNum, h, kvTable, loading, setTitle } from '../dom.js';
import { setQuery } from '../router.js';

const TEMPLATES = '/api/opsloop/v1/logs/templates';
const PAGE = 200;
const MAX_POINTS = 3000;  // gaps between buckets are filled with zeros up to this many points

const SHIP_LOGS = (origin) => `# OpenTelemetry Collector (OTLP/HTTP, JSON or protobuf):
exporters:
  otlphttp:
    logs_endpoint: ${origin}/v1/logs

# Promtail / Grafana Alloy (Loki push API):
clients:
  - url: ${origin}/loki/api/v1/push

# or push one line by hand:
curl -XPOST ${origin}/v1/logs -H 'Content-Type: application/json' -d '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"${Date.now()}000000","severityText":"INFO","body":{"stringValue":"user 42 logged in from 10.0.0.7"}}]}]}]}'

# Templates are saved every few seconds; reload this page to see them.`;

const PLACEHOLDER = /(<\*>|<[A-Z][A-Z_]*>)/;

/** Template text with its parameters (<*>, <NUM>, <IP>…) highlighted. */
export function templateText(text) {
  return h('code', { class: 'log-template' }, String(text ?? '').split(PLACEHOLDER).filter((part) => part !== '').map((part) => (PLACEHOLDER.test(part)
    ? h('mark', { class: 'param', title: 'parameter', style: 'background:#dbeafe;color:#1e3a8a;border-radius:3px;padding:0 2px' }, part)
    : part)));
}

/** [[bucket_start_s, count]] as [[ms, count]] with empty buckets filled in as zeros. */
export function fillSeries(series) {
  const pts = (series || []).map((p) => (Array.isArray(p) ? [Number(p[0]), Number(p[1])] : [Number(p.time), Number(p.count)]))
    .filter(([t, c]) => Number.isFinite(t) && Number.isFinite(c)).sort((a, b) => a[0] - b[0]);
  let step = Infinity;
  for (let i = 1; i < pts.length; i += 1) if (pts[i][0] > pts[i - 1][0]) step = Math.min(step, pts[i][0] - pts[i - 1][0]);
  if (pts.length < 2 || !Number.isFinite(step) || (pts[pts.length - 1][0] - pts[0][0]) / step > MAX_POINTS) return pts.map(([t, c]) => [t * 1000, c]);
  const out = [];
  let j = 0;
  for (let t = pts[0][0]; t <= pts[pts.length - 1][0] + step / 2; t += step) {
    let c = 0;
    while (j < pts.length && pts[j][0] < t + step / 2) { c += pts[j][1]; j += 1; }
    out.push([t * 1000, c]);
  }
  return out;
}

/** The width of a series' buckets in words ("5 min"), from the closest two bucket starts. */
export function bucketLabel(series) {
  const ts = (series || []).map((p) => Number(Array.isArray(p) ? p[0] : p.time)).filter(Number.isFinite).sort((a, b) => a - b);
  let step = Infinity;
  for (let i = 1; i < ts.length; i += 1) if (ts[i] > ts[i - 1]) step = Math.min(step, ts[i] - ts[i - 1]);
  if (!Number.isFinite(step)) return 'bucket';
  if (step % 3600 === 0) return `${step / 3600} h`;
  if (step % 60 === 0) return `${step / 60} min`;
  return `${step} s`;
}

/** Log-anomaly signals as [ms, observed] dots, kept to the span the chart draws. */
function anomalyPoints(signals, points) {
  if (!points.length) return [];
  const lo = points[0][0];
  const hi = points[points.length - 1][0] + (points.length > 1 ? points[1][0] - points[0][0] : 0);
  return signals.map((s) => [Number(s.time) * (Number(s.time) < 1e11 ? 1000 : 1), Number((s.values || {}).observed) || 0])
    .filter(([x]) => x >= lo && x <= hi).map(([x, y]) => [Math.min(x, points[points.length - 1][0]), y]);
}

export async function render(root, ctx) {
  setTitle('Log templates');
  const f = { service: ctx.query.get('service') || '', q: ctx.query.get('q') || '', id: ctx.query.get('id') || '' };
  let limit = PAGE;
  let anomalies = new Map();  // template id -> log-anomaly signals naming it

  const serviceSel = h('select', { id: 'log-service', 'aria-label': 'Service' }, h('option', { value: '', text: 'All services' }));
  if (f.service) serviceSel.append(h('option', { value: f.service, text: f.service, selected: true }));
  const q = h('input', { type: 'search', id: 'log-search', class: 'grow', value: f.q, placeholder: 'Search template text (e.g. timeout)', 'aria-label': 'Search templates' });
  const status = h('p', { class: 'muted', role: 'status', id: 'logs-status' });
  const detail = h('div', { id: 'template-detail' });
  const host = h('div', { id: 'templates-host' });
  const anomalyHost = h('div', { id: 'log-anomalies' });

  const apply = () => {
    Object.assign(f, { service: serviceSel.value, q: q.value.trim(), id: '' });
    limit = PAGE;
    setQuery(f);
    clear(detail);
    load();
  };
  clear(root, h('h1', { text: 'Log templates' }),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); apply(); } },
      h('label', { class: 'inline', for: 'log-service' }, 'Service', serviceSel),
      h('div', { class: 'grow' }, q), h('button', { type: 'submit', text: 'Search' })),
    status, detail, host, anomalyHost);
  serviceSel.addEventListener('change', apply);

  /** The service picker: every service with its template and line counts. */
  async function loadServices() {
    try {
      const list = (await ops.logServices()).services || [];
      clear(serviceSel, h('option', { value: '', text: `All services (${list.length})` }),
        list.map((s) => h('option', { value: s.service, selected: s.service === f.service, text: `${s.service || '(no service)'} — ${fmtNum(s.templates)} templates, ${fmtNum(s.lines)} lines` })));
      if (f.service && !list.some((s) => s.service === f.service)) serviceSel.append(h('option', { value: f.service, selected: true, text: `${f.service} (no logs)` }));
      return list;
    } catch (err) {
      if (err instanceof ApiError && err.missingEndpoint) return null;
      throw err;
    }
  }

  /** Log-anomaly signals by template id (best effort: the table works without them). */
  async function loadAnomalies() {
    try {
      return (await get('/api/opsloop/v1/signals', { kind: 'log_anomaly', service: f.service || undefined, limit: 5000 })).signals || [];
    } catch {
      return [];  // no signals API, or it failed: the templates are still worth showing
    }
  }

  async function load() {
    clear(host, loading('Loading log templates…'));
    clear(status);
    let services;
    let res;
    let signals;
    try {
      [services, res, signals] = await Promise.all([
        loadServices(), ops.logTemplates({ service: f.service, q: f.q, limit }), loadAnomalies()]);
    } catch (err) {
      if (!ctx.alive()) return;
      if (err instanceof ApiError && err.missingEndpoint) { await fromAnomalies(); return; }
      clear(host, errorBox(err, 'Loading log templates'));
      return;
    }
    if (!ctx.alive()) return;
    anomalies = groupAnomalies(signals);
    const templates = res.templates || [];
    drawTable(templates, res.total ?? templates.length, services || []);
    drawAnomalies(signals, templates);
    if (f.id) openDetail(f.id, { push: false, focus: false });
  }

  function groupAnomalies(signals) {
    const out = new Map();
    for (const s of signals) {
      const id = (s.evidence || {}).template_id;
      if (id === undefined || id === null) continue;
      if (!out.has(String(id))) out.set(String(id), []);
      out.get(String(id)).push(s);
    }
    return out;
  }

  function drawTable(templates, total, services) {
    if (!templates.length) {
      if (f.q || (f.service && services.some((s) => s.service === f.service))) {
        clear(host, emptyState('No template matches', `No template${f.service ? ` of ${f.service}` : ''} contains "${f.q}". Try a shorter search, or clear it to see every template.`));
      } else if (f.service && services.length) {
        clear(host, emptyState(`No logs from ${f.service}`, `opsloop has templates for ${services.length} other service${services.length === 1 ? '' : 's'}; pick one above, or check that ${f.service}'s logs carry service.name="${f.service}" (OTLP) or a service label (Loki).`));
      } else {
        clear(host, emptyState('No logs yet',
          'opsloop mines a template per message shape (e.g. "user <*> logged in from <*>") from the logs it ingests and counts them per service, so you can see what a service logs and what changed. Send logs over OTLP/HTTP to /v1/logs or with the Loki push API to /loki/api/v1/push:',
          SHIP_LOGS(location.origin)));
      }
      return;
    }
    const allServices = !f.service;
    clear(status, total > templates.length ? `Showing the ${templates.length} most frequent of ${fmtNum(total)} templates` : `${fmtNum(total)} template${total === 1 ? '' : 's'}`,
      f.service ? ` of ${f.service}` : '', f.q ? ` containing "${f.q}"` : '', ', most frequent first.',
      templates.some((t) => !t.count) ? ' Counts of templates just mined are saved every few seconds: search again to update them.' : '');
    const heads = ['Template', allServices ? 'Service' : null, 'Count', 'Version', 'Over time', 'First seen', 'Last seen'].filter(Boolean);
    clear(host, h('div', { class: 'table-wrap' }, h('table', { id: 'templates-table' },
      h('caption', { class: 'sr-only', text: 'Log templates, most frequent first. Press a template to see its counts over time, examples and parameters.' }),
      h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col', class: ['Count', 'Version'].includes(t) ? 'num' : ['First seen', 'Over time'].includes(t) ? 'hide-narrow' : null, text: t })))),
      h('tbody', {}, templates.map((t) => {
        const anomalous = anomalies.get(String(t.id)) || [];
        const firing = anomalous.filter((s) => s.status === 'firing').length;
        return h('tr', { 'data-id': t.id, class: String(t.id) === String(f.id) ? 'selected' : null },
          h('td', { class: 'wrap' },
            h('button', { type: 'button', class: 'link-button template-open', style: 'text-align:left', 'aria-pressed': String(t.id) === String(f.id) ? 'true' : 'false', 'aria-controls': 'template-detail', title: 'Show counts over time, examples and parameters', onclick: () => openDetail(t.id) }, templateText(t.template)),
            anomalous.length ? [' ', badge(firing ? `anomalous ×${firing}` : 'was anomalous', firing ? 'firing' : 'warning')] : null),
          allServices ? h('td', {}, h('a', { href: `#/logs?service=${encodeURIComponent(t.service || '')}`, text: t.service || '(no service)' })) : null,
          h('td', { class: 'num', text: fmtNum(t.count) }),
          h('td', { class: 'num', text: `v${t.version ?? 1}` }),
          h('td', { class: 'hide-narrow' }, sparkline(fillSeries(t.series).slice(-60).map((p) => p[1]), { label: `lines per bucket of template ${t.id}` })),
          h('td', { class: 'hide-narrow', title: fmtEpoch(t.first_seen), text: fmtEpoch(t.first_seen) }),
          h('td', { title: fmtEpoch(t.last_seen), text: fmtAgo(t.last_seen) }));
      })))),
    total > templates.length && limit < 5000 ? h('div', { class: 'pager' }, h('button', { type: 'button', text: 'Show more', onclick: () => { limit = Math.min(5000, limit * 5); load(); } })) : null);
  }

  /** The detail of one template: counts over time, examples, parameters, versions. */
  async function openDetail(id, { push = true, focus = true } = {}) {
    f.id = String(id);
    if (push) setQuery(f);
    host.querySelectorAll('tr[data-id]').forEach((tr) => {
      const on = tr.dataset.id === f.id;
      tr.classList.toggle('selected', on);
      tr.querySelector('.template-open')?.setAttribute('aria-pressed', on ? 'true' : 'false');
    });
    clear(detail, h('section', { class: 'card' }, loading('Loading the template…')));
    let t;
    try {
      t = await get(`${TEMPLATES}/${encodeURIComponent(id)}`);
    } catch (err) {
      if (!ctx.alive() || f.id !== String(id)) return;
      clear(detail, h('section', { class: 'card' }, errorBox(err, `Loading template ${id}`), closeButton()));
      return;
    }
    if (!ctx.alive() || f.id !== String(id)) return;
    const chart = h('div', { class: 'template-chart' });
    const params = t.parameter_examples || [];
    const slots = String(t.template || '').split(PLACEHOLDER).filter((p) => PLACEHOLDER.test(p));
    const width = Math.max(slots.length, ...params.map((p) => p.length));
    const heading = h('h2', { tabindex: '-1', id: 'template-detail-title' }, `Template ${t.id}`, ' ', badge(t.service || '(no service)'), ' ', badge(`v${t.version ?? 1}`));
    const levels = Object.entries(t.levels || {});
    const anomalous = anomalies.get(String(t.id)) || [];
    const card = h('section', { class: 'card', 'aria-labelledby': 'template-detail-title', 'data-id': t.id,
      onkeydown: (e) => { if (e.key === 'Escape') closeDetail(); } },
    h('div', { class: 'actions', style: 'justify-content:space-between' }, heading, closeButton()),
    h('p', {}, templateText(t.template)),
    String(t.id) !== String(id) ? h('p', { class: 'notice', text: `Template ${id} was merged into template ${t.id}; this is the template it became.` }) : null,
    kvTable([
      ['Lines', fmtNum(t.count)],
      ['First seen', fmtEpoch(t.first_seen)],
      ['Last seen', `${fmtEpoch(t.last_seen)} (${fmtAgo(t.last_seen)})`],
      levels.length ? ['Levels', levels.map(([k, v]) => `${k}: ${fmtNum(v)}`).join(', ')] : null,
      anomalous.length ? ['Anomalies', `${anomalous.length} log-anomaly signal${anomalous.length === 1 ? '' : 's'} (red dots on the chart)`] : null,
    ].filter(Boolean)),
    h('h3', { style: 'margin-top:14px', text: `Lines over time (per ${bucketLabel(t.series)})` }), chart,
    h('div', { class: 'grid2', style: 'margin-top:14px' },
      h('div', {}, h('h3', { text: 'Example lines' }),
        (t.examples || []).length ? h('pre', { class: 'preview examples' }, (t.examples || []).join('\n')) : h('p', { class: 'muted', text: 'No example kept.' })),
      h('div', {}, h('h3', { text: 'Extracted parameters' }),
        params.length && width ? h('div', { class: 'table-wrap' }, h('table', { class: 'params' },
          h('thead', {}, h('tr', {}, Array.from({ length: width }, (_, i) => h('th', { scope: 'col', text: `${slots[i] || '<*>'} #${i + 1}` })))),
          h('tbody', {}, params.map((row) => h('tr', {}, Array.from({ length: width }, (_, i) => h('td', { class: 'wrap' }, h('code', { text: row[i] ?? '' }))))))))
          : h('p', { class: 'muted', text: width ? 'No parameter values kept.' : 'This template has no parameters.' }))),
    (t.versions || []).length > 1 ? h('details', { style: 'margin-top:14px' }, h('summary', { text: `Earlier versions (${t.versions.length})` }),
      h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ['Version', 'Template', 'Since'].map((c) => h('th', { scope: 'col', text: c })))),
        h('tbody', {}, t.versions.slice().reverse().map((v) => h('tr', {}, h('td', { class: 'num', text: `v${v.version}` }), h('td', { class: 'wrap' }, templateText(v.template)), h('td', { text: fmtEpoch(v.time) }))))))) : null);
    clear(detail, card);
    const points = fillSeries(t.series);
    if (points.length) {
      lineChart(chart, {
        series: [{ name: `lines per ${bucketLabel(t.series)}`, points, anomalies: anomalyPoints(anomalous, points) }],
        xTime: true, yMin: 0, height: 200, label: `Lines per bucket of template ${t.id} over time`,
      });
    } else {
      clear(chart, h('p', { class: 'muted', text: 'No counts recorded yet.' }));
    }
    if (focus) { heading.focus({ preventScroll: true }); card.scrollIntoView({ block: 'nearest' }); }
  }

  function closeButton() {
    return h('button', { type: 'button', class: 'close-detail', text: 'Close', 'aria-label': 'Close the template detail', onclick: closeDetail });
  }

  function closeDetail() {
    const was = f.id;
    f.id = '';
    setQuery(f);
    clear(detail);
    host.querySelectorAll('tr.selected').forEach((tr) => tr.classList.remove('selected'));
    const btn = host.querySelector(`tr[data-id="${CSS.escape(was)}"] .template-open`);
    if (btn) { btn.setAttribute('aria-pressed', 'false'); btn.focus(); }
  }

  /** Recent log anomalies: which templates' rates were anomalous, with the counts observed. */
  function drawAnomalies(signals, templates) {
    if (!signals.length) { clear(anomalyHost); return; }
    const known = new Set(templates.map((t) => String(t.id)));
    const rows = summarise(signals);
    clear(anomalyHost, h('section', { class: 'card' },
      h('h2', { text: 'Templates involved in log anomalies' }),
      h('p', { class: 'muted', text: 'From log-anomaly signals: the lines observed in each anomalous bucket.' }),
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Template', 'Service', 'Signals', 'Observed', 'Last'].map((c) => h('th', { scope: 'col', text: c })))),
        h('tbody', {}, rows.map((r) => h('tr', {},
          h('td', { class: 'wrap' }, r.id !== undefined && r.id !== null && known.has(String(r.id))
            ? h('button', { type: 'button', class: 'link-button', style: 'text-align:left', onclick: () => openDetail(r.id) }, templateText(r.template))
            : templateText(r.template)),
          h('td', { text: r.service || '' }),
          h('td', { class: 'num', text: fmtNum(r.signals) }),
          h('td', {}, sparkline(r.series.map((p) => p.count), { label: 'lines observed in anomalous buckets' })),
          h('td', { text: fmtEpoch(r.last_seen) }))))))));
  }

  function summarise(signals) {
    const byKey = new Map();
    for (const s of signals.slice().sort((a, b) => a.time - b.time)) {
      const ev = s.evidence || {};
      const template = ev.template || (s.labels && s.labels.anomaly === 'error_surge' ? '(error lines of any template)' : s.text);
      const key = `${s.service}\u0000${ev.template_id ?? template}`;
      if (!byKey.has(key)) byKey.set(key, { id: ev.template_id, service: s.service, template, series: [], count: 0, signals: 0, last_seen: 0 });
      const t = byKey.get(key);
      const observed = Number((s.values || {}).observed) || 0;
      t.series.push({ time: s.time, count: observed });
      t.count += observed;
      t.signals += 1;
      t.last_seen = Math.max(t.last_seen, s.time);
    }
    return [...byKey.values()].filter((t) => !f.q || String(t.template).toLowerCase().includes(f.q.toLowerCase()))
      .sort((a, b) => b.last_seen - a.last_seen);
  }

  /** A server without the templates API: only what log-anomaly signals named. */
  async function fromAnomalies() {
    clear(status, h('span', { class: 'notice', text: 'This server does not list log templates (GET /api/opsloop/v1/logs/templates is not served); shown instead: the templates whose rate was anomalous, from log-anomaly signals.' }));
    let signals;
    try {
      signals = (await get('/api/opsloop/v1/signals', { kind: 'log_anomaly', service: f.service || undefined, limit: 5000 })).signals || [];
    } catch (err) {
      clear(host, err instanceof ApiError && err.missingEndpoint ? emptyState('Log templates are not served here', 'This server has neither a template list nor a signals API.') : errorBox(err, 'Loading log anomalies'));
      return;
    }
    clear(host);
    if (!signals.length) clear(host, emptyState('No log anomaly yet', 'Ship logs here; anomalous template rates will be listed:', SHIP_LOGS(location.origin)));
    drawAnomalies(signals, []);
  }

  await load();
}
