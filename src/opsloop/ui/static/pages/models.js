// Registered models: a searchable list with latest versions and aliases.
import { ApiError, mlflow } from '../api.js';
import { badge, clear, emptyState, errorBox, fmtTime, h, setTitle } from '../dom.js';
import { href, setQuery } from '../router.js';

const PAGE_SIZE = 200;

export function registryMissing() {
  return emptyState('The model registry is not available on this server',
    'This opsloop server does not answer MLflow\'s registry API (/api/2.0/mlflow/registered-models) yet. Once the registry is installed, registered models appear here.');
}

export async function render(root, ctx) {
  setTitle('Models');
  let q = ctx.query.get('q') || '';
  const input = h('input', { type: 'search', id: 'model-search', class: 'grow', value: q, placeholder: 'Search model names', 'aria-label': 'Search models' });
  const host = h('div', {});
  clear(root, h('h1', { text: 'Registered models' }),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); q = input.value.trim(); setQuery({ q }); load(); } },
      h('div', { class: 'grow' }, input), h('button', { type: 'submit', text: 'Search' })),
    host);

  let shown = [];

  // ILIKE, as MLflow's own UI searches: "churn" finds "Churn-Model".
  const filter = () => (q ? `name ILIKE '%${q.replace(/'/g, "\\'")}%'` : undefined);

  async function load(pageToken) {
    try {
      const res = await mlflow.searchRegisteredModels({ filter: filter(), max_results: PAGE_SIZE, order_by: 'name ASC', page_token: pageToken });
      shown = pageToken ? [...shown, ...(res.registered_models || [])] : res.registered_models || [];
      draw(shown, res.next_page_token);
    } catch (err) {
      if (err instanceof ApiError && err.missingEndpoint) clear(host, registryMissing());
      else clear(host, errorBox(err, 'Searching models'));
    }
  }

  function draw(models, nextToken) {
    if (!models.length) {
      clear(host, q ? emptyState('No model matches', 'Try another part of the name.')
        : emptyState('No registered models yet', 'Register a model logged in a run; it appears here with its versions and aliases.',
          `import mlflow\nmlflow.set_tracking_uri("${location.origin}")\nmlflow.register_model("runs:/<run_id>/model", "my-model")`));
      return;
    }
    clear(host, h('div', { class: 'table-wrap' }, h('table', { id: 'models-table', 'aria-label': 'Registered models' },
      h('thead', {}, h('tr', {}, ['Model', 'Latest version', 'Aliases', 'Updated', 'Description'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, models.map((m) => {
        const latest = (m.latest_versions || []).reduce((a, v) => (Number(v.version) > Number(a) ? v.version : a), '');
        return h('tr', {},
          h('td', {}, h('a', { href: href(`/models/${encodeURIComponent(m.name)}`), class: 'model-link', text: m.name })),
          h('td', { text: latest ? `v${latest}` : '—' }),
          h('td', {}, (m.aliases || []).map((a) => [badge(`@${a.alias} → v${a.version}`, 'alias'), ' '])),
          h('td', { text: fmtTime(m.last_updated_timestamp) }),
          h('td', { class: 'wrap', text: m.description || '' }));
      })))),
    h('p', { class: 'muted', role: 'status', text: `${models.length} model(s)${nextToken ? ', more to show' : ''}, by name.` }),
    nextToken ? h('button', { type: 'button', id: 'more-models', text: `Show ${PAGE_SIZE} more`, onclick: () => load(nextToken) }) : null);
  }

  await load();
}
