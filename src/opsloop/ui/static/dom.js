// Small DOM helpers shared by every page: element builder, formatting, empty and error states.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'html') el.innerHTML = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtTime(ms) {
  if (ms === undefined || ms === null || ms === '') return '';
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Epoch seconds (or milliseconds, recognised by size) as local time. */
export const fmtEpoch = (s) => (s ? fmtTime(Number(s) < 1e11 ? Number(s) * 1000 : Number(s)) : '');

export function fmtAgo(seconds) {
  if (!seconds) return '';
  const d = Date.now() / 1000 - (Number(seconds) < 1e11 ? Number(seconds) : Number(seconds) / 1000);
  if (d < 60) return `${Math.max(0, Math.round(d))}s ago`;
  if (d < 3600) return `${Math.round(d / 60)}m ago`;
  if (d < 86400) return `${Math.round(d / 3600)}h ago`;
  return `${Math.round(d / 86400)}d ago`;
}

export function fmtDuration(startMs, endMs) {
  if (!startMs || !endMs) return '';
  const s = (Number(endMs) - Number(startMs)) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${(s / 60).toFixed(1)}min`;
  return `${(s / 3600).toFixed(1)}h`;
}

export function fmtNum(v) {
  if (v === undefined || v === null || v === '') return '';
  const n = Number(v);
  if (typeof v === 'string' && Number.isNaN(n)) return v;
  if (!Number.isFinite(n)) return String(v);
  if (Number.isInteger(n)) return String(n);
  const a = Math.abs(n);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return n.toExponential(3);
  return String(Number(n.toPrecision(5)));
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KB', 'MB', 'GB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

const LONG_TEXT = 300;  // characters; MLflow allows 6,000 for a param (a whole config logged as one)

/** A value as text; one over ``limit`` characters is folded to its start until opened (a run's params, a compared param). */
export function foldedText(v, limit = LONG_TEXT) {
  if (typeof v !== 'string' || v.length <= limit) return v;
  return h('details', { class: 'long-value' }, h('summary', { text: `${v.slice(0, 120)}… (${v.length} characters)` }),
    h('div', { class: 'long-value-full', text: v }));
}

/** A value cut to ``max`` characters for a table cell, whole in its tooltip. */
export function cutText(v, max = 80) {
  const s = v === undefined || v === null ? '' : String(v);
  return s.length <= max ? s : h('span', { title: s.slice(0, 2000), text: `${s.slice(0, max - 1)}…` });
}

/** An empty state that tells a new user what to do next: a title, a sentence, and optional code. */
export function emptyState(title, text, code) {
  return h('section', { class: 'empty-state', role: 'status' },
    h('h2', { text: title }),
    h('p', { text }),
    code ? h('pre', { class: 'code' }, h('code', { text: code })) : null);
}

/** An error box that says what went wrong (the server's message when there is one). */
export function errorBox(err, what) {
  const msg = err && err.message ? err.message : String(err);
  const code = err && err.code ? ` (${err.code}${err.status ? `, HTTP ${err.status}` : ''})` : '';
  return h('div', { class: 'error-box', role: 'alert' },
    h('strong', { text: what ? `${what} failed: ` : 'Error: ' }), `${msg}${code}`);
}

export const loading = (text = 'Loading…') => h('p', { class: 'loading', role: 'status', text });

export function badge(text, kind) {
  return h('span', { class: `badge badge-${String(kind || text || '').toLowerCase().replace(/[^a-z0-9]+/g, '-')}`, text });
}

export function kvTable(pairs, caption, emptyText) {
  if (!pairs.length) return h('p', { class: 'muted', text: emptyText || 'None.' });
  return h('div', { class: 'table-wrap' }, h('table', { class: 'kv' },
    caption ? h('caption', { text: caption }) : null,
    h('tbody', {}, pairs.map(([k, v]) => h('tr', {}, h('th', { scope: 'row', text: k }), h('td', {}, v))))));
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', { text: title }), ...children);
}

/** The browser's time zone, which every time on the pages is in: "Europe/Berlin (UTC+01:00)". */
export function timeZoneText(date = new Date()) {
  const off = -date.getTimezoneOffset();
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, '0');
  const utc = `UTC${off < 0 ? '-' : '+'}${pad(off / 60)}:${pad(off % 60)}`;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone && zone !== 'UTC' ? `${zone} (${utc})` : utc;
}

export const setTitle = (t) => { document.title = t ? `${t} · opsloop` : 'opsloop'; };
