// Experiments and runs: the runs table with server-side paging, MLflow filter grammar, sorting by
// order_by, a column chooser for params/metrics/tags, and selection for comparing runs.
import { ApiError, kv, mlflow } from '../api.js';
import { badge, clear, cutText, emptyState, errorBox, fmtDuration, fmtNum, fmtTime, h, loading, setTitle } from '../dom.js';
import { go, href, listFromQuery, setQuery } from '../router.js';

const PAGE_SIZE = 100;
const DEFAULT_ORDER = 'attributes.start_time DESC';
const AUTO_COLUMNS = 8;
const FIXED_SORT = { name: 'attributes.run_name', started: 'attributes.start_time', status: 'attributes.status' };
let firstRenderMarked = false;

/** Read the view state from the URL query (so a link reproduces the view). */
function stateFrom(query) {
  return {
    exp: listFromQuery(query, 'exp'),
    filter: query.get('filter') || '',
    order: query.get('order') || DEFAULT_ORDER,
    cols: query.has('cols') ? listFromQuery(query, 'cols') : null,
    page: query.get('page') || '',
    prev: listFromQuery(query, 'prev'),
    view: query.get('view') || 'active',
  };
}

function toQuery(st, prevTokens) {
  return {
    exp: st.exp, filter: st.filter, order: st.order === DEFAULT_ORDER ? '' : st.order,
    cols: st.cols === null ? undefined : (st.cols.length ? st.cols : '-'), page: st.page, view: st.view === 'active' ? '' : st.view,
    // the tokens of the pages before this one (the first page's is empty), so a reload or a shared link
    // keeps the page number and Previous
    prev: st.page ? prevTokens.slice(1) : [],
  };
}

export async function render(root, ctx) {
  setTitle('Runs');
  const st = stateFrom(ctx.query);
  if (st.cols && st.cols.length === 1 && st.cols[0] === '-') st.cols = [];
  const selected = new Set();
  const prevTokens = st.page ? ['', ...st.prev] : [];
  let keys = { params: new Set(), metrics: new Set(), tags: new Set() };
  let lastRuns = [];
  let lastMulti = false;
  let controller = null;

  const expSelect = h('select', { id: 'exp-select', 'aria-label': 'Experiment' }, h('option', { value: '', text: 'All experiments' }),
    // several experiments (a link from compare): say so, rather than "All experiments" over some of them
    st.exp.length > 1 ? h('option', { value: st.exp.join(','), text: `${st.exp.length} experiments`, selected: true }) : null);
  const filterInput = h('input', {
    type: 'search', id: 'run-filter', class: 'grow', value: st.filter, 'aria-label': 'Filter runs',
    placeholder: "metrics.accuracy > 0.9 and params.model = 'xgb'", spellcheck: 'false', autocomplete: 'off',
  });
  const viewSelect = h('select', { 'aria-label': 'Lifecycle' },
    ['active', 'deleted', 'all'].map((v) => h('option', { value: v, text: v === 'active' ? 'Active runs' : v === 'deleted' ? 'Deleted runs' : 'All runs', selected: v === st.view })));
  const compareBtn = h('button', { type: 'button', class: 'primary', disabled: true, id: 'compare-btn', text: 'Compare' });
  const columnsBtn = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'columns-panel', text: 'Columns' });
  const columnsPanel = h('div', { id: 'columns-panel', class: 'columns-panel', hidden: true });
  const status = h('div', { class: 'status-line muted', role: 'status' });
  const tableHost = h('div', { id: 'runs-table-host' });
  const pager = h('div', { class: 'pager' });
  const expNames = {};

  const form = h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); st.filter = filterInput.value.trim(); st.page = ''; prevTokens.length = 0; reload(); } },
    expSelect, h('div', { class: 'grow' }, filterInput), h('button', { type: 'submit', text: 'Apply' }), viewSelect, columnsBtn, compareBtn);

  clear(root,
    h('h1', {}, 'Runs'),
    form,
    h('p', { class: 'muted hint' }, 'Type part of a run name, or filter with MLflow\'s search grammar, e.g. ', h('code', { text: "metrics.rmse < 1 and params.alpha = '0.5'" }), ' or ', h('code', { text: "tags.mlflow.runName LIKE 'baseline%'" }), '.'),
    columnsPanel, status, tableHost, pager);

  expSelect.addEventListener('change', () => { st.exp = expSelect.value ? expSelect.value.split(',') : []; st.page = ''; prevTokens.length = 0; reload(); });
  viewSelect.addEventListener('change', () => { st.view = viewSelect.value; st.page = ''; prevTokens.length = 0; reload(); });
  columnsBtn.addEventListener('click', () => {
    columnsPanel.hidden = !columnsPanel.hidden;
    columnsBtn.setAttribute('aria-expanded', String(!columnsPanel.hidden));
    if (!columnsPanel.hidden) drawColumnsPanel();
  });
  compareBtn.addEventListener('click', () => go('/compare', { runs: [...selected] }));
  ctx.onCleanup(() => controller && controller.abort());

  // The experiment list and the first page load together; the table does not wait for the list.
  const experiments = mlflow.searchExperiments().then((r) => r.experiments || []);
  let expsLoaded = false;
  experiments.then((list) => {
    expsLoaded = true;
    for (const e of list) {
      expNames[e.experiment_id] = e.name;
      expSelect.append(h('option', { value: e.experiment_id, text: e.name, selected: st.exp.length === 1 && st.exp[0] === e.experiment_id }));
    }
  }).catch(() => {});

  async function expIds() {
    if (st.exp.length) return st.exp;
    return (await experiments).map((e) => e.experiment_id);
  }

  async function reload({ push = true } = {}) {
    setQuery(toQuery(st, prevTokens), { push });
    if (controller) controller.abort();
    controller = new AbortController();
    const { signal } = controller;
    status.textContent = 'Loading runs…';
    let ids;
    try {
      ids = await expIds();
    } catch (err) {
      clear(tableHost, errorBox(err, 'Listing experiments'));
      status.textContent = '';
      return;
    }
    if (!ids.length) {
      status.textContent = '';
      clear(tableHost, emptyState('No experiments yet', 'Point an MLflow client at this server and log a run; it appears here.', snippet()));
      pager.replaceChildren();
      return;
    }
    const body = {
      experiment_ids: ids, filter: searchFilter(st.filter), max_results: PAGE_SIZE, order_by: [st.order],
      run_view_type: { active: 'ACTIVE_ONLY', deleted: 'DELETED_ONLY', all: 'ALL' }[st.view],
    };
    if (st.page) body.page_token = st.page;
    try {
      const res = await mlflow.searchRuns(body, signal);
      if (!ctx.alive()) return;
      if (!(res.runs || []).length) await experiments.catch(() => null);  // to tell an unknown experiment apart
      if (!ctx.alive()) return;
      lastRuns = res.runs || [];
      collectKeys(lastRuns);
      drawTable(lastRuns, ids.length > 1);
      drawPager(res.next_page_token);
      markFirstRender();
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = '';
      pager.replaceChildren();
      const what = err instanceof ApiError && err.status === 400 ? 'The filter or sort' : 'Searching runs';
      clear(tableHost, errorBox(err, what));
    }
  }

  function collectKeys(runs) {
    for (const r of runs) {
      for (const m of r.data.metrics || []) keys.metrics.add(m.key);
      for (const p of r.data.params || []) keys.params.add(p.key);
      for (const t of r.data.tags || []) if (!t.key.startsWith('mlflow.')) keys.tags.add(t.key);
    }
  }

  function columns() {
    if (st.cols !== null) return st.cols;
    const auto = [...[...keys.metrics].sort().map((k) => `metrics.${k}`), ...[...keys.params].sort().map((k) => `params.${k}`)];
    return auto.slice(0, AUTO_COLUMNS);
  }

  function sortHeader(label, orderKey, extraClass, group) {
    const [, curKey, curDir] = st.order.match(/^(.*?)(?:\s+(ASC|DESC))?$/i);
    const active = curKey === orderKey;
    const dir = active ? (curDir || 'ASC').toUpperCase() : null;
    const btn = h('button', { type: 'button', class: 'sort', title: `Sort by ${label}` }, label, active ? (dir === 'DESC' ? ' ↓' : ' ↑') : '');
    btn.addEventListener('click', () => {
      st.order = `${orderKey} ${active && dir === 'DESC' ? 'ASC' : 'DESC'}`;
      st.page = '';
      prevTokens.length = 0;
      reload();
    });
    return h('th', { scope: 'col', class: extraClass, 'aria-sort': active ? (dir === 'DESC' ? 'descending' : 'ascending') : 'none' },
      group ? h('span', { class: 'group', text: group }) : null, btn);
  }

  function drawTable(runs, multiExp) {
    lastMulti = multiExp;
    if (!runs.length) {
      status.textContent = '';
      clear(tableHost, noRuns());
      return;
    }
    const cols = columns();
    const thead = h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, h('span', { class: 'sr-only', text: 'Select' })),
      sortHeader('Run', FIXED_SORT.name),
      sortHeader('Status', FIXED_SORT.status, 'hide-narrow'),
      sortHeader('Started', FIXED_SORT.started),
      h('th', { scope: 'col', class: 'hide-narrow', text: 'Duration' }),
      multiExp ? h('th', { scope: 'col', class: 'hide-narrow', text: 'Experiment' }) : null,
      cols.map((c) => {
        const [group, ...rest] = c.split('.');
        const key = rest.join('.');
        return sortHeader(key, `${group}.\`${key}\``, group === 'metrics' ? 'num' : '', group);
      })));
    const tbody = h('tbody', {}, runs.map((r) => row(r, cols, multiExp)));
    clear(tableHost, h('div', { class: 'table-wrap' }, h('table', { id: 'runs-table', 'aria-label': 'Runs' }, thead, tbody)));
  }

  /** The empty table's state: what is empty (a filter, the deleted view, an unknown experiment) and what to do. */
  function noRuns() {
    if (st.filter) return emptyState('No matching runs', 'No run matches this filter. Loosen it, or clear it to see every run.');
    const unknown = expsLoaded && st.exp.filter((id) => !(id in expNames));
    if (unknown && unknown.length) {
      return emptyState('No such experiment', `No active experiment has the id ${unknown.join(', ')} on this server (it may have been deleted). Pick one from the list above.`);
    }
    if (st.view === 'deleted') return emptyState('No deleted runs', 'Runs deleted here (mlflow.delete_run) are listed until they are purged; switch to Active runs to see the others.');
    const shown = st.exp.length === 1 ? { id: st.exp[0], name: expNames[st.exp[0]] } : null;
    return emptyState('No runs yet', 'Nothing has been logged here yet. Point an MLflow client at this server and log a run; it appears in this table.', snippet(shown));
  }

  function row(r, cols, multiExp) {
    const info = r.info;
    const data = { metrics: Object.fromEntries((r.data.metrics || []).map((m) => [m.key, m.value])), params: kv(r.data.params), tags: kv(r.data.tags) };
    const box = h('input', { type: 'checkbox', 'aria-label': `Select ${info.run_name || info.run_id} for comparison`, checked: selected.has(info.run_id) });
    const tr = h('tr', { 'data-run-id': info.run_id, class: selected.has(info.run_id) ? 'selected' : '' },
      h('td', {}, box),
      h('td', { class: 'run-name' }, h('a', { href: href(`/runs/${info.run_id}`), class: 'run-link' }, info.run_name || info.run_id)),
      h('td', { class: 'hide-narrow' }, badge(info.status)),
      h('td', {}, fmtTime(info.start_time)),
      h('td', { class: 'hide-narrow' }, fmtDuration(info.start_time, info.end_time)),
      multiExp ? h('td', { class: 'hide-narrow exp-name' }, expNames[info.experiment_id] || info.experiment_id) : null,
      cols.map((c) => {
        const [group, ...rest] = c.split('.');
        const v = data[group] ? data[group][rest.join('.')] : undefined;
        return h('td', { class: group === 'metrics' ? 'num' : '' }, group === 'metrics' ? fmtNum(v) : cutText(v));
      }));
    box.addEventListener('change', () => {
      if (box.checked) selected.add(info.run_id); else selected.delete(info.run_id);
      tr.classList.toggle('selected', box.checked);
      updateCompare();
    });
    return tr;
  }

  function updateCompare() {
    const n = selected.size;
    compareBtn.disabled = n < 2 || n > 10;
    compareBtn.textContent = n ? `Compare (${n})` : 'Compare';
    compareBtn.title = n > 10 ? 'Compare takes 2 to 10 runs' : '';
  }

  function drawPager(nextToken) {
    if (!lastRuns.length && !st.page) {
      status.textContent = '';
      pager.replaceChildren();
      return;
    }
    const pageNo = prevTokens.length + 1;
    const first = (pageNo - 1) * PAGE_SIZE + 1;
    status.textContent = `Showing runs ${first}–${first + lastRuns.length - 1}${nextToken ? ' (more on the next page)' : ''}, sorted by ${st.order}.`;
    const prev = h('button', { type: 'button', disabled: !st.page, text: '← Previous' });
    const next = h('button', { type: 'button', disabled: !nextToken, text: 'Next →' });
    prev.addEventListener('click', () => { st.page = prevTokens.pop() || ''; reload(); });
    next.addEventListener('click', () => { prevTokens.push(st.page); st.page = nextToken; reload(); });
    pager.replaceChildren(prev, h('span', { text: `Page ${pageNo}` }), next);
  }

  function drawColumnsPanel() {
    const chosen = new Set(columns());
    const group = (name, set) => h('fieldset', {}, h('legend', { text: name[0].toUpperCase() + name.slice(1) }),
      set.size ? [...set].sort().map((k) => {
        const id = `${name}.${k}`;
        const box = h('input', { type: 'checkbox', checked: chosen.has(id), value: id });
        box.addEventListener('change', () => {
          const next = columns().filter((c) => c !== id);
          if (box.checked) next.push(id);
          st.cols = next;
          setQuery(toQuery(st, prevTokens));
          drawTable(lastRuns, lastMulti);
        });
        return h('label', { class: 'inline' }, box, k);
      }) : h('span', { class: 'muted', text: `No ${name} on this page.` }));
    clear(columnsPanel, group('metrics', keys.metrics), group('params', keys.params), group('tags', keys.tags),
      h('button', { type: 'button', text: 'Reset to default', onclick: () => { st.cols = null; setQuery(toQuery(st, prevTokens)); drawColumnsPanel(); drawTable(lastRuns, lastMulti); } }));
  }

  clear(tableHost, loading('Loading runs…'));
  await reload({ push: false });
}

/**
 * The filter sent for what was typed: MLflow's grammar as it is, and words without a comparison (as in
 * MLflow's UI, "baseline") as a search of run names, ignoring case.
 */
export function searchFilter(text) {
  const t = String(text || '').trim();
  if (!t || /[=<>!]|\b(i?like|in|is)\b/i.test(t)) return t;
  return `attributes.run_name ILIKE '%${t.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}%'`;
}

/** An MLflow snippet that logs a first run (into ``experiment`` when one is shown: {id, name}). */
function snippet(experiment) {
  const target = !experiment ? ''
    : experiment.name ? `mlflow.set_experiment(${JSON.stringify(experiment.name)})\n`
      : `mlflow.set_experiment(experiment_id=${JSON.stringify(experiment.id)})\n`;
  return `import mlflow\nmlflow.set_tracking_uri("${location.origin}")\n${target}with mlflow.start_run(run_name="first-run"):\n    mlflow.log_param("alpha", 0.5)\n    mlflow.log_metric("rmse", 0.78)`;
}

function markFirstRender() {
  if (firstRenderMarked) return;
  firstRenderMarked = true;
  requestAnimationFrame(() => performance.mark('opsloop:runs-rendered'));
}
