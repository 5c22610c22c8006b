// Silences and maintenance windows: the ones not yet ended (or all), a form to add one with
// Alertmanager matchers (pre-filled from an incident's "Silence…" link), and Expire buttons.
//   GET    /api/opsloop/v1/silences?all=   POST /api/opsloop/v1/silences   DELETE /api/opsloop/v1/silences/{id}
import { actor, ops } from '../api.js';
import { badge, clear, emptyState, errorBox, fmtEpoch, h, loading, setTitle } from '../dom.js';
import { setQuery } from '../router.js';

const DURATIONS = [['1800', '30 minutes'], ['3600', '1 hour'], ['7200', '2 hours'], ['14400', '4 hours'], ['86400', '1 day'], ['604800', '1 week']];
const STATE_BADGE = { active: 'running', pending: 'info', expired: 'resolved' };

/** A link to this page with its form pre-filled to silence what an incident's labels name. */
export function silenceLink(labels) {
  const quote = (v) => `"${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const pairs = ['alertname', 'service'].filter((k) => labels && labels[k]).map((k) => ['matcher', `${k}=${quote(labels[k])}`]);
  return `#/silences${pairs.length ? `?${new URLSearchParams(pairs)}` : ''}`;
}

export async function render(root, ctx) {
  setTitle('Silences');
  const showAll = ctx.query.get('all') === '1';
  const matchers = h('textarea', {
    id: 'silence-matchers', rows: 3, 'aria-label': 'Matchers, one per line',
    placeholder: 'service="checkout"\nalertname=~"High.*"',
  });
  matchers.value = ctx.query.getAll('matcher').join('\n');
  const kind = h('select', { id: 'silence-kind', 'aria-label': 'Kind' },
    h('option', { value: 'silence', text: 'Silence' }), h('option', { value: 'maintenance', text: 'Maintenance window' }));
  const duration = h('select', { id: 'silence-duration', 'aria-label': 'Duration' },
    DURATIONS.map(([v, t]) => h('option', { value: v, text: t, selected: v === '7200' })));
  // Empty: from now; a time (this browser's local time) schedules a window ahead, as Alertmanager's start.
  const starts = h('input', { type: 'datetime-local', id: 'silence-starts', 'aria-label': 'Starts (empty: now)', title: 'Starts (empty: now)' });
  const comment = h('input', { id: 'silence-comment', class: 'grow', placeholder: 'Why (shown to everyone)', 'aria-label': 'Comment' });
  const all = h('input', { type: 'checkbox', id: 'silence-all', checked: showAll });
  const msg = h('div', { 'aria-live': 'polite' });
  const host = h('div', { id: 'silences-host' }, loading());

  async function create(e) {
    e.preventDefault();
    const lines = matchers.value.split('\n').map((x) => x.trim()).filter(Boolean);
    if (!lines.length) {
      clear(msg, h('p', { class: 'notice', role: 'alert', text: 'Give at least one matcher, e.g. service="checkout".' }));
      return;
    }
    const startMs = starts.value ? new Date(starts.value).getTime() : null;
    if (startMs !== null && startMs + Number(duration.value) * 1000 <= Date.now()) {
      // Alertmanager refuses a silence that ends in the past; made anyway, it would mute nothing
      clear(msg, h('p', { class: 'notice', role: 'alert', text: `A silence from ${fmtEpoch(startMs / 1000)} for that long has already ended; pick a later start or a longer duration.` }));
      return;
    }
    try {
      const s = await ops.createSilence({ matchers: lines, kind: kind.value, duration_s: Number(duration.value),
                                          starts_at: startMs === null ? undefined : startMs / 1000,
                                          comment: comment.value.trim(), created_by: actor() });
      const from = s.state === 'pending' ? ` from ${fmtEpoch(s.starts_at)}` : '';
      clear(msg, h('p', { class: 'notice', role: 'status', text: `Silence ${s.id} is ${s.state}${from} until ${fmtEpoch(s.ends_at)}.` }));
      matchers.value = '';
      comment.value = '';
      starts.value = '';
      load();
    } catch (err) {
      clear(msg, errorBox(err, 'Creating the silence'));
    }
  }

  async function expire(id) {
    try {
      await ops.expireSilence(id);
      clear(msg, h('p', { class: 'notice', role: 'status', text: `Silence ${id} expired.` }));
      load();
    } catch (err) {
      clear(msg, errorBox(err, 'Expiring the silence'));
    }
  }

  async function load() {
    try {
      const res = await ops.silences({ all: all.checked ? 'true' : undefined });
      if (ctx.alive()) clear(host, table(res.silences || [], expire));
    } catch (err) {
      if (ctx.alive()) clear(host, errorBox(err, 'Loading silences'));
    }
  }

  all.addEventListener('change', () => {
    setQuery({ all: all.checked ? '1' : '' }, { push: false });
    load();
  });
  clear(root,
    h('h1', {}, 'Silences'),
    h('p', { class: 'muted', text: 'A silence mutes the signals its matchers select (they are stored, but open or update no incident); a maintenance window does the same and says why.' }),
    h('form', { class: 'stack', id: 'silence-form', onsubmit: create },
      matchers,
      h('div', { class: 'toolbar' }, kind, h('label', { class: 'inline' }, 'Starts ', starts), h('label', { class: 'inline' }, 'for ', duration), comment, h('button', { type: 'submit', class: 'primary', text: 'Create' }))),
    msg,
    h('p', {}, h('label', { class: 'inline' }, all, ' Show ended ones too')),
    host);
  load();
}

function table(silences, expire) {
  if (!silences.length) return emptyState('No silence', 'Nothing is muted now. Create a silence above, or from an incident.');
  return h('div', { class: 'table-wrap' }, h('table', { id: 'silences-table' },
    h('thead', {}, h('tr', {}, ['', 'Matchers', 'Kind', 'From', 'Until', 'By', 'Comment', ''].map((t) => h('th', { text: t })))),
    h('tbody', {}, silences.map((s) => h('tr', { 'data-id': String(s.id) },
      h('td', {}, badge(s.state, STATE_BADGE[s.state])),
      h('td', { class: 'wrap' }, h('code', { text: (s.matchers || []).join(', ') })),
      h('td', { text: s.kind }),
      h('td', { text: fmtEpoch(s.starts_at) }),
      h('td', { text: fmtEpoch(s.ends_at) }),
      h('td', { text: s.created_by || '' }),
      h('td', { class: 'wrap', text: s.comment || '' }),
      h('td', {}, s.state === 'expired' ? null : h('button', { type: 'button', 'data-action': 'expire', onclick: () => expire(s.id) }, 'Expire')))))));
}
