// Entry point: the route table and the page mount.
import { clear, emptyState, errorBox, h, loading, setTitle, timeZoneText } from './dom.js';
import { start } from './router.js';
import * as runsPage from './pages/runs.js';

// Links in MLflow's UI format (the mlflow client prints them) lead to the same views here.
const redirect = (to) => async () => ({ render: (_root, ctx) => { location.replace(to(ctx.params)); } });
const enc = encodeURIComponent;

const routes = [
  ['/runs', async () => runsPage],
  ['/experiments/:exp', redirect((p) => `#/runs?exp=${enc(p.exp)}`)],
  ['/experiments/:exp/runs/:id', redirect((p) => `#/runs/${enc(p.id)}`)],
  ['/models/:name/versions/:v', redirect((p) => `#/models/${enc(p.name)}?v=${enc(p.v)}`)],
  ['/runs/:id', () => import('./pages/run.js')],
  ['/compare', () => import('./pages/compare.js')],
  ['/models', () => import('./pages/models.js')],
  ['/models/:name', () => import('./pages/model.js')],
  ['/deployments', () => import('./pages/deployments.js')],
  ['/incidents', () => import('./pages/incidents.js')],
  ['/incidents/:id', () => import('./pages/incident.js')],
  ['/logs', () => import('./pages/logs.js')],
  ['/metrics', () => import('./pages/metrics.js')],
  ['/silences', () => import('./pages/silences.js')],
  ['/services', () => import('./pages/services.js')],
];

const main = document.getElementById('main');
let firstMount = true;

function markNav(parts) {
  const area = parts[0] === 'compare' ? 'runs' : parts[0] || 'runs';
  document.querySelectorAll('[data-nav]').forEach((a) => {
    if (a.dataset.nav === area) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

async function mount(loader, ctx) {
  markNav(ctx.parts);
  if (!loader) {
    setTitle('Not found');
    clear(main, emptyState('No such page', `Nothing lives at "${ctx.path}". Use the menu above to pick a page.`));
    return;
  }
  clear(main, loading());
  try {
    const page = await loader();
    if (!ctx.alive()) return;
    const root = h('div', { class: 'page' });
    clear(main, root);
    await page.render(root, ctx);
  } catch (err) {
    if (!ctx.alive() || err.name === 'AbortError') return;
    console.error(err);
    clear(main, errorBox(err, 'Showing this page'));
  }
  if (!firstMount && ctx.alive()) main.focus({ preventScroll: true });
  firstMount = false;
}

document.querySelector('[data-skip]').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

document.getElementById('time-zone').textContent = `Times: ${timeZoneText()}`;
start(routes, mount);
