// Hash routing: "#/path/segments?query". Filters live in the query so every view is a shareable link.

export function current() {
  const raw = location.hash.replace(/^#/, '') || '/runs';
  const [path, qs = ''] = raw.split('?');
  return { path, parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(qs) };
}

export function href(path, params) {
  const qs = params ? new URLSearchParams(clean(params)).toString() : '';
  return `#${path}${qs ? `?${qs}` : ''}`;
}

function clean(params) {
  const out = {};
  const entries = params instanceof URLSearchParams ? params.entries() : Object.entries(params);
  for (const [k, v] of entries) {
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && !v.length)) continue;
    out[k] = Array.isArray(v) ? v.join(',') : String(v);
  }
  return out;
}

/** Go to a new view (the router renders it). */
export function go(path, params) {
  location.hash = href(path, params).slice(1);
}

/**
 * Change the current view's query without re-rendering (the page refreshes its own data).
 * ``push`` keeps the previous state in history, so Back restores the previous filters.
 */
export function setQuery(params, { push = true } = {}) {
  const { path } = current();
  const url = href(path, params);
  if (url === location.hash) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

export function listFromQuery(query, name) {
  const v = query.get(name);
  return v ? v.split(',').filter(Boolean) : [];
}

/** Start routing: ``routes`` is [[pattern, loader]], patterns like "/runs/:id". */
export function start(routes, mount) {
  let cleanups = [];
  let token = 0;
  const render = async () => {
    const my = ++token;
    cleanups.forEach((fn) => { try { fn(); } catch (e) { /* a page's cleanup must not block the next page */ } });
    cleanups = [];
    const route = current();
    const match = matchRoute(routes, route.parts);
    const ctx = {
      ...route, params: match ? match.params : {},
      onCleanup: (fn) => cleanups.push(fn),
      alive: () => my === token,
    };
    await mount(match ? match.loader : null, ctx);
  };
  window.addEventListener('hashchange', render);
  window.addEventListener('popstate', render);
  render();
}

function matchRoute(routes, parts) {
  for (const [pattern, loader] of routes) {
    const pp = pattern.split('/').filter(Boolean);
    if (pp.length !== parts.length) continue;
    const params = {};
    let ok = true;
    pp.forEach((p, i) => {
      if (p.startsWith(':')) params[p.slice(1)] = parts[i];
      else if (p !== parts[i]) ok = false;
    });
    if (ok) return { loader, params };
  }
  return null;
}
