// Services: the dependency graph opsloop correlates with, each service with its open incidents.
//   GET /api/opsloop/v1/topology                                 declared edges and learned links
//   GET /api/opsloop/v1/incidents?state=triggered,acknowledged   open incidents (paged, up to MAX_OPEN)
// The selected service lives in the URL (#/services?service=checkout), so a link opens its panel.
import { ops } from '../api.js';
import { badge, clear, emptyState, errorBox, fmtAgo, fmtEpoch, h, loading, section, setTitle } from '../dom.js';
import { href, setQuery } from '../router.js';
import { describe, markSelected, serviceGraph, serviceModel } from '../service_graph.js';

const OPEN = 'triggered,acknowledged';
const PAGE = 500;
const MAX_OPEN = 2000;
const PANEL_INCIDENTS = 50;  // the panel lists this many, most recently active first; the link shows all
const NODE_PITCH = 160;  // a node's width and the gap after it, in px (service_graph.js)
const PANEL_W = 354;  // the side panel and its gap; beside the graph above PANEL_BESIDE px (app.css)
const PANEL_BESIDE = 900;

export function topologyHelp() {
  return `# Declare who calls whom ("checkout depends on payments and cart"):
curl -XPUT ${location.origin}/api/opsloop/v1/topology -H 'Content-Type: application/json' \\
  -d '{"services": {"checkout": ["payments", "cart"], "payments": ["postgres"]}}'
# (POST adds edges instead of replacing them; {"edges": [{"source": "checkout", "target": "payments"}]} works too)

# or from a YAML or JSON file of the same shape (--add to add instead of replace):
opsloop incidents --url ${location.origin} topology services.yaml

# Links are also learned on their own: services whose alerts keep starting together.`;
}

/** Open incidents, newest activity first, read a page at a time; ``total`` is what the server counts. */
async function openIncidents(signal) {
  const out = [];
  let total = 0;
  do {
    const res = await ops.incidents({ state: OPEN, limit: PAGE, offset: out.length }, signal);
    const page = res.incidents || [];
    total = res.total ?? page.length;
    out.push(...page);
    if (!page.length) break;
  } while (out.length < total && out.length < MAX_OPEN);
  return { incidents: out, total };
}

export async function render(root, ctx) {
  setTitle('Services');
  let selected = ctx.query.get('service') || '';
  let services = new Map();
  let graph = null;
  const status = h('span', { class: 'muted', role: 'status', id: 'services-status' });
  const refresh = h('button', { type: 'button', text: 'Refresh' });
  const host = h('div', { id: 'services-host' }, loading());
  clear(root,
    h('h1', {}, 'Services'),
    h('p', { class: 'muted', text: 'The dependency graph incidents are correlated with: an arrow goes from a service to one it depends on (declared), a dashed line joins services whose alerts keep starting together (learned). Services with open incidents are red or amber with their count; pick one for its details.' }),
    h('div', { class: 'toolbar' }, refresh, status),
    host);

  const select = (name) => {
    selected = selected === name ? '' : name;
    setQuery({ service: selected }, { push: false });
    if (graph) markSelected(graph, selected);
    host.querySelectorAll('#services-table tbody tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.service === selected));
    drawPanel();
  };
  const panel = h('aside', { class: 'card service-panel', id: 'service-panel', 'aria-live': 'polite' });
  const drawPanel = () => clear(panel, ...panelContent(services.get(selected), select));

  let inflight = null;
  ctx.onCleanup(() => { if (inflight) inflight.abort(); });

  async function load() {
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const { signal } = inflight;
    refresh.disabled = true;
    try {
      // Without incidents the graph still stands: their failure is named above it instead.
      const incidents = openIncidents(signal).catch((error) => {
        if (error.name === 'AbortError') throw error;
        return { incidents: [], total: 0, error };
      });
      const [topology, open] = await Promise.all([ops.topology(signal), incidents]);
      if (!ctx.alive()) return;
      services = serviceModel(topology, open.incidents);
      if (!services.has(selected)) selected = '';
      draw(topology, open);
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (err.name === 'AbortError' || !ctx.alive()) return;
      status.textContent = '';
      clear(host, err.missingEndpoint
        ? emptyState('Topology is not available on this server', 'This opsloop server does not serve the topology API (/api/opsloop/v1/topology).')
        : errorBox(err, 'Loading the services'));
    } finally {
      refresh.disabled = false;
    }
  }

  function draw(topology, open) {
    const edges = (topology.declared || []).length;
    const traced = (topology.traced || []).length;
    const links = (topology.learned || []).length;
    if (!edges && !traced && !links) {
      const withIncidents = [...services.values()].filter((s) => s.incidents.length).length;
      clear(host, emptyState('No service topology yet',
        `No dependency is declared, seen in traces (POST /v1/traces) or learned yet, so incidents are grouped by time and labels alone.${withIncidents ? ` ${withIncidents} service(s) have open incidents.` : ''} Declare how your services call each other:`,
        topologyHelp()));
      return;
    }
    const width = host.clientWidth || 1300;
    const perRow = Math.max(3, Math.floor(((width > PANEL_BESIDE ? width - PANEL_W : width) - 40) / NODE_PITCH));
    graph = serviceGraph(services, { perRow, selected, onSelect: select });
    const hot = [...services.values()].filter((s) => s.incidents.length).length;
    clear(host,
      open.error ? errorBox(open.error, 'Loading the open incidents') : null,
      h('p', { id: 'services-summary' },
        `${services.size} services, ${edges} declared dependenc${edges === 1 ? 'y' : 'ies'}, ${traced ? `${traced} seen in traces, ` : ''}${links} learned link${links === 1 ? '' : 's'}; `,
        h('strong', { text: `${hot} with open incidents` }),
        open.total > open.incidents.length ? ` (counted from the ${open.incidents.length} most recently active of ${open.total})` : ''),
      h('div', { class: 'services-layout' },
        h('div', { class: 'graph-scroll', tabindex: 0, 'aria-label': 'Service graph (scrolls)' }, graph, legend()),
        panel),
      section('All services', table(services, selected, select)));
    drawPanel();
  }

  refresh.addEventListener('click', load);
  await load();
}

function legend() {
  return h('div', { class: 'legend' },
    h('span', {}, h('i', { class: 'legend-declared' }), 'declared: depends on'),
    h('span', {}, h('i', { class: 'legend-traced' }), 'seen in traces: calls'),
    h('span', {}, h('i', { class: 'legend-learned' }), 'learned link (hover for strength)'),
    h('span', {}, h('i', { class: 'legend-critical' }), 'open critical/error incident'),
    h('span', {}, h('i', { class: 'legend-warning' }), 'open warning/info incident'));
}

function serviceButtons(names, select, extra) {
  if (!names.length) return h('p', { class: 'muted', text: 'None.' });
  return h('ul', { class: 'plain-list' }, names.map((n) => h('li', {},
    h('button', { type: 'button', class: 'link-button', 'data-service': n, onclick: () => select(n) }, n), extra ? extra(n) : null)));
}

function incidentList(incidents) {
  if (!incidents.length) return h('p', { class: 'muted', text: 'No open incident.' });
  return h('ul', { class: 'plain-list', id: 'service-incidents' }, incidents.slice(0, PANEL_INCIDENTS).map((inc) => h('li', {},
    badge(inc.severity), ' ', badge(inc.state), ' ',
    h('a', { href: href(`/incidents/${inc.id}`), class: 'incident-link', text: inc.title || `#${inc.id}` }),
    h('span', { class: 'muted', title: fmtEpoch(inc.updated_at), text: ` ${fmtAgo(inc.updated_at)}` }))));
}

function panelContent(s, select) {
  if (!s) return [h('h2', { text: 'Pick a service' }), h('p', { class: 'muted', text: 'Click a service in the graph or the table to see what it depends on, what depends on it and its open incidents.' })];
  const learned = [...s.learned.keys()].sort();
  return [
    h('h2', { class: 'service-name', text: s.name }),
    h('p', { class: 'muted', text: describe(s) }),
    h('h3', { text: `Open incidents (${s.incidents.length})` }), incidentList(s.incidents),
    h('p', {}, h('a', { href: href('/incidents', { service: s.name }), text: 'All incidents of this service' })),
    h('h3', { text: 'Depends on' }), serviceButtons([...s.dependsOn].sort(), select),
    h('h3', { text: 'Used by' }), serviceButtons([...s.usedBy].sort(), select),
    h('h3', { text: 'Learned links' }), serviceButtons(learned, select, (n) => h('span', { class: 'muted', text: ` strength ${s.learned.get(n).strength}, ${s.learned.get(n).support} episodes together` })),
    h('p', {}, h('button', { type: 'button', text: 'Close', onclick: () => select(s.name) })),
  ];
}

function table(services, selected, select) {
  const names = (set) => [...set].sort().join(', ');
  const rows = [...services.values()].map((s) => h('tr', { 'data-service': s.name, class: s.name === selected ? 'selected' : '' },
    h('th', { scope: 'row', class: 'wrap' }, h('button', { type: 'button', class: 'link-button', onclick: () => select(s.name) }, s.name)),
    h('td', { class: 'wrap', text: names(s.dependsOn) }),
    h('td', { class: 'wrap', text: names(s.usedBy) }),
    h('td', { class: 'wrap', text: [...s.learned.keys()].sort().map((n) => `${n} (${s.learned.get(n).strength})`).join(', ') }),
    h('td', { class: 'num', text: s.incidents.length || '' }),
    h('td', {}, s.worst ? badge(s.worst) : null)));
  return h('div', { class: 'table-wrap' }, h('table', { id: 'services-table', 'aria-label': 'Services' },
    h('thead', {}, h('tr', {}, ['Service', 'Depends on', 'Used by', 'Learned links', 'Open incidents', 'Worst severity']
      .map((t, i) => h('th', { scope: 'col', class: i === 4 ? 'num' : '', text: t })))),
    h('tbody', {}, rows)));
}
