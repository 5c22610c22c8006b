// One registered model: versions, aliases, lineage to runs and data, validation reports, and
// promotion (set an alias to a version with a reason) with its history.
import { actor, ApiError, kv, mlflow, ops } from '../api.js';
import { badge, clear, emptyState, errorBox, fmtEpoch, fmtNum, fmtTime, h, kvTable, loading, section, setTitle } from '../dom.js';
import { genericView } from '../generic.js';
import { href, setQuery } from '../router.js';
import { registryMissing } from './models.js';

let flash = '';

export async function render(root, ctx) {
  const name = ctx.params.name;
  setTitle(name);
  let model;
  let versions;
  try {
    [model, versions] = await Promise.all([
      mlflow.getRegisteredModel(name).then((r) => r.registered_model),
      mlflow.searchModelVersions({ filter: `name='${name.replace(/'/g, "\\'")}'`, max_results: 1000 }).then((r) => r.model_versions || []),
    ]);
  } catch (err) {
    if (err instanceof ApiError && err.missingEndpoint) { clear(root, registryMissing()); return; }
    if (err instanceof ApiError && err.status === 404) { clear(root, emptyState('Model not found', `No registered model named "${name}".`)); return; }
    throw err;
  }
  versions.sort((a, b) => Number(b.version) - Number(a.version));
  const aliases = model.aliases || [];
  const aliasOf = (v) => aliases.filter((a) => String(a.version) === String(v)).map((a) => a.alias);
  const liveQuery = new URLSearchParams(location.hash.split('?')[1] || '');  // pick() may have changed it since ctx
  let selected = liveQuery.get('v') || (versions[0] && versions[0].version) || '';
  const detail = h('div', {});
  const promoHost = h('div', {}, loading());
  const msg = h('div', { 'aria-live': 'polite' }, flash ? h('p', { class: 'notice', role: 'status', text: flash }) : null);
  flash = '';

  const rows = versions.map((v) => {
    const tr = h('tr', { 'data-version': v.version },
      h('td', {}, h('button', { type: 'button', class: 'link-button', 'aria-pressed': String(String(v.version) === String(selected)), text: `Version ${v.version}`, onclick: () => pick(v.version) })),
      h('td', {}, aliasOf(v.version).map((a) => [badge(`@${a}`, 'alias'), ' '])),
      h('td', {}, badge(v.status || '')),
      h('td', { text: v.current_stage && v.current_stage !== 'None' ? v.current_stage : '' }),
      h('td', { text: fmtTime(v.creation_timestamp) }),
      h('td', {}, v.run_id ? h('a', { href: href(`/runs/${v.run_id}`), text: v.run_id.slice(0, 12) }) : '—'),
      h('td', { class: 'wrap hide-narrow', text: v.source || '' }));
    return tr;
  });

  clear(root,
    h('nav', { class: 'breadcrumb' }, h('a', { href: href('/models'), text: 'Models' }), ' / '),
    h('h1', {}, name, aliases.map((a) => badge(`@${a.alias} → v${a.version}`, 'alias'))),
    model.description ? h('p', { class: 'subtitle', text: model.description }) : null,
    tagList(kv(model.tags), 'model-tags'),
    msg,
    section('Versions', versions.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'versions-table' },
      h('thead', {}, h('tr', {}, ['Version', 'Aliases', 'Status', 'Stage', 'Created', 'Run', 'Source'].map((t, i) => h('th', { scope: 'col', class: i === 6 ? 'hide-narrow' : '', text: t })))),
      h('tbody', {}, rows))) : h('p', { class: 'muted', text: 'No versions yet: mlflow.register_model(...) adds one.' })),
    h('div', { class: 'grid2' }, section('Promote', promoteForm(), aliases.length ? removeForm() : null), section('Promotion history', promoHost)),
    detail);

  function promoteForm() {
    const alias = h('input', { id: 'promote-alias', value: 'champion', 'aria-label': 'Alias', list: 'alias-list', required: true });
    const version = h('select', { id: 'promote-version', 'aria-label': 'Version' }, versions.map((v) => h('option', { value: v.version, text: `v${v.version}`, selected: String(v.version) === String(selected) })));
    const reason = h('textarea', { id: 'promote-reason', 'aria-label': 'Reason', placeholder: 'Why this version should serve (required)', required: true });
    return h('form', { class: 'stack', onsubmit: async (e) => {
      e.preventDefault();
      if (!reason.value.trim()) { clear(msg, errorBox(new Error('Give a reason for the promotion.'), 'Promote')); return; }
      try {
        await ops.promote(name, { alias: alias.value.trim(), version: version.value, actor: actor(), reason: reason.value.trim() });
        // Redraw the whole page so the aliases everywhere show the new state.
        flash = `@${alias.value.trim()} now points at v${version.value}.`;
        await render(root, ctx);
      } catch (err) {
        clear(msg, err instanceof ApiError && err.missingEndpoint
          ? errorBox(new Error('This server has no promotion API (/api/opsloop/v1/models/{name}/promote) yet.'), 'Promote')
          : errorBox(err, 'Promote'));
      }
    } },
    h('datalist', { id: 'alias-list' }, ['champion', 'challenger', 'staging', ...aliases.map((a) => a.alias)].map((a) => h('option', { value: a }))),
    h('div', { class: 'actions' }, h('label', { class: 'inline' }, 'Alias ', alias), h('label', { class: 'inline' }, 'Version ', version)),
    reason, h('div', {}, h('button', { type: 'submit', class: 'primary', text: 'Promote' })));
  }

  /** Take an alias off (what serves @alias stops resolving), audited with its reason like a promotion. */
  function removeForm() {
    const which = h('select', { id: 'remove-alias', 'aria-label': 'Alias to remove' }, aliases.map((a) => h('option', { value: a.alias, text: `@${a.alias} (v${a.version})` })));
    const reason = h('textarea', { id: 'remove-reason', 'aria-label': 'Reason for removing', placeholder: 'Why nothing should serve this alias (required)', required: true });
    const note = h('div', {});
    return h('form', { class: 'stack', id: 'remove-alias-form', onsubmit: async (e) => {
      e.preventDefault();
      if (!reason.value.trim()) { clear(note, errorBox(new Error('Give a reason for removing the alias.'), 'Remove alias')); return; }
      try {
        await ops.removeAlias(name, which.value, { actor: actor(), reason: reason.value.trim() });
        flash = `@${which.value} removed.`;
        await render(root, ctx);
      } catch (err) {
        clear(note, errorBox(err, 'Remove alias'));
      }
    } },
    h('h3', { text: 'Remove an alias' }),
    h('div', { class: 'actions' }, h('label', { class: 'inline' }, 'Alias ', which)), reason, note,
    h('div', {}, h('button', { type: 'submit', id: 'remove-alias-btn', text: 'Remove alias' })));
  }

  async function loadPromotions() {
    try {
      const res = await ops.promotions(name);
      const list = (res.promotions || []).sort((a, b) => (b.time || 0) - (a.time || 0));
      clear(promoHost, list.length ? h('ol', { class: 'timeline' }, list.map((p) => h('li', {},
        h('div', { class: 'when', text: `${fmtEpoch(p.time || p.created_at) || ''} · ${p.actor || ''}` }),
        h('div', { text: p.to_version ? `@${p.alias} → v${p.to_version}${p.from_version ? ` (was v${p.from_version})` : ''}` : `@${p.alias} removed (was v${p.from_version})` }),
        p.reason ? h('div', { class: 'muted', text: p.reason }) : null))) : h('p', { class: 'muted', text: 'No promotion yet.' }));
    } catch (err) {
      clear(promoHost, err instanceof ApiError && err.missingEndpoint ? h('p', { class: 'muted', text: 'Promotion history needs opsloop\'s promotion API, which this server does not serve yet.' }) : errorBox(err, 'Loading promotions'));
    }
  }

  async function pick(v) {
    selected = String(v);
    setQuery({ v: selected }, { push: false });
    root.querySelectorAll('#versions-table button[aria-pressed]').forEach((b) => b.setAttribute('aria-pressed', String(b.closest('tr').dataset.version === selected)));
    const mv = versions.find((x) => String(x.version) === selected);
    if (!mv) {
      clear(detail, emptyState(`No version ${selected}`, `${name} has no version ${selected} (it may have been deleted). Pick one of its versions above.`));
      return;
    }
    const lineage = h('div', {}, loading());
    const validations = h('div', {}, loading());
    clear(detail, h('div', { class: 'grid2' },
      section(`Lineage of v${selected}`, mv.description ? h('p', { class: 'version-description', text: mv.description }) : null,
        h('p', {}, 'Source: ', h('code', { text: mv.source || '' })),
        Object.keys(kv(mv.tags)).length ? genericView(kv(mv.tags)) : null, lineage),
      section(`Validation reports of v${selected}`, validations)));
    optional(lineage, () => ops.lineage(name, selected), 'Lineage to data needs opsloop\'s lineage API, which this server does not serve yet.', 'No lineage recorded.', lineageView);
    optional(validations, () => ops.validations(name, selected).then((r) => r.validations || []), 'Validation reports need opsloop\'s validation API, which this server does not serve yet.', 'No validation report for this version. Record one (POST …/versions/{v}/validations) before promoting it.', validationsView);
  }

  loadPromotions();
  if (selected) pick(selected);
}

/** A model's tags as key=value chips (MLflow's UI shows them under the name). */
function tagList(tags, id) {
  const entries = Object.entries(tags).filter(([k]) => !k.startsWith('mlflow.')).sort();
  if (!entries.length) return null;
  return h('p', { class: 'tag-list', id }, h('span', { class: 'muted', text: 'Tags: ' }),
    entries.map(([k, v]) => h('code', { class: 'tag', title: `${k}=${v}`, text: `${k}=${v.length > 80 ? `${v.slice(0, 79)}…` : v}` })));
}

function lineageView(lin) {
  const run = lin.run;
  const datasets = lin.datasets || [];
  const metrics = lin.metrics || [];
  return h('div', { class: 'stack lineage' },
    h('p', {}, 'Trained in run ', run ? h('a', { href: href(`/runs/${run.info.run_id}`), text: run.info.run_name || run.info.run_id }) : h('span', { class: 'muted', text: 'unknown (no run recorded)' }),
      lin.logged_model ? [' · logged model ', h('code', { text: lin.logged_model.info.model_id })] : null),
    datasets.length ? h('div', { class: 'table-wrap' }, h('table', {}, h('caption', { text: 'Data' }),
      h('thead', {}, h('tr', {}, ['Dataset', 'Digest', 'Context', 'Source'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, datasets.map((d) => h('tr', {}, h('td', { text: d.name || '' }), h('td', {}, h('code', { text: d.digest || '' })),
        h('td', { text: d.context || '' }), h('td', { class: 'wrap', text: `${d.source_type || ''} ${d.source || ''}`.trim() })))))) : h('p', { class: 'muted', text: 'No dataset logged in the run (mlflow.log_input records one).' }),
    metrics.length ? kvTable(metrics.map((m) => [m.key, fmtNum(m.value)]), 'Run metrics') : null);
}

function validationsView(list) {
  return h('div', { class: 'stack' }, list.map((v) => h('div', { class: 'validation' },
    h('p', {}, badge(v.passed ? 'passed' : 'failed'), ` ${fmtEpoch(v.time)}`, v.champion_version ? ` · against champion v${v.champion_version}` : ''),
    v.report && Object.keys(v.report).length ? genericView(v.report) : null)));
}

async function optional(host, fetcher, missingText, emptyText, view = genericView) {
  try {
    const doc = await fetcher();
    const empty = !doc || (Array.isArray(doc) && !doc.length) || (typeof doc === 'object' && !Object.keys(doc).length);
    clear(host, empty ? h('p', { class: 'muted', text: emptyText }) : view(doc));
  } catch (err) {
    clear(host, err instanceof ApiError && err.missingEndpoint ? h('p', { class: 'muted', text: missingText }) : errorBox(err, 'Loading'));
  }
}
