// Log templates per service with counts over time.
// Reads GET /api/opsloop/v1/logs/templates when the server lists templates (not served yet); until
// then it shows the templates that log anomalies named (GET /api/opsloop/v1/signals?kind=log_anomaly)
// with their observed counts over time, and says the full list is not available.
import { ApiError, get, ops } from '../api.js';
import { sparkline } from '../charts.js';
import { clear, emptyState, errorBox, fmtEpoch, fmtNum, h, setTitle } from '../dom.js';
import { setQuery } from '../router.js';

const SHIP_LOGS = (origin) => `# Promtail / Grafana Alloy:   clients: [{url: ${origin}/loki/api/v1/push}]\n# OpenTelemetry Collector:    exporters: {otlphttp: {logs_endpoint: ${origin}/v1/logs}}`;

export async function render(root, ctx) {
  setTitle('Log templates');
  const f = { service: ctx.query.get('service') || '', q: ctx.query.get('q') || '' };
  const service = h('input', { type: 'search', id: 'log-service', value: f.service, placeholder: 'service', 'aria-label': 'Service' });
  const q = h('input', { type: 'search', class: 'grow', value: f.q, placeholder: 'Search template text', 'aria-label': 'Search templates' });
  const note = h('div', {});
  const host = h('div', {});
  clear(root, h('h1', { text: 'Log templates' }),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); f.service = service.value.trim(); f.q = q.value.trim(); setQuery(f); load(); } },
      service, h('div', { class: 'grow' }, q), h('button', { type: 'submit', text: 'Apply' })),
    note, host);

  async function load() {
    try {
      const res = await ops.logTemplates({ ...f, limit: 500 });
      clear(note);
      draw(res.templates || [], false);
    } catch (err) {
      if (!(err instanceof ApiError && err.missingEndpoint)) { clear(host, errorBox(err, 'Loading log templates')); return; }
      await fromAnomalies();
    }
  }

  /** Fallback: the templates log anomalies named, with their observed counts per bucket. */
  async function fromAnomalies() {
    clear(note, h('p', { class: 'notice', text: 'This server does not list every log template yet (GET /api/opsloop/v1/logs/templates is not served). Shown here: the templates whose rate was anomalous, from log-anomaly signals, with the counts observed in each anomalous bucket.' }));
    let signals;
    try {
      signals = (await get('/api/opsloop/v1/signals', { kind: 'log_anomaly', service: f.service || undefined, limit: 5000 })).signals || [];
    } catch (err) {
      clear(host, err instanceof ApiError && err.missingEndpoint ? emptyState('Log templates are not served here', 'This server has neither a template list nor a signals API.') : errorBox(err, 'Loading log anomalies'));
      return;
    }
    const byKey = new Map();
    for (const s of signals.sort((a, b) => a.time - b.time)) {
      const ev = s.evidence || {};
      const template = ev.template || (s.labels && s.labels.anomaly === 'error_surge' ? '(error lines of any template)' : s.text);
      const key = `${s.service}\u0000${ev.template_id ?? template}`;
      if (!byKey.has(key)) byKey.set(key, { service: s.service, template, series: [], count: 0, last_seen: 0 });
      const t = byKey.get(key);
      const observed = Number((s.values || {}).observed) || 0;
      t.series.push({ time: s.time, count: observed });
      t.count += observed;
      t.last_seen = Math.max(t.last_seen, s.time);
    }
    draw([...byKey.values()].filter((t) => !f.q || String(t.template).toLowerCase().includes(f.q.toLowerCase())), true);
  }

  function draw(templates, fallback) {
    if (!templates.length) {
      const filtered = f.service || f.q;
      clear(host, emptyState(filtered ? 'No template matches' : fallback ? 'No log anomaly yet' : 'No logs yet',
        filtered ? 'Clear the filters to see every service.'
          : 'opsloop mines a template per message shape (e.g. "user <*> logged in from <IP>") from the logs it ingests and counts them per service. Ship logs here:',
        filtered ? null : SHIP_LOGS(location.origin)));
      return;
    }
    const byService = new Map();
    for (const t of templates) {
      if (!byService.has(t.service || '')) byService.set(t.service || '', []);
      byService.get(t.service || '').push(t);
    }
    clear(host, [...byService.entries()].sort().map(([svc, list]) => h('section', { class: 'card', 'data-service': svc },
      h('h2', { text: svc || '(no service)' }),
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Template', fallback ? 'Lines in anomalous buckets' : 'Count', 'Over time', 'Last seen'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, list.sort((a, b) => (b.count || 0) - (a.count || 0)).map((t) => h('tr', {},
          h('td', { class: 'wrap' }, h('code', { text: t.template || t.text || '' })),
          h('td', { class: 'num', text: fmtNum(t.count) }),
          h('td', {}, Array.isArray(t.series) && t.series.length ? sparkline(t.series.map((p) => Number(p.count ?? p[1] ?? p) || 0)) : ''),
          h('td', { text: fmtEpoch(t.last_seen) })))))))));
  }

  await load();
}
