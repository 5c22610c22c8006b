// Incidents: a live list (polled every 2.5 s; new incidents appear without reload) with filters by
// state, severity, service and text, kept in the URL; merge selected incidents.
import { actor, ops } from '../api.js';
import { badge, clear, emptyState, errorBox, fmtAgo, fmtEpoch, h, setTitle } from '../dom.js';
import { href, setQuery } from '../router.js';

const POLL_MS = 2500;
export const STATES = ['triggered', 'acknowledged', 'resolved'];
export const SEVERITIES = ['critical', 'error', 'warning', 'info'];

export function ingestHelp() {
  return `# Point Alertmanager at opsloop (alertmanager.yml):
receivers:
  - name: opsloop
    webhook_configs:
      - url: ${location.origin}/api/opsloop/v1/ingest/alertmanager

# or fire a test alert by hand:
curl -XPOST ${location.origin}/api/opsloop/v1/ingest/alertmanager -H 'Content-Type: application/json' \\
  -d '{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HighLatency","service":"checkout","severity":"critical"},"annotations":{"summary":"p99 latency above 2s"},"startsAt":"${new Date().toISOString()}"}]}'`;
}

export async function render(root, ctx) {
  setTitle('Incidents');
  const f = { state: ctx.query.get('state') || '', severity: ctx.query.get('severity') || '', service: ctx.query.get('service') || '',
    assignee: ctx.query.get('assignee') || '', q: ctx.query.get('q') || '' };
  const seen = new Set();
  const selected = new Set();
  let first = true;
  let timer = null;
  let inflight = null;

  const stateSel = h('select', { id: 'state-filter', 'aria-label': 'State' }, h('option', { value: '', text: 'Any state' }),
    h('option', { value: 'triggered,acknowledged', text: 'open (not resolved)', selected: f.state === 'triggered,acknowledged' }),
    STATES.map((s) => h('option', { value: s, text: s, selected: f.state === s })));
  const sevSel = h('select', { id: 'severity-filter', 'aria-label': 'Severity' }, h('option', { value: '', text: 'Any severity' }), SEVERITIES.map((s) => h('option', { value: s, text: s, selected: f.severity === s })));
  const service = h('input', { type: 'search', id: 'service-filter', value: f.service, placeholder: 'service', 'aria-label': 'Service' });
  const assignee = h('input', { type: 'search', id: 'assignee-filter', value: f.assignee, placeholder: 'assignee', 'aria-label': 'Assignee', size: 10 });
  const mine = h('button', { type: 'button', id: 'mine-filter', text: 'Mine', title: 'Incidents assigned to the name you act as', onclick: () => { assignee.value = actor(); apply(); } });
  const q = h('input', { type: 'search', id: 'incident-search', class: 'grow', value: f.q, placeholder: 'Search titles and labels', 'aria-label': 'Search incidents' });
  const live = h('span', { class: 'muted', role: 'status', id: 'live-status' });
  const mergeBtn = h('button', { type: 'button', disabled: true, text: 'Merge selected', title: 'Merge the selected incidents into the oldest one' });
  const host = h('div', { id: 'incidents-host' });
  const msg = h('div', {});

  const apply = () => {
    Object.assign(f, { state: stateSel.value, severity: sevSel.value, service: service.value.trim(), assignee: assignee.value.trim(), q: q.value.trim() });
    setQuery(f);
    poll();
  };
  clear(root,
    h('h1', {}, 'Incidents'),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); apply(); } },
      stateSel, sevSel, service, assignee, mine, h('div', { class: 'grow' }, q), h('button', { type: 'submit', text: 'Apply' }), mergeBtn),
    h('p', {}, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), live),
    msg, host);
  stateSel.addEventListener('change', apply);
  sevSel.addEventListener('change', apply);

  mergeBtn.addEventListener('click', async () => {
    const rows = [...host.querySelectorAll('tr[data-id]')].filter((r) => selected.has(r.dataset.id));
    const ordered = rows.map((r) => ({ id: r.dataset.id, created: Number(r.dataset.created) })).sort((a, b) => a.created - b.created);
    const [target, ...sources] = ordered.map((r) => r.id);
    if (!sources.length) return;
    try {
      await ops.mergeIncidents(target, sources);
      selected.clear();
      clear(msg, h('p', { class: 'notice', role: 'status', text: `Merged ${sources.length} incident(s) into ${target}.` }));
      poll();
    } catch (err) {
      clear(msg, errorBox(err, 'Merging incidents'));
    }
  });

  async function poll() {
    clearTimeout(timer);
    if (inflight) inflight.abort();
    inflight = new AbortController();
    try {
      const res = await ops.incidents({ ...f, limit: 200 }, inflight.signal);
      if (!ctx.alive()) return;
      draw(res.incidents || [], res.total);
      live.textContent = `Live — updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (err.name === 'AbortError' || !ctx.alive()) return;
      live.textContent = '';
      if (err.missingEndpoint) {
        clear(host, emptyState('Incidents are not available on this server',
          'This opsloop server does not serve the incidents API (/api/opsloop/v1/incidents). Upgrade or enable the incidents area; alerts then become incidents here.'));
        return;
      }
      clear(host, errorBox(err, 'Loading incidents'));
      lastStamp = '';  // the error replaced the table: the next answer redraws it even when nothing changed
    }
    if (ctx.alive()) timer = setTimeout(poll, document.hidden ? POLL_MS * 4 : POLL_MS);
  }

  let lastStamp = '';

  function draw(list, total) {
    // Redraw only when something changed, and keep keyboard focus on the same row's control.
    const stamp = JSON.stringify([list.map((i) => [i.id, i.state, i.severity, i.updated_at, i.signal_count, i.title, i.assignee]), total, f]);
    if (stamp === lastStamp) {
      host.querySelectorAll('[data-ago]').forEach((el) => { el.textContent = fmtAgo(el.dataset.ago); });
      return;
    }
    lastStamp = stamp;
    const active = document.activeElement;
    const focusRow = active && host.contains(active) ? active.closest('tr[data-id]') : null;
    const focusKey = focusRow ? [focusRow.dataset.id, active.tagName, active.type] : null;
    drawRows(list, total);
    if (focusKey) {
      const row = host.querySelector(`tr[data-id="${CSS.escape(focusKey[0])}"]`);
      const again = row && [...row.querySelectorAll('a, input')].find((el) => el.tagName === focusKey[1] && el.type === focusKey[2]);
      if (again) again.focus({ preventScroll: true });
    }
  }

  function drawRows(list, total) {
    if (!list.length) {
      const filtered = Object.values(f).some(Boolean);
      clear(host, filtered
        ? emptyState('No incident matches these filters', 'Clear a filter to see more incidents.')
        : emptyState('No incidents yet', 'Incidents open when alerts, anomalies or drift signals arrive. Send your alerts here:', ingestHelp()));
      return;
    }
    // When it was opened; and when its first signal started, if well before (a late-delivered or
    // replayed alert opens an incident "now" about trouble that began hours ago)
    const openedCell = (inc) => {
      const started = Number(inc.first_signal_at);
      const early = started && Number(inc.created_at) - started > 60;
      const title = `Opened ${fmtEpoch(inc.created_at)}` + (started ? `; first signal ${fmtEpoch(started)}` : '');
      return h('td', { title },
        h('span', { 'data-ago': inc.created_at, text: fmtAgo(inc.created_at) }),
        early ? h('span', { class: 'muted started' }, ' · started ', h('span', { 'data-ago': started, text: fmtAgo(started) })) : null);
    };
    const rows = list.map((inc) => {
      const incId = String(inc.id);
      const isNew = !first && !seen.has(incId);
      seen.add(incId);
      const box = h('input', { type: 'checkbox', 'aria-label': `Select incident ${inc.title}`, checked: selected.has(incId) });
      box.addEventListener('change', () => {
        if (box.checked) selected.add(incId); else selected.delete(incId);
        mergeBtn.disabled = selected.size < 2;
      });
      return h('tr', { 'data-id': inc.id, 'data-created': inc.created_at, class: isNew ? 'new-row' : '' },
        h('td', {}, box),
        h('td', { class: 'wrap' }, h('a', { href: href(`/incidents/${inc.id}`), class: 'incident-link', text: inc.title || inc.id })),
        h('td', {}, badge(inc.state)),
        h('td', {}, badge(inc.severity)),
        h('td', { class: 'wrap' }, (inc.services && inc.services.length ? inc.services : [inc.service]).filter(Boolean).join(', ')),
        h('td', { class: 'hide-narrow', text: inc.assignee || '' }),
        h('td', { class: 'num hide-narrow', text: inc.signal_count ?? '' }),
        openedCell(inc),
        h('td', { class: 'hide-narrow', title: fmtEpoch(inc.updated_at), 'data-ago': inc.updated_at, text: fmtAgo(inc.updated_at) }));
    });
    first = false;
    clear(host,
      h('div', { class: 'table-wrap' }, h('table', { id: 'incidents-table', 'aria-label': 'Incidents' },
        h('thead', {}, h('tr', {}, ['', 'Title', 'State', 'Severity', 'Service', 'Assignee', 'Signals', 'Opened', 'Updated'].map((t, i) => h('th', { scope: 'col', class: i === 6 ? 'num hide-narrow' : i === 5 || i === 8 ? 'hide-narrow' : '', text: t })))),
        h('tbody', {}, rows))),
      total > list.length ? h('p', { class: 'muted', text: `Showing the ${list.length} most recent of ${total}; narrow the filters to see others.` }) : null);
    mergeBtn.disabled = [...selected].filter((id) => seen.has(id)).length < 2;
  }

  ctx.onCleanup(() => { clearTimeout(timer); if (inflight) inflight.abort(); });
  await poll();
}
