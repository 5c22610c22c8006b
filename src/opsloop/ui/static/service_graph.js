// The service dependency graph as SVG: services in layers by dependency depth (callers above what they
// call), declared edges as solid arrows, learned co-occurrence links as dashed lines. No dependencies.
import { svg } from './charts.js';

export const SEVERITY_RANK = { critical: 4, error: 3, warning: 2, info: 1 };
const NODE_W = 136;
const NODE_H = 34;
const GAP_X = 24;
const GAP_Y = 54;
const PAD = 16;
const LABEL_MAX = 17;

/** The worst severity of some incidents ('' when there are none). */
export function worstSeverity(incidents) {
  let worst = '';
  for (const inc of incidents) if ((SEVERITY_RANK[inc.severity] || 0) > (SEVERITY_RANK[worst] || 0)) worst = inc.severity;
  return worst;
}

/**
 * Services from a topology answer ({declared: [{source, target}], traced: [{source, target, calls}],
 * learned: [{a, b, support, strength}]}) and open incidents: name → {name, dependsOn, usedBy, traced
 * (dependency → calls, for edges seen in traces and not declared), learned (partner → link), incidents, worst}.
 */
export function serviceModel(topology, incidents) {
  const services = new Map();
  const get = (name) => {
    if (!services.has(name)) services.set(name, { name, dependsOn: new Set(), usedBy: new Set(), traced: new Map(), learned: new Map(), incidents: [], worst: '' });
    return services.get(name);
  };
  for (const { source, target } of topology.declared || []) {
    get(source).dependsOn.add(target);
    get(target).usedBy.add(source);
  }
  for (const { source, target, calls } of topology.traced || []) {
    if (get(source).dependsOn.has(target)) continue;  // declared as well: drawn as declared
    get(source).dependsOn.add(target);
    get(source).traced.set(target, calls);
    get(target).usedBy.add(source);
  }
  for (const link of topology.learned || []) {
    get(link.a).learned.set(link.b, link);
    get(link.b).learned.set(link.a, link);
  }
  for (const inc of incidents) {
    const names = new Set((inc.services && inc.services.length ? inc.services : [inc.service]).filter(Boolean));
    for (const name of names) get(name).incidents.push(inc);
  }
  for (const s of services.values()) s.worst = worstSeverity(s.incidents);
  return new Map([...services.entries()].sort((a, b) => a[0].localeCompare(b[0])));
}

/** Each service's layer: 0 when nothing calls it, else one below its deepest caller (a cycle is cut). */
export function layerOf(services) {
  const callersLeft = new Map([...services.values()].map((s) => [s.name, s.usedBy.size]));
  const layer = new Map();
  const done = new Set();
  let ready = [...services.keys()].filter((n) => callersLeft.get(n) === 0);
  while (done.size < services.size) {
    if (!ready.length) {  // only cycles are left: enter one at the service with the fewest callers left
      ready = [[...services.keys()].filter((n) => !done.has(n)).reduce((a, b) => (callersLeft.get(b) < callersLeft.get(a) ? b : a))];
    }
    const next = [];
    for (const name of ready) {
      if (done.has(name)) continue;
      done.add(name);
      if (!layer.has(name)) layer.set(name, 0);
      for (const dep of services.get(name).dependsOn) {
        if (done.has(dep)) continue;
        layer.set(dep, Math.max(layer.get(dep) ?? 0, layer.get(name) + 1));
        callersLeft.set(dep, callersLeft.get(dep) - 1);
        if (callersLeft.get(dep) === 0) next.push(dep);
      }
    }
    ready = next;
  }
  return layer;
}

/**
 * Node positions ({x, y} of the top-left corner) and the drawing's size. Services without declared edges
 * (only learned links or only incidents) go in the last rows; a layer wider than ``perRow`` wraps.
 */
export function layout(services, perRow) {
  const layer = layerOf(services);
  const inGraph = (s) => s.dependsOn.size || s.usedBy.size;
  let depth = -1;
  for (const s of services.values()) if (inGraph(s)) depth = Math.max(depth, layer.get(s.name));
  const byLayer = [];
  for (const s of services.values()) (byLayer[inGraph(s) ? layer.get(s.name) : depth + 1] ||= []).push(s.name);
  const pos = new Map();
  const rows = [];
  const bands = [];  // [first row, last row] of each layer, drawn as alternating backgrounds
  for (const names of byLayer) {
    if (!names) continue;
    bands.push([rows.length, rows.length + Math.ceil(names.length / perRow) - 1]);
    // Order by where the callers (else the learned partners) stand, for fewer crossings, then by name.
    const key = (n) => {
      const s = services.get(n);
      const placed = (set) => [...set].filter((c) => pos.has(c)).map((c) => pos.get(c).x);
      const xs = placed(s.usedBy).length ? placed(s.usedBy) : placed(s.learned.keys());
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Infinity;
    };
    const keys = new Map(names.map((n) => [n, key(n)]));
    names.sort((a, b) => (keys.get(a) - keys.get(b)) || a.localeCompare(b));
    for (let i = 0; i < names.length; i += perRow) {
      const row = names.slice(i, i + perRow);
      rows.push(row);
      // a provisional column (rows centred on one another) that orders the next layer
      row.forEach((n, j) => pos.set(n, { x: j + (perRow - row.length) / 2, y: rows.length - 1 }));
    }
  }
  const cols = Math.max(1, ...rows.map((r) => r.length));
  const rowY = (r) => PAD + r * (NODE_H + GAP_Y);
  rows.forEach((row, r) => {
    const offset = ((cols - row.length) * (NODE_W + GAP_X)) / 2;
    row.forEach((n, j) => pos.set(n, { x: PAD + offset + j * (NODE_W + GAP_X), y: rowY(r) }));
  });
  return {
    pos,
    bands: bands.map(([a, b]) => [rowY(a) - GAP_Y / 2 + 6, rowY(b) + NODE_H + GAP_Y / 2 - 6]),
    width: 2 * PAD + cols * (NODE_W + GAP_X) - GAP_X,
    height: 2 * PAD + rows.length * (NODE_H + GAP_Y) - GAP_Y,
  };
}

/** Where the line from the centre of box ``p`` towards the centre of box ``q`` leaves ``p``. */
function border(p, q) {
  const cx = p.x + NODE_W / 2;
  const cy = p.y + NODE_H / 2;
  const dx = q.x - p.x;
  const dy = q.y - p.y;
  const t = Math.min(dx ? (NODE_W / 2 + 3) / Math.abs(dx) : Infinity, dy ? (NODE_H / 2 + 3) / Math.abs(dy) : Infinity);
  return [cx + dx * t, cy + dy * t];
}

function edge(pos, a, b, kind, title) {
  const [x1, y1] = border(pos.get(a), pos.get(b));
  const [x2, y2] = border(pos.get(b), pos.get(a));
  const d = `M${x1.toFixed(1)},${y1.toFixed(1)} L${x2.toFixed(1)},${y2.toFixed(1)}`;
  return svg('g', { class: `edge ${kind}`, 'data-source': a, 'data-target': b },
    svg('title', {}, title),
    svg('path', { d, class: 'edge-hit' }),
    svg('path', { d, class: 'edge-line', 'marker-end': kind === 'learned' ? null : 'url(#svc-arrow)' }));
}

const truncate = (name) => (name.length > LABEL_MAX ? `${name.slice(0, LABEL_MAX - 1)}…` : name);

/** A service's one-line description (the node's tooltip and accessible name). */
export function describe(s) {
  const open = s.incidents.length ? `${s.incidents.length} open incident${s.incidents.length > 1 ? 's' : ''}, worst ${s.worst}` : 'no open incident';
  return `${s.name}: ${open}; depends on ${s.dependsOn.size}, used by ${s.usedBy.size}, ${s.learned.size} learned link${s.learned.size === 1 ? '' : 's'}`;
}

function node(s, p, onSelect) {
  const cls = ['node', s.incidents.length ? `has-incidents sev-${s.worst}` : ''].filter(Boolean).join(' ');
  const g = svg('g', { class: cls, transform: `translate(${p.x},${p.y})`, 'data-service': s.name, tabindex: 0, role: 'button', 'aria-label': describe(s) },
    svg('title', {}, describe(s)),
    svg('rect', { width: NODE_W, height: NODE_H, rx: 6 }),
    svg('text', { x: NODE_W / 2, y: NODE_H / 2 + 4, 'text-anchor': 'middle', class: 'node-label' }, truncate(s.name)));
  if (s.incidents.length) {
    g.append(svg('circle', { cx: NODE_W - 2, cy: 2, r: 10, class: 'node-count' }),
      svg('text', { x: NODE_W - 2, y: 6, 'text-anchor': 'middle', class: 'node-count-text' }, s.incidents.length > 99 ? '99+' : s.incidents.length));
  }
  g.addEventListener('click', () => onSelect(s.name));
  g.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onSelect(s.name); }
  });
  return g;
}

/** The graph as an SVG element; ``onSelect(name)`` runs when a service is clicked (or Enter/Space). */
export function serviceGraph(services, { perRow = 8, selected = '', onSelect = () => {} } = {}) {
  const { pos, bands, width, height } = layout(services, Math.max(1, perRow));
  const root = svg('svg', { id: 'services-graph', class: 'service-graph', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': `Service dependency graph, ${services.size} services` },
    svg('defs', {}, svg('marker', { id: 'svc-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head' }))));
  root.append(svg('g', { class: 'layers', 'aria-hidden': 'true' }, bands.map(([y0, y1], i) => (i % 2
    ? svg('rect', { x: 0, y: Math.max(0, y0), width, height: Math.min(height, y1) - Math.max(0, y0), class: 'layer-band' }) : null))));
  const edges = svg('g', { class: 'edges' });
  for (const s of services.values()) {
    for (const dep of s.dependsOn) {
      const link = s.learned.get(dep);
      const calls = s.traced.get(dep);
      const how = calls === undefined ? 'declared' : `seen in traces, ${calls} call${calls === 1 ? '' : 's'}`;
      edges.append(edge(pos, s.name, dep, calls === undefined ? 'declared' : 'traced', `${s.name} depends on ${dep} (${how})${link ? `; also learned, strength ${link.strength}` : ''}`));
    }
    for (const [other, link] of s.learned) {
      if (s.name > other || s.dependsOn.has(other) || services.get(other).dependsOn.has(s.name)) continue;
      edges.append(edge(pos, s.name, other, 'learned', `${s.name} ↔ ${other}: learned link, strength ${link.strength} (${link.support} alert episodes together)`));
    }
  }
  root.append(edges);
  for (const s of services.values()) root.append(node(s, pos.get(s.name), onSelect));
  markSelected(root, selected);
  return root;
}

/** Highlight a service and the edges that touch it. */
export function markSelected(root, name) {
  root.classList.toggle('has-selection', Boolean(name));
  root.querySelectorAll('g.node').forEach((g) => g.classList.toggle('selected', g.dataset.service === name));
  root.querySelectorAll('g.edge').forEach((g) => g.classList.toggle('touching', Boolean(name) && (g.dataset.source === name || g.dataset.target === name)));
}
