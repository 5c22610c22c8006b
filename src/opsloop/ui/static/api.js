// The one place the UI talks HTTP: MLflow's REST API (ajax-api prefix) and opsloop's own API.

const MLFLOW = '/ajax-api/2.0/mlflow';
const OPS = '/api/opsloop/v1';

export class ApiError extends Error {
  constructor(status, code, message, url) {
    super(message);
    this.status = status;
    this.code = code;
    this.url = url;
  }

  /** True when the endpoint itself does not exist (the API area is not installed on this server). */
  get missingEndpoint() {
    return (this.status === 404 && (!this.code || this.code === 'ENDPOINT_NOT_FOUND')) || this.status === 405;
  }
}

async function request(method, url, body, signal) {
  let resp;
  try {
    resp = await fetch(url, {
      method,
      signal,
      headers: body !== undefined ? { 'Content-Type': 'application/json' } : {},
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', `Cannot reach the opsloop server (${err.message}). Is it running?`, url);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : {}; } catch { data = null; }
  if (!resp.ok) {
    const message = (data && (data.message || detailText(data.detail))) || `${resp.status} ${resp.statusText}`;
    throw new ApiError(resp.status, data && data.error_code, message, url);
  }
  if (data === null) throw new ApiError(resp.status, 'BAD_RESPONSE', `The server sent something that is not JSON from ${url}`, url);
  return data;
}

/** FastAPI's validation errors ({detail: [{loc, msg}]}) as one sentence. */
function detailText(detail) {
  if (typeof detail === 'string') return detail;
  if (!Array.isArray(detail)) return null;
  return detail.map((d) => `${(d.loc || []).filter((x) => x !== 'body').join('.')}: ${d.msg}`).join('; ');
}

function qs(params) {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => sp.append(k, x));
    else sp.append(k, String(v));
  }
  const s = sp.toString();
  return s ? `?${s}` : '';
}

export const get = (path, params, signal) => request('GET', path + qs(params), undefined, signal);
export const post = (path, body, signal) => request('POST', path, body || {}, signal);
export const del = (path, signal) => request('DELETE', path, undefined, signal);

/** Key/value lists ([{key, value}]) as a plain object. */
export const kv = (list) => Object.fromEntries((list || []).map((x) => [x.key, x.value]));

/** A /metrics/points answer's samples (or bucket means) as chart points [ms, value]; a gap is NaN. */
export const sampleLine = (points) => points.map((p) => [p[0] * 1000, p[1] === null ? NaN : p[1]]);

export const mlflow = {
  searchExperiments: (signal) => post(`${MLFLOW}/experiments/search`, { max_results: 1000 }, signal),
  searchRuns: (body, signal) => post(`${MLFLOW}/runs/search`, body, signal),
  getRun: (runId, signal) => get(`${MLFLOW}/runs/get`, { run_id: runId }, signal),
  metricHistory: (runId, key, pageToken, signal) => get(`${MLFLOW}/metrics/get-history`, { run_id: runId, metric_key: key, max_results: 25000, page_token: pageToken }, signal),
  metricHistoryBulk: (runIds, key, maxResults, signal) => get(`${MLFLOW}/metrics/get-history-bulk-interval`, { run_ids: runIds, metric_key: key, max_results: maxResults }, signal),
  listArtifacts: (runId, path, signal) => get(`${MLFLOW}/artifacts/list`, { run_id: runId, path }, signal),
  artifactUrl: (runId, path) => `/get-artifact${qs({ run_uuid: runId, path })}`,
  searchRegisteredModels: (body, signal) => get(`${MLFLOW}/registered-models/search`, body, signal),
  getRegisteredModel: (name, signal) => get(`${MLFLOW}/registered-models/get`, { name }, signal),
  searchModelVersions: (params, signal) => get(`${MLFLOW}/model-versions/search`, params, signal),
};

const enc = encodeURIComponent;
/** Ids travel as numbers when they are numeric (the incidents API numbers them), else as given. */
const asId = (v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v);

export const ops = {
  incidents: (params, signal) => get(`${OPS}/incidents`, params, signal),
  incident: (id, signal) => get(`${OPS}/incidents/${enc(id)}`, undefined, signal),
  incidentAction: (id, action, body) => post(`${OPS}/incidents/${enc(id)}/${action}`, body),
  assignIncident: (id, assignee, by) => post(`${OPS}/incidents/${enc(id)}/assign`, { assignee, actor: by }),
  mergeIncidents: (targetId, sourceIds) => post(`${OPS}/incidents/merge`, { target_id: asId(targetId), source_ids: sourceIds.map(asId) }),
  splitIncident: (id, signalIds) => post(`${OPS}/incidents/${enc(id)}/split`, { signal_ids: signalIds.map(asId) }),
  promotions: (name, signal) => get(`${OPS}/models/${enc(name)}/promotions`, undefined, signal),
  promote: (name, body) => post(`${OPS}/models/${enc(name)}/promote`, body),
  removeAlias: (name, alias, body) => request('DELETE', `${OPS}/models/${enc(name)}/aliases/${enc(alias)}`, body),
  validations: (name, v, signal) => get(`${OPS}/models/${enc(name)}/versions/${enc(v)}/validations`, undefined, signal),
  lineage: (name, v, signal) => get(`${OPS}/models/${enc(name)}/versions/${enc(v)}/lineage`, undefined, signal),
  deployments: (signal) => get(`${OPS}/deployments`, undefined, signal),
  deploymentMetrics: (name, params, signal) => get(`${OPS}/deployments/${enc(name)}/metrics`, params, signal),
  deploymentDrift: (name, params, signal) => get(`${OPS}/deployments/${enc(name)}/drift`, params, signal),
  logTemplates: (params, signal) => get(`${OPS}/logs/templates`, params, signal),
  logServices: (signal) => get(`${OPS}/logs/services`, undefined, signal),
  metricSeries: (params, signal) => get(`${OPS}/metrics/series`, params, signal),
  metricSeriesOne: (fingerprint, signal) => get(`${OPS}/metrics/series/${enc(fingerprint)}`, undefined, signal),
  metricPoints: (params, signal) => get(`${OPS}/metrics/points`, params, signal),
  signals: (params, signal) => get(`${OPS}/signals`, params, signal),
  runbooks: (signal) => get(`${OPS}/runbooks`, undefined, signal),
  runbookRuns: (params, signal) => get(`${OPS}/runbooks/runs`, params, signal),
  runRunbook: (incidentId, name, by) => post(`${OPS}/incidents/${enc(incidentId)}/runbooks/${enc(name)}`, { actor: by }),
  topology: (signal) => get(`${OPS}/topology`, undefined, signal),
  silences: (params, signal) => get(`${OPS}/silences`, params, signal),
  createSilence: (body) => post(`${OPS}/silences`, body),
  expireSilence: (id) => del(`${OPS}/silences/${enc(id)}`),
};

/** The actor name the UI sends with incident and promotion actions (remembered in this browser). */
export function actor() {
  return localStorage.getItem('opsloop.actor') || 'ui-user';
}
