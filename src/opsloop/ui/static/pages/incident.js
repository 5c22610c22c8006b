// Incident detail: state and actions (ack, resolve, reopen, comment, split, merge), the timeline, the
// grouped signals with why they were grouped, charts of anomalous metrics with the expected band,
// log templates involved, similar past incidents, and runbooks (their runs, and a button per manual one).
import { actor, ApiError, ops, sampleLine } from '../api.js';
import { lineChart } from '../charts.js';
import { badge, clear, emptyState, errorBox, fmtEpoch, fmtNum, foldedText, h, kvTable, section, setTitle } from '../dom.js';
import { href } from '../router.js';
import { silenceLink } from './silences.js';

const POLL_MS = 3000;

export async function render(root, ctx) {
  const id = ctx.params.id;
  setTitle(`Incident ${id}`);
  let timer = null;
  let lastStamp = null;
  let catalogue;
  const shownAll = {};  // the long lists opened with "Show all", kept open across redraws  // the configured runbooks: fetched once per visit, only the runs are polled
  const msg = h('div', { 'aria-live': 'polite' });
  const stale = h('div', { 'aria-live': 'polite' });  // a failed refresh, above the last incident drawn
  ctx.onCleanup(() => clearTimeout(timer));

  async function load() {
    clearTimeout(timer);
    let inc;
    try {
      inc = await ops.incident(id);
    } catch (err) {
      if (!ctx.alive()) return;
      if (err instanceof ApiError && err.missingEndpoint) {
        clear(root, emptyState('Incidents are not available on this server', 'This server does not serve /api/opsloop/v1/incidents yet.'));
      } else if (err instanceof ApiError && (err.status === 404 || err.status === 422)) {  // 422: not an incident id
        clear(root, emptyState('Incident not found', `No incident ${id}. It may have been merged into another one; go back to the incidents list.`));
      } else if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
        clear(root, errorBox(err, 'Loading the incident'));  // the server refuses it: asking again will not help
      } else {
        // a blip (the server restarting, the network): say so above the last view and keep polling
        clear(stale, errorBox(err, 'Refreshing the incident'));
        if (!root.contains(stale)) clear(root, stale);
        timer = setTimeout(load, POLL_MS);
      }
      return;
    }
    stale.replaceChildren();
    if (!root.contains(msg)) lastStamp = null;  // only the error was drawn: draw the incident
    if (catalogue === undefined) catalogue = ((await orNull(ops.runbooks())) || {}).runbooks || null;
    const runs = catalogue && await orNull(ops.runbookRuns({ incident_id: id, limit: 50 }));
    inc.runbooks = runs ? { runbooks: catalogue, runs: runs.runs || [] } : null;
    if (!ctx.alive()) return;
    const runStates = inc.runbooks ? inc.runbooks.runs.map((r) => `${r.id}:${r.state}`).join(',') : '';
    const stamp = `${inc.updated_at}|${inc.state}|${(inc.timeline || []).length}|${(inc.signals || []).length}|${runStates}`;
    // Redraw only on change, and never under a user who is typing a comment.
    const typing = root.contains(document.activeElement) && document.activeElement.tagName === 'TEXTAREA' && document.activeElement.value;
    if (stamp !== lastStamp && !typing) {
      lastStamp = stamp;
      draw(inc);
    }
    timer = setTimeout(load, POLL_MS);
  }

  async function act(action, body, done) {
    try {
      if (action === 'runbook') await ops.runRunbook(id, body.name, actor());
      else if (action === 'split') await ops.splitIncident(id, body.signal_ids);
      else if (action === 'assign') await ops.assignIncident(id, body.assignee, actor());
      else if (action === 'merge') await ops.mergeIncidents(id, body.source_ids);
      else await ops.incidentAction(id, action, { actor: actor(), ...body });
      clear(msg, h('p', { class: 'notice', role: 'status', text: done }));
      lastStamp = null;
      await load();
    } catch (err) {
      clear(msg, errorBox(err, `${action[0].toUpperCase()}${action.slice(1)}`));
    }
  }

  function draw(inc) {
    setTitle(inc.title || `Incident ${id}`);
    const signals = inc.signals || [];
    const metrics = metricGroups(signals);
    const vectors = signals.filter((x) => isVector(x) && x.status !== 'resolved');
    const logSignals = signals.filter((s) => /log/.test(`${s.kind} ${s.source}`) || (s.evidence && s.evidence.template));
    clear(root,
      h('nav', { class: 'breadcrumb' }, h('a', { href: href('/incidents'), text: 'Incidents' }), ' / '),
      h('h1', {}, inc.title || id, badge(inc.state), badge(inc.severity)),
      h('p', { class: 'subtitle', text: `Incident ${inc.id} · ${(inc.services && inc.services.length ? inc.services : [inc.service]).filter(Boolean).join(', ') || 'no service'}` }),
      modelLinks(signals),
      stale,
      msg,
      section('Actions', actions(inc, act, msg)),
      h('div', { class: 'grid2' },
        section('Details', details(inc)),
        section('Probable root causes', rootCauses(inc.root_causes || [], act))),
      section('Why these signals are grouped', reasons(inc, shownAll)),
      section('Anomalous metrics', metrics.length || vectors.length ? h('div', { class: 'grid2' }, metrics.map(([title, sigs]) => metricCard(title, sigs, inc)), vectors.map(vectorCard)) : h('p', { class: 'muted', text: 'No metric anomaly in this incident (alerts and log signals carry no series).' })),
      inc.runbooks ? section('Runbooks', runbooks(inc.runbooks, act)) : null,
      section(`Signals (${signals.length})`, signalsTable(signals, act, shownAll)),
      h('div', { class: 'grid2' },
        section('Timeline', timeline(inc.timeline || [], shownAll)),
        section('Log templates involved', logTemplates(logSignals))),
      section('Similar past incidents', similar(inc.similar || [])));
  }

  clear(root, h('p', { class: 'loading', text: 'Loading incident…' }));
  await load();
}

/** The models this incident is about (their drift or performance signals' ``model`` label). */
export function modelsOf(signals) {
  return [...new Set(signals.filter((s) => /^model_/.test(s.kind || '') && s.labels && s.labels.model)
    .map((s) => s.labels.model))].sort();
}

function modelLinks(signals) {
  const models = modelsOf(signals);
  if (!models.length) return null;
  return h('p', { class: 'model-links' }, 'About model ', models.flatMap((m, i) => [
    i ? ', ' : '',
    h('strong', { text: m }), ' (',
    h('a', { href: href('/deployments', { model: m }), text: 'its monitoring' }), ' · ',
    h('a', { href: href(`/models/${encodeURIComponent(m)}`), text: 'its versions' }), ')']));
}

function actions(inc, act, msg) {
  const who = h('input', { value: actor(), 'aria-label': 'Acting as', size: 12 });
  who.addEventListener('change', () => localStorage.setItem('opsloop.actor', who.value.trim() || 'ui-user'));
  const note = h('textarea', { id: 'comment-text', 'aria-label': 'Comment or reason', placeholder: 'Comment, or the reason for this action' });
  const btn = (label, action, enabled, cls, done) => h('button', {
    type: 'button', class: cls, disabled: !enabled, 'data-action': action,
    onclick: () => act(action, { text: note.value.trim() }, done),
  }, label);
  const mergeIds = h('input', { placeholder: 'incident ids, comma-separated', 'aria-label': 'Incidents to merge into this one' });
  return h('div', { class: 'stack' },
    h('div', { class: 'actions' },
      btn('Acknowledge', 'ack', inc.state === 'triggered', 'primary', 'Acknowledged.'),
      btn('Resolve', 'resolve', inc.state !== 'resolved', '', 'Resolved.'),
      btn('Reopen', 'reopen', inc.state === 'resolved', '', 'Reopened.'),
      h('button', { type: 'button', 'data-action': 'assign', disabled: inc.assignee === actor(), onclick: () => act('assign', { assignee: actor() }, `Assigned to ${actor()}.`) }, 'Assign to me'),
      h('a', { class: 'button', id: 'silence-link', href: silenceLink(inc.labels), title: 'Mute these alerts for a while (a new silence, pre-filled)' }, 'Silence…'),
      h('label', { class: 'inline' }, 'Acting as ', who)),
    note,
    h('div', { class: 'actions' },
      h('button', { type: 'button', 'data-action': 'comment', onclick: () => {
        if (note.value.trim()) act('comment', { text: note.value.trim() }, 'Comment added.');
        else { clear(msg, h('p', { class: 'notice', role: 'alert', text: 'Type the comment in the box above first.' })); note.focus(); }
      } }, 'Add comment'),
      h('span', { class: 'muted', text: 'Merge into this incident:' }), mergeIds,
      h('button', { type: 'button', onclick: () => {
        const ids = mergeIds.value.split(',').map((s) => s.trim()).filter(Boolean);
        if (ids.length) act('merge', { source_ids: ids }, `Merged ${ids.length} incident(s) into this one.`);
        else { clear(msg, h('p', { class: 'notice', role: 'alert', text: 'Give the ids of the incidents to merge into this one, e.g. 12, 15.' })); mergeIds.focus(); }
      } }, 'Merge')));
}

// Run states drawn with the colours of the states they resemble.
const RUN_BADGE = { queued: 'info', running: 'running', succeeded: 'passed', failed: 'failed', gate_failed: 'failed' };

/** The answer of an API call, or null when the server does not serve it (or refused it). */
async function orNull(call) {
  try {
    return await call;
  } catch (err) {
    if (err instanceof ApiError) return null;
    throw err;
  }
}

function runbooks(data, act) {
  const manual = data.runbooks.filter((r) => r.manual);
  const buttons = manual.length
    ? h('div', { class: 'actions', id: 'runbook-buttons' }, manual.map((r) => h('button', {
      type: 'button', 'data-runbook': r.name, title: r.description || `${r.action.type}: ${r.action.argv.join(' ')}`,
      onclick: () => act('runbook', { name: r.name }, `Runbook ${r.name} queued.`),
    }, `Run ${r.name}`)))
    : h('p', { class: 'muted', text: 'No manual runbook is configured.' });
  if (!data.runs.length) return h('div', { class: 'stack' }, buttons, h('p', { class: 'muted', text: 'No runbook has run for this incident.' }));
  const rows = data.runs.map((r) => h('tr', { 'data-run': r.id, 'data-state': r.state },
    h('td', { text: `#${r.id}` }), h('td', { text: r.runbook }), h('td', { text: `${r.trigger} · ${r.actor}` }),
    h('td', {}, badge(r.state, RUN_BADGE[r.state])), h('td', { text: fmtEpoch(r.started_at) || '—' }), h('td', { text: fmtEpoch(r.finished_at) || '—' }),
    h('td', { text: r.exit_code === null || r.exit_code === undefined ? '—' : String(r.exit_code) }),
    h('td', { class: 'wrap' }, runResult(r))));
  return h('div', { class: 'stack' }, buttons,
    h('div', { class: 'table-wrap' }, h('table', { id: 'runbook-runs' },
      h('thead', {}, h('tr', {}, ['Run', 'Runbook', 'Trigger · by', 'State', 'Started', 'Finished', 'Exit', 'Result'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, rows))));
}

/** What a run did: error, gate verdict of a retrain, and the tail of its output. */
function runResult(r) {
  const v = r.validation || {};
  const gate = r.candidate_version ? h('div', {
    class: 'gate',
    text: `version ${r.candidate_version}` + (v.rules ? ` · gate ${v.passed ? 'passed' : 'failed'}: ${v.rules.map((x) => `${x.rule} → ${x.status}`).join('; ')}` +
      (v.promoted ? ` · now @${v.alias}` : ` · @${v.alias} stays at ${v.champion_version || 'none'}`) : ''),
  }) : null;
  return h('div', {},
    r.error ? h('div', { class: 'error-text', text: r.error }) : null, gate,
    r.output ? h('details', { open: r.state === 'failed' }, h('summary', { text: 'Output (tail)' }), h('pre', { class: 'output-tail', text: r.output })) : null);
}

function details(inc) {
  return kvTable([
    ['State', badge(inc.state)], ['Severity', badge(inc.severity)],
    ['Assignee', inc.assignee || '—'],
    // Started: the first signal's own time (an alert's startsAt), which comes before Opened when it was
    // delivered late or replayed; Opened: when opsloop opened the incident
    ['Started', fmtEpoch(inc.first_signal_at) || '—'], ['Last signal', fmtEpoch(inc.last_signal_at) || '—'],
    ['Opened', fmtEpoch(inc.created_at)], ['Acknowledged', fmtEpoch(inc.acknowledged_at) || '—'],
    ['Resolved', fmtEpoch(inc.resolved_at) || '—'], ['Updated', fmtEpoch(inc.updated_at)],
    ['Labels', Object.entries(inc.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ') || '—'],
  ]);
}

/** Each signal's grouping, as the correlator decided it: the signal, then why it joined (or opened) the incident. */
export function reasons(inc, open = {}) {
  const rs = inc.grouping_reasons || [];
  if (!rs.length) return h('p', { class: 'muted', text: 'One signal, or no grouping reason recorded.' });
  return capped(open, 'reasons', rs.length, 'signals', (all) => h('ul', { class: 'grouping-reasons' }, (all ? rs : rs.slice(0, SHOWN)).map((r) => {
    if (typeof r === 'string') return h('li', { text: r });
    const why = (r.reasons || []).join('; ');
    return h('li', {},
      r.service ? h('strong', { text: `${r.service}: ` }) : null,
      h('span', { text: r.text || '' }),
      why ? h('div', { class: 'muted', text: `← ${why}${typeof r.score === 'number' && r.score > 0 ? ` (score ${fmtNum(r.score)})` : ''}` }) : null);
  })));
}

const SHOWN = 100;  // entries of a long list (an alert storm's signals) drawn before "Show all"

/** ``draw(all)`` into a box with, when it drew SHOWN of ``total`` ``noun``, a button that draws all;
 * ``open[key]`` remembers the choice across the page's redraws. */
function capped(open, key, total, noun, draw) {
  const host = h('div', {});
  const paint = () => {
    const all = open[key] || total <= SHOWN;
    clear(host, draw(all), all ? null : h('p', { class: 'muted show-all' }, `The first ${SHOWN} of ${total} ${noun}. `,
      h('button', { type: 'button', 'data-show-all': key, text: `Show all ${total}`, onclick: () => { open[key] = true; paint(); } })));
  };
  paint();
  return host;
}

/** The timeline in time order; of a storm's signal entries the first SHOWN, every other entry (acks,
 * comments, merges) always. */
function timeline(items, open = {}) {
  if (!items.length) return h('p', { class: 'muted', text: 'Nothing has happened yet.' });
  const sorted = [...items].sort((a, b) => a.time - b.time);
  const signalEntries = sorted.filter((t) => t.kind === 'signal').length;
  return capped(open, 'timeline', signalEntries, 'signal entries', (all) => {
    let seen = 0;
    const shown = all ? sorted : sorted.filter((t) => t.kind !== 'signal' || (seen += 1) <= SHOWN);
    return h('ol', { class: 'timeline', id: 'timeline' }, shown.map((t) => h('li', { 'data-kind': t.kind },
      h('div', { class: 'when', text: `${fmtEpoch(t.time)} · ${t.kind}${t.actor ? ` · ${t.actor}` : ''}` }),
      h('div', { text: t.text || '' }))));
  });
}

function signalsTable(signals, act, open = {}) {
  if (!signals.length) return h('p', { class: 'muted', text: 'No signals.' });
  const chosen = new Set();
  const splitBtn = h('button', { type: 'button', disabled: true, text: 'Split selected into a new incident' });
  splitBtn.addEventListener('click', () => act('split', { signal_ids: [...chosen] }, `Split ${chosen.size} signal(s) into a new incident.`));
  const row = (s) => {
    const box = h('input', { type: 'checkbox', 'aria-label': `Select signal ${s.text || s.id}`, checked: chosen.has(s.id) });
    box.addEventListener('change', () => {
      if (box.checked) chosen.add(s.id); else chosen.delete(s.id);
      splitBtn.disabled = !chosen.size || chosen.size === signals.length;
    });
    return h('tr', {}, h('td', {}, box), h('td', { text: fmtEpoch(s.time) }), h('td', {}, badge(s.severity)),
      h('td', { text: `${s.source} · ${s.kind}` }), h('td', { text: s.service || '' }),
      h('td', { class: 'wrap' }, s.text || '', alertDetails(s)), h('td', {}, badge(s.status || '')),
      h('td', { class: 'wrap hide-narrow', text: Object.entries(s.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ') }));
  };
  const sorted = [...signals].sort((a, b) => a.time - b.time);
  return h('div', { class: 'stack' },
    capped(open, 'signals', sorted.length, 'signals', (all) => h('div', { class: 'table-wrap' }, h('table', { id: 'signals-table' },
      h('thead', {}, h('tr', {}, ['', 'Time', 'Severity', 'Source · kind', 'Service', 'Text', 'Status', 'Labels'].map((t, i) => h('th', { scope: 'col', class: i === 7 ? 'hide-narrow' : '', text: t })))),
      h('tbody', {}, (all ? sorted : sorted.slice(0, SHOWN)).map(row))))),
    h('div', { class: 'actions' }, splitBtn));
}

/** An alert's annotations (description, runbook_url…) folded under its text, and the rule's source link
 * (``generatorURL``, to Prometheus): what Alertmanager shows with an alert. */
export function alertDetails(s) {
  const ev = s.evidence || {};
  const notes = Object.entries(ev.annotations || {}).filter(([k, v]) => k !== 'summary' && v !== s.text && v !== '');
  const source = webUrl(ev.generatorURL);
  if (!notes.length && !source) return null;
  const value = (k, v) => {
    const url = /_?url$/i.test(k) ? webUrl(v) : null;
    return url ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: v }) : foldedText(String(v));
  };
  return h('div', { class: 'alert-details' },
    source ? h('a', { class: 'alert-source', href: source, target: '_blank', rel: 'noopener noreferrer', text: 'Source' }) : null,
    notes.length ? h('details', {}, h('summary', { text: `Annotations (${notes.length})` }),
      h('dl', { class: 'annotations' }, notes.map(([k, v]) => [h('dt', { text: k }), h('dd', {}, value(k, v))]))) : null);
}

/** ``u`` when it is an http(s) address (a javascript: or data: one sent in an alert is not a link). */
export function webUrl(u) {
  if (typeof u !== 'string' || !u) return null;
  try {
    return ['http:', 'https:'].includes(new URL(u).protocol) ? u : null;
  } catch {
    return null;
  }
}

const num = (o, ...keys) => { for (const k of keys) if (o && o[k] !== undefined && o[k] !== null && Number.isFinite(Number(o[k]))) return Number(o[k]); return undefined; };

/** Series points of a metric signal's evidence: [[t, v, lo?, hi?]] (several shapes accepted). */
export function seriesOf(signal) {
  const ev = signal.evidence;
  if (!ev || typeof ev !== 'object') return [];
  const arr = Array.isArray(ev) ? ev : (ev.points || ev.series || ev.window || ev.values || []);
  if (!Array.isArray(arr)) return [];
  return arr.map((p) => (Array.isArray(p)
    ? [Number(p[0]), Number(p[1]), p.length > 3 ? Number(p[2]) : undefined, p.length > 3 ? Number(p[3]) : undefined]
    : [num(p, 'time', 't', 'timestamp', 'x'), num(p, 'value', 'v', 'y'), num(p, 'expected_low', 'lo', 'lower'), num(p, 'expected_high', 'hi', 'upper')]))
    .filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v))
    .sort((a, b) => a[0] - b[0]);
}

const metricName = (s) => (s.labels && (s.labels.__name__ || s.labels.metric)) || s.source || s.kind;
const ms = (t) => (t < 1e11 ? t * 1000 : t);

/** Metric-anomaly signals grouped per metric and service: [[title, signals]]. */
function metricGroups(signals) {
  const groups = new Map();
  for (const s of signals) {
    if (s.kind !== 'metric_anomaly' && !seriesOf(s).length) continue;
    if (isVector(s)) continue;  // a service's metrics together: drawn by vectorCard
    const key = `${metricName(s)}${s.service ? ` · ${s.service}` : ''}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(s);
  }
  return [...groups.entries()];
}

/** A multivariate signal (service_rules): its evidence holds the vector and each metric's deviation. */
const isVector = (s) => !!(s.evidence && s.evidence.deviations && s.evidence.observed && typeof s.evidence.observed === 'object');

/** One card per multivariate signal: the metrics of the service's vector, the ones that moved most first. */
function vectorCard(s) {
  const dev = s.evidence.deviations || {};
  const observed = s.evidence.observed || {};
  const names = [...new Set([...Object.keys(dev), ...Object.keys(observed)])];
  const rows = names.map((n) => h('tr', {}, h('td', { text: n }), h('td', { class: 'num', text: fmtNum(observed[n]) }),
    h('td', { class: 'num', text: dev[n] === undefined ? '' : `${Number(dev[n]) >= 0 ? '+' : ''}${fmtNum(dev[n])}` })));
  return h('section', { class: 'card metric-vector', 'data-metric': s.service || s.labels.rule || 'service' },
    h('h3', { text: `${s.service || (s.labels && s.labels.rule) || 'service'} · metrics together` }),
    h('p', { class: 'muted', text: `${s.text} — ${fmtEpoch(s.time)}` }),
    h('table', { class: 'kv' }, h('thead', {}, h('tr', {}, h('th', { text: 'metric' }), h('th', { text: 'value' }),
      h('th', { text: 'deviation (robust z)' }))), h('tbody', {}, rows)));
}

function bandOf(s) {
  const lo = num(s.values, 'expected_low');
  const hi = num(s.values, 'expected_high');
  if (lo !== undefined && hi !== undefined) return [lo, hi];
  const b = s.evidence && s.evidence.expected_band;
  return Array.isArray(b) && b.length >= 3 ? [Number(b[1]), Number(b[2])] : null;
}

function metricCard(title, sigs, inc) {
  const points = [];
  const band = [];
  const anomalies = [];
  for (const s of sigs) {
    const series = seriesOf(s);
    const b = bandOf(s);
    for (const p of series) {
      points.push([ms(p[0]), p[1]]);
      if (Number.isFinite(p[2]) && Number.isFinite(p[3])) band.push([ms(p[0]), p[2], p[3]]);
      else if (b) band.push([ms(p[0]), b[0], b[1]]);
    }
    const observed = num(s.values, 'observed', 'value');
    if (observed !== undefined) {
      if (!series.length) points.push([ms(s.time), observed]);
      if (!series.length && b) band.push([ms(s.time), b[0], b[1]]);
      if (s.status !== 'resolved') anomalies.push([ms(s.time), observed]);
    }
  }
  points.sort((a, b) => a[0] - b[0]);
  band.sort((a, b) => a[0] - b[0]);
  if (band.length === 1) band.splice(0, 1, [band[0][0] - 60e3, band[0][1], band[0][2]], [band[0][0] + 60e3, band[0][1], band[0][2]]);
  const last = sigs[sigs.length - 1];
  const b = bandOf(last);
  const host = h('div', {});
  const seriesId = (sigs.find((x) => x.evidence && x.evidence.series) || { evidence: {} }).evidence.series;
  const card = h('section', { class: 'card metric-anomaly', 'data-metric': title }, h('h3', { text: title }),
    h('p', { class: 'muted', text: `${sigs.length} signal(s); last value ${fmtNum(num(last.values, 'observed', 'value'))}${b ? `, expected ${fmtNum(b[0])} – ${fmtNum(b[1])}` : ''}` }),
    host, seriesId ? h('a', { href: href('/metrics', { series: seriesId, name: metricName(last) }), class: 'series-history', text: 'Full series history' }) : null);
  const draw = (line) => lineChart(host, {
    series: [{ name: title, points: line, anomalies }], band, xTime: true, height: 200,
    markers: inc.created_at ? [{ x: ms(inc.created_at), label: 'opened' }] : [],
    label: `${title} around the incident with its expected band`,
  });
  queueMicrotask(() => draw(points));
  if (seriesId) queueMicrotask(() => withHistory(seriesId, sigs, inc, draw));
  return card;
}

/** Redraw a metric card with the stored samples from half an hour before the first signal to after the last. */
async function withHistory(seriesId, sigs, inc, draw) {
  const times = sigs.map((x) => Number(x.time)).filter(Number.isFinite);
  if (inc.created_at) times.push(Number(inc.created_at));
  if (!times.length) return;
  const start = Math.min(...times) - 1800;
  const end = Math.max(...times, ...sigs.map((x) => Number(x.resolved_at || x.last_time) || 0)) + 1800;
  try {
    const data = await ops.metricPoints({ series: seriesId, start, end, max_points: 400 });
    const line = sampleLine(data.points);
    if (line.length) draw(line);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;  // no history on this server: keep the chart drawn from the signals
  }
}

function logTemplates(signals) {
  if (!signals.length) return h('p', { class: 'muted', text: 'No log signal in this incident.' });
  return h('ul', { class: 'stack' }, signals.map((s) => {
    const tpl = (s.labels && s.labels.template) || (s.evidence && (s.evidence.template || s.evidence.pattern)) || s.text;
    const count = num(s.values, 'count', 'observed', 'value');
    return h('li', {}, h('code', { text: tpl || '' }), count !== undefined ? h('span', { class: 'muted', text: ` × ${fmtNum(count)}` }) : null,
      s.service ? h('span', { class: 'muted', text: ` (${s.service})` }) : null);
  }));
}

/** The ranked probable root causes: service, score and the evidence for it; a candidate alerting in
 * another incident (its own alert came too late to join this one) links to it and, given ``act``,
 * offers to merge that incident into this one. */
export function rootCauses(items, act) {
  if (!items.length) return h('p', { class: 'muted', text: 'No service alerted in this incident.' });
  return h('ol', { class: 'root-causes' }, items.map((c) => h('li', {},
    h('a', { href: href('/services', { service: c.service }), title: `${c.service} on the service map` },
      h('strong', { text: c.service })),
    h('span', { class: 'muted', text: ` · score ${fmtNum(c.score)}` }),
    h('ul', {}, (c.reasons || []).map((r) => h('li', { text: r }))),
    c.alerting_in_incident != null ? elsewhere(c, act) : null)));
}

function elsewhere(c, act) {
  const other = String(c.alerting_in_incident);
  return h('p', { class: 'alerting-elsewhere' },
    `${c.service} alerts in `, h('a', { href: href(`/incidents/${other}`), text: `incident ${other}` }),
    act ? ' ' : null,
    act ? h('button', { type: 'button', 'data-action': 'merge-elsewhere',
      onclick: () => act('merge', { source_ids: [other] }, `Merged incident ${other} into this one.`) },
    `Merge incident ${other} into this one`) : null);
}

function similar(items) {
  if (!items.length) return h('p', { class: 'muted', text: 'No similar past incident found.' });
  return h('ul', {}, items.map((x) => h('li', {},
    h('a', { href: href(`/incidents/${x.id}`), text: x.title || x.id }),
    h('span', { class: 'muted', text: ` · similarity ${fmtNum(x.score)}` }),
    x.resolution ? h('div', { class: 'muted', text: `Resolution: ${x.resolution}` }) : null)));
}
