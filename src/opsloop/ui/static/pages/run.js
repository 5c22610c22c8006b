// Run detail: overview, code version, params, metrics (latest values and charts), tags, inputs and
// outputs, and an artifact browser with previews of text, images and CSV.
import { ApiError, kv, mlflow } from '../api.js';
import { badge, clear, emptyState, errorBox, fmtBytes, fmtDuration, fmtNum, fmtTime, foldedText, h, kvTable, loading, section, setTitle } from '../dom.js';
import { renderMetricCharts } from '../metric_charts.js';
import { go, href } from '../router.js';

const IMAGE = /\.(png|jpe?g|gif|svg|webp|bmp)$/i;
const TABLE = /\.(csv|tsv)$/i;
const TEXT = /(\.(txt|log|json|ya?ml|md|py|toml|cfg|ini|html?|xml|sql|sh|r|js|ts)$)|(^|\/)(MLmodel|requirements\.txt|conda\.yaml|python_env\.yaml|Dockerfile|LICENSE)$/i;
const PREVIEW_LIMIT = 2 * 1024 * 1024;

export async function render(root, ctx) {
  const runId = ctx.params.id;
  setTitle(`Run ${runId}`);
  let run;
  try {
    run = (await mlflow.getRun(runId)).run;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      clear(root, emptyState('Run not found', `No run with id ${runId} exists on this server. It may have been deleted; go back to the runs table to pick another.`));
      return;
    }
    throw err;
  }
  const { info } = run;
  const tags = kv(run.data.tags);
  const params = kv(run.data.params);
  const metrics = run.data.metrics || [];
  setTitle(info.run_name || runId);

  const chartsHost = h('div', {}, loading('Loading metric histories…'));
  const statusHost = h('span', { id: 'run-status' }, badge(info.status));
  const metricsHost = h('div', {}, metricsTable(metrics));
  const artifactsHost = h('div', {}, loading('Listing artifacts…'));
  const childrenHost = h('div', { id: 'child-runs-host' });
  const expName = h('span', { text: info.experiment_id, 'data-exp-name': '' });
  mlflow.searchExperiments().then((r) => {
    const e = (r.experiments || []).find((x) => x.experiment_id === info.experiment_id);
    if (e) root.querySelectorAll('[data-exp-name]').forEach((el) => { el.textContent = e.name; });
  }).catch(() => {});

  clear(root,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: href('/runs', { exp: info.experiment_id }) }, 'Runs · ', expName), ' / '),
    h('h1', {}, info.run_name || runId, statusHost),
    h('p', { class: 'subtitle', text: `Run ${runId}` }),
    // the run's description (MLflow keeps it in the mlflow.note.content tag and shows it on top)
    tags['mlflow.note.content'] ? h('div', { class: 'run-note', id: 'run-description' }, foldedText(tags['mlflow.note.content'], 2000)) : null,
    h('div', { class: 'grid2' },
      section('Overview', overview(info, tags, expName)),
      section('Parameters', kvTable(Object.entries(params).sort().map(([k, v]) => [k, foldedText(v)]), null, 'No parameters logged.'))),
    childrenHost,
    section('Metrics', metricsHost),
    section('Metric charts', chartsHost),
    section('Artifacts', artifactsHost),
    h('div', { class: 'grid2' },
      section('Tags', tagsBlock(tags)),
      section('Inputs and outputs', inputsBlock(run))));

  renderMetricCharts(chartsHost, [run], metricKeys(metrics), ctx.query);
  if (info.status === 'RUNNING') follow(run, ctx, { root, statusHost, metricsHost, chartsHost });
  artifactBrowser(artifactsHost, runId, ctx);
  childRuns(childrenHost, info, tags, ctx);
}

const CHILD_LIMIT = 1000;
const CHILD_METRICS = 4;

/**
 * The runs nested under this one (a hyperparameter search's trials, or any parent's children), best
 * first when the run says which metric was tuned (opsloop.tuning.metric), with the params that vary.
 * Shown only when there are children.
 */
async function childRuns(host, info, tags, ctx) {
  const tuned = tags['opsloop.tuning.metric'];
  const ascending = tags['opsloop.tuning.direction'] !== 'maximize';
  let found;
  try {
    found = await mlflow.searchRuns({
      experiment_ids: [info.experiment_id], max_results: CHILD_LIMIT,
      filter: `tags.mlflow.parentRunId = '${info.run_id}'`,
      order_by: tuned ? [`metrics.\`${tuned.replace(/`/g, '')}\` ${ascending ? 'ASC' : 'DESC'}`] : ['attributes.start_time ASC'],
    });
  } catch (err) {
    if (ctx.alive()) clear(host, section('Child runs', errorBox(err, 'Listing the child runs')));
    return;
  }
  const runs = found.runs || [];
  if (!ctx.alive() || !runs.length) return;
  const params = runs.map((r) => kv(r.data.params));
  const latest = runs.map((r) => Object.fromEntries((r.data.metrics || []).map((m) => [m.key, m.value])));
  const varying = [...new Set(params.flatMap(Object.keys))].sort()
    .filter((k) => new Set(params.map((p) => p[k])).size > 1);
  const keys = [...new Set(latest.flatMap(Object.keys))].sort();
  const metricCols = (tuned && keys.includes(tuned) ? [tuned, ...keys.filter((k) => k !== tuned)] : keys).slice(0, CHILD_METRICS);
  const states = runs.map((r) => kv(r.data.tags)['opsloop.tuning.state']);
  const showState = states.some(Boolean);
  const head = ['Run', 'Status', ...(showState ? ['Trial'] : []), ...metricCols, ...varying];
  const rows = runs.map((r, i) => h('tr', {},
    h('th', { scope: 'row' }, h('a', { class: 'child-link', href: href(`/runs/${r.info.run_id}`), text: r.info.run_name || r.info.run_id })),
    h('td', {}, badge(r.info.status)),
    ...(showState ? [h('td', { text: states[i] || '' })] : []),
    ...metricCols.map((k) => h('td', { class: 'num', text: k in latest[i] ? fmtNum(latest[i][k]) : '' })),
    ...varying.map((k) => h('td', {}, foldedText(params[i][k] ?? '', 200)))));
  const best = runs.slice(0, 10).map((r) => r.info.run_id);
  const compare = h('button', { type: 'button', id: 'compare-children', text: tuned ? `Compare the best ${best.length}` : `Compare the first ${best.length}` });
  compare.disabled = best.length < 2;
  compare.addEventListener('click', () => go('/compare', { runs: best }));
  const summary = `${runs.length}${runs.length === CHILD_LIMIT ? '+' : ''} child run${runs.length === 1 ? '' : 's'}` +
    (tuned ? `, best ${ascending ? 'lowest' : 'highest'} ${tuned} first` : ', oldest first');
  clear(host, section('Child runs',
    h('p', { class: 'muted', id: 'child-runs-summary', text: summary }), compare,
    h('div', { class: 'table-wrap' }, h('table', { id: 'child-runs' },
      h('thead', {}, h('tr', {}, head.map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, rows)))));
}

const metricKeys = (metrics) => [...new Set(metrics.map((m) => m.key))].sort();
const LIVE_MS = 3000;

/** What changes while a run logs: each metric's latest step and time. */
const liveStamp = (run) => `${(run.data.metrics || []).map((m) => `${m.key}@${m.step}@${m.timestamp}`).sort().join(',')}`;

/**
 * While the run is RUNNING, read it every few seconds and redraw its status, latest metrics and charts
 * when something new was logged (as MLflow's and W&B's run pages follow a training run), and the whole
 * page once when it ends. The charts are drawn aside and swapped in whole, so the page does not jump.
 */
function follow(first, ctx, hosts) {
  let stamp = liveStamp(first);
  let timer = null;
  const note = h('span', { class: 'muted live-note', text: ' live' });
  hosts.statusHost.append(note);
  const tick = async () => {
    let run;
    try {
      run = (await mlflow.getRun(first.info.run_id)).run;
    } catch (err) {
      if (ctx.alive()) timer = setTimeout(tick, LIVE_MS * 2);  // a blip: try again, a little later
      return;
    }
    if (!ctx.alive()) return;
    if (run.info.status !== 'RUNNING') {
      await render(hosts.root, ctx);  // it ended: its end time, duration and final artifacts too
      return;
    }
    const next = liveStamp(run);
    let wait = LIVE_MS;
    if (next !== stamp) {
      const began = performance.now();
      stamp = next;
      clear(hosts.statusHost, badge(run.info.status), note);
      clear(hosts.metricsHost, metricsTable(run.data.metrics || []));
      const fresh = h('div', {});
      await renderMetricCharts(fresh, [run], metricKeys(run.data.metrics || []), new URLSearchParams(location.hash.split('?')[1] || ''));
      if (!ctx.alive()) return;
      clear(hosts.chartsHost, ...fresh.childNodes);
      // long histories take a while to read: never spend more than a fifth of the time redrawing
      wait = Math.max(LIVE_MS, 5 * (performance.now() - began));
    }
    timer = setTimeout(tick, wait);
  };
  timer = setTimeout(tick, LIVE_MS);
  ctx.onCleanup(() => clearTimeout(timer));
}

function overview(info, tags, expName) {
  const code = tags['mlflow.source.git.commit'];
  const source = tags['mlflow.source.name'];
  const parent = tags['mlflow.parentRunId'];
  return kvTable([
    ['Run ID', h('code', { text: info.run_id })],
    ['Experiment', h('a', { href: href('/runs', { exp: info.experiment_id }) }, expName.cloneNode(true))],
    ['Status', badge(info.status)],
    ['Started', fmtTime(info.start_time)],
    ['Ended', fmtTime(info.end_time) || '—'],
    ['Duration', fmtDuration(info.start_time, info.end_time) || '—'],
    ['User', info.user_id || tags['mlflow.user'] || '—'],
    ['Source', source ? `${source}${tags['mlflow.source.type'] ? ` (${tags['mlflow.source.type']})` : ''}` : '—'],
    ['Code version', code ? h('code', { text: code }) : h('span', { class: 'muted', text: 'not recorded (run from a git checkout to record the commit)' })],
    ...(tags['mlflow.source.git.branch'] ? [['Branch', tags['mlflow.source.git.branch']]] : []),
    ...(tags['mlflow.source.git.repoURL'] ? [['Repository', tags['mlflow.source.git.repoURL']]] : []),
    ...(parent ? [['Parent run', h('a', { href: href(`/runs/${parent}`), text: parent })]] : []),
    ['Artifact URI', h('code', { text: info.artifact_uri || '' })],
  ]);
}

function metricsTable(metrics) {
  if (!metrics.length) return h('p', { class: 'muted', text: 'No metrics logged.' });
  return h('div', { class: 'table-wrap' }, h('table', { id: 'metrics-table' },
    h('thead', {}, h('tr', {}, ['Metric', 'Latest value', 'Step', 'Logged at'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, [...metrics].sort((a, b) => a.key.localeCompare(b.key)).map((m) => h('tr', {},
      h('th', { scope: 'row', text: m.key }), h('td', { class: 'num', text: fmtNum(m.value) }),
      h('td', { class: 'num', text: m.step }), h('td', { text: fmtTime(m.timestamp) }))))));
}

function tagsBlock(tags) {
  const user = Object.entries(tags).filter(([k]) => !k.startsWith('mlflow.')).sort();
  const system = Object.entries(tags).filter(([k]) => k.startsWith('mlflow.')).sort();
  return h('div', {},
    kvTable(user, null, 'No tags. Add some with mlflow.set_tag(key, value).'),
    system.length ? h('details', {}, h('summary', { text: `System tags (${system.length})` }),
      kvTable(system.map(([k, v]) => [k, k === 'mlflow.log-model.history' ? h('code', { text: v.slice(0, 400) }) : v]))) : null);
}

function inputsBlock(run) {
  const ds = (run.inputs && run.inputs.dataset_inputs) || [];
  const models = (run.inputs && run.inputs.model_inputs) || [];
  const outputs = (run.outputs && run.outputs.model_outputs) || [];
  if (!ds.length && !models.length && !outputs.length) {
    return h('p', { class: 'muted', text: 'No inputs logged. mlflow.log_input(mlflow.data.from_pandas(df), context="training") records a dataset here.' });
  }
  return h('div', { class: 'stack' },
    ds.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', { text: 'Datasets' }),
      h('thead', {}, h('tr', {}, ['Name', 'Digest', 'Context', 'Source'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, ds.map((d) => {
        const t = kv(d.tags);
        return h('tr', {}, h('td', { text: d.dataset.name || '' }), h('td', {}, h('code', { text: d.dataset.digest || '' })),
          h('td', { text: t['mlflow.data.context'] || '' }), h('td', { class: 'wrap', text: `${d.dataset.source_type || ''} ${d.dataset.source || ''}`.trim() }));
      })))) : null,
    models.length ? kvTable(models.map((m) => ['Model input', h('code', { text: m.model_id })])) : null,
    outputs.length ? kvTable(outputs.map((m) => [`Model output (step ${m.step || 0})`, h('code', { text: m.model_id })])) : null);
}

function artifactBrowser(host, runId) {
  const preview = h('div', { class: 'artifact-preview', 'aria-live': 'polite' }, h('p', { class: 'muted', text: 'Pick a file to preview it.' }));
  const tree = h('div', { class: 'tree', role: 'tree', 'aria-label': 'Artifacts' });
  let current = null;

  async function listInto(ul, path) {
    try {
      const res = await mlflow.listArtifacts(runId, path);
      const files = (res.files || []).sort((a, b) => (b.is_dir - a.is_dir) || a.path.localeCompare(b.path));
      if (!path && !files.length) {
        clear(host, h('p', { class: 'muted' }, 'No artifacts. Log files with ', h('code', { text: 'mlflow.log_artifact(path)' }), ' or a model with ', h('code', { text: 'mlflow.<flavor>.log_model(...)' }), '.'));
        return;
      }
      ul.replaceChildren(...files.map((f) => node(f)));
    } catch (err) {
      ul.replaceChildren(h('li', {}, errorBox(err, 'Listing artifacts')));
    }
  }

  function node(f) {
    const name = f.path.split('/').pop();
    const li = h('li', { role: 'treeitem' });
    if (f.is_dir) {
      const sub = h('ul', { role: 'group', hidden: true });
      const btn = h('button', { type: 'button', 'aria-expanded': 'false', text: `▸ ${name}/` });
      btn.addEventListener('click', async () => {
        const open = btn.getAttribute('aria-expanded') === 'true';
        btn.setAttribute('aria-expanded', String(!open));
        btn.textContent = `${open ? '▸' : '▾'} ${name}/`;
        sub.hidden = open;
        if (!open && !sub.childElementCount) { sub.append(h('li', { class: 'muted', text: 'Loading…' })); await listInto(sub, f.path); }
      });
      li.append(btn, sub);
    } else {
      const btn = h('button', { type: 'button', 'aria-pressed': 'false', text: name, title: f.path });
      btn.addEventListener('click', () => {
        if (current) current.setAttribute('aria-pressed', 'false');
        current = btn;
        btn.setAttribute('aria-pressed', 'true');
        showPreview(preview, runId, f);
      });
      li.append(btn, h('span', { class: 'muted', text: ` ${fmtBytes(f.file_size)}` }));
    }
    return li;
  }

  const rootList = h('ul', { role: 'group' });
  tree.append(rootList);
  clear(host, h('div', { class: 'artifact-layout' }, tree, preview));
  listInto(rootList, '');
}

async function showPreview(target, runId, f) {
  const url = mlflow.artifactUrl(runId, f.path);
  const head = h('p', {}, h('strong', { text: f.path }), ' · ', fmtBytes(f.file_size), ' · ', h('a', { href: url, download: f.path.split('/').pop(), text: 'Download' }));
  if (IMAGE.test(f.path)) {
    clear(target, head, h('img', { class: 'preview', src: url, alt: `Artifact ${f.path}` }));
    return;
  }
  if (!TABLE.test(f.path) && !TEXT.test(f.path)) {
    clear(target, head, h('p', { class: 'muted', text: 'No preview for this file type; download it instead.' }));
    return;
  }
  if (f.file_size > PREVIEW_LIMIT) {
    clear(target, head, h('p', { class: 'muted', text: `This file is larger than ${fmtBytes(PREVIEW_LIMIT)}; download it to read it.` }));
    return;
  }
  clear(target, head, loading());
  try {
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`${resp.status} ${resp.statusText}: ${(await resp.text()).slice(0, 300)}`);
    const text = await resp.text();
    clear(target, head, TABLE.test(f.path) ? csvTable(text, f.path.toLowerCase().endsWith('.tsv') ? '\t' : ',') : h('pre', { class: 'preview', text }));
  } catch (err) {
    clear(target, head, errorBox(err, 'Reading the artifact'));
  }
}

/** Parse CSV (quoted fields, doubled quotes) and show the first 200 rows. */
export function parseCsv(text, sep = ',') {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === sep) { row.push(field); field = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field); rows.push(row); row = []; field = '';
      if (rows.length > 200) break;
    } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

function csvTable(text, sep) {
  const rows = parseCsv(text, sep);
  if (!rows.length) return h('p', { class: 'muted', text: 'Empty file.' });
  const [header, ...body] = rows;
  return h('div', {},
    h('div', { class: 'table-wrap' }, h('table', { class: 'csv-preview' },
      h('thead', {}, h('tr', {}, header.map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, body.slice(0, 200).map((r) => h('tr', {}, r.map((c) => h('td', { text: c }))))))),
    body.length >= 200 ? h('p', { class: 'muted', text: 'Showing the first 200 rows.' }) : null);
}
