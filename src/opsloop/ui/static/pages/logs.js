// Log templates per service with counts over time.
// Wired to GET /api/opsloop/v1/logs/templates?service=&q= (not served yet: the page explains how logs arrive).
import { ApiError, ops } from '../api.js';
import { sparkline } from '../charts.js';
import { clear, emptyState, errorBox, fmtEpoch, fmtNum, h, setTitle } from '../dom.js';
import { setQuery } from '../router.js';

export async function render(root, ctx) {
  setTitle('Log templates');
  const f = { service: ctx.query.get('service') || '', q: ctx.query.get('q') || '' };
  const service = h('input', { type: 'search', id: 'log-service', value: f.service, placeholder: 'service', 'aria-label': 'Service' });
  const q = h('input', { type: 'search', class: 'grow', value: f.q, placeholder: 'Search template text', 'aria-label': 'Search templates' });
  const host = h('div', {});
  clear(root, h('h1', { text: 'Log templates' }),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); f.service = service.value.trim(); f.q = q.value.trim(); setQuery(f); load(); } },
      service, h('div', { class: 'grow' }, q), h('button', { type: 'submit', text: 'Apply' })),
    host);

  async function load() {
    try {
      const res = await ops.logTemplates({ ...f, limit: 500 });
      draw(res.templates || []);
    } catch (err) {
      clear(host, err instanceof ApiError && err.missingEndpoint
        ? emptyState('Log templates are not served here yet',
          'opsloop mines templates from the logs it ingests (one template per message shape, e.g. "user <*> logged in from <IP>") and counts them per service over time. Logs arrive through the Loki push API (POST /loki/api/v1/push: Promtail, Grafana Alloy) or OTLP/HTTP (POST /v1/logs: OpenTelemetry Collectors and SDKs); log anomalies already show up in incidents. This server does not serve the template list (/api/opsloop/v1/logs/templates) yet, so this page cannot show it.',
          `# Promtail / Grafana Alloy: clients: [{url: ${location.origin}/loki/api/v1/push}]\n# OpenTelemetry Collector: exporters: {otlphttp: {logs_endpoint: ${location.origin}/v1/logs}}`)
        : errorBox(err, 'Loading log templates'));
    }
  }

  function draw(templates) {
    if (!templates.length) {
      clear(host, emptyState(f.service || f.q ? 'No template matches' : 'No logs yet', f.service || f.q ? 'Clear the filters to see every service.' : 'Ship logs to opsloop (OTLP or the ingest API) and their templates appear here, grouped by service.'));
      return;
    }
    const byService = new Map();
    for (const t of templates) {
      if (!byService.has(t.service || '')) byService.set(t.service || '', []);
      byService.get(t.service || '').push(t);
    }
    clear(host, [...byService.entries()].sort().map(([svc, list]) => h('section', { class: 'card' },
      h('h2', { text: svc || '(no service)' }),
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Template', 'Count', 'Over time', 'Last seen'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, list.sort((a, b) => (b.count || 0) - (a.count || 0)).map((t) => h('tr', {},
          h('td', { class: 'wrap' }, h('code', { text: t.template || t.text || '' })),
          h('td', { class: 'num', text: fmtNum(t.count) }),
          h('td', {}, Array.isArray(t.series) && t.series.length ? sparkline(t.series.map((p) => Number(p.count ?? p[1] ?? p) || 0)) : ''),
          h('td', { text: fmtEpoch(t.last_seen) })))))))));
  }

  await load();
}
