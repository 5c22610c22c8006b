// Render JSON documents whose exact shape belongs to another area (lineage, validation reports,
// monitoring reports) as readable nested tables, so the UI shows them even as those shapes evolve.
import { fmtNum, h } from './dom.js';

const TIME_KEY = /(_at|time|timestamp)$/;

function scalar(key, v) {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number' && TIME_KEY.test(key) && v > 1e9) return new Date(v < 1e11 ? v * 1000 : v).toLocaleString();
  if (typeof v === 'number') return fmtNum(v);
  return String(v);
}

export function genericView(value, key = '', depth = 0) {
  if (value === null || typeof value !== 'object') return document.createTextNode(scalar(key, value));
  if (Array.isArray(value)) {
    if (!value.length) return h('span', { class: 'muted', text: 'none' });
    if (value.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      const cols = [...new Set(value.flatMap((x) => Object.keys(x)))].slice(0, 10);
      return h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', text: c })))),
        h('tbody', {}, value.map((row) => h('tr', {}, cols.map((c) => h('td', { class: 'wrap' }, depth > 2 ? JSON.stringify(row[c] ?? '') : genericView(row[c], c, depth + 1))))))));
    }
    return document.createTextNode(value.map((x) => (typeof x === 'object' ? JSON.stringify(x) : scalar(key, x))).join(', '));
  }
  const entries = Object.entries(value);
  if (!entries.length) return h('span', { class: 'muted', text: 'none' });
  return h('table', { class: 'kv' }, h('tbody', {}, entries.map(([k, v]) => h('tr', {},
    h('th', { scope: 'row', text: k }), h('td', {}, depth > 3 ? JSON.stringify(v) : genericView(v, k, depth + 1))))));
}
