// @ts-check
/**
 * TaskRunner's task API under a steady, bounded load: the write model, the query surface and the pull-worker loop.
 *
 *   k6 run load/k6/tasks.js -e BASE_URL=http://127.0.0.1:8080
 *
 * setup() signs in (EMAIL/PASSWORD, default the demo admin of `make run`; else it registers a throwaway account),
 * creates a project, API_KEYS API keys (rate limits are per key: the keys share the load as several clients would) and
 * 200 tasks to read. Scenarios (constant arrival rate, in parallel):
 *   create   POST /api/v1/tasks                     CREATE_RATE req/s
 *   bulk     POST /api/v1/tasks/bulk (100-task DAG)  BULK_RATE req/s
 *   get      GET  /api/v1/tasks/{id}                 READ_RATE req/s
 *   list     GET  /api/v1/tasks?project_id=…&sort=…   READ_RATE req/s
 *   search   GET  /api/v1/tasks/search?q=…            SEARCH_RATE req/s
 *   suggest  GET  /api/v1/tasks/search/suggest?q=…    SEARCH_RATE req/s
 *   work     POST /api/v1/tasks/claim + /tasks/complete (a no-op worker)  WORK_RATE req/s
 *
 * Environment overrides (-e NAME=value): BASE_URL, DURATION (default 30s), CREATE_RATE (5), BULK_RATE (1), READ_RATE (10),
 * SEARCH_RATE (5), WORK_RATE (2), API_KEYS (8), EMAIL, PASSWORD, LATENCY_SCALE (1).
 * With the service's default rate limit (a burst of 120, 600 a minute per key), API_KEYS keys carry about
 * 10 × API_KEYS requests a second; raise API_KEYS with the rates, or run the service with RateLimiting__Enabled=false.
 *
 * Thresholds (exit code 99 when crossed): per-endpoint p(99)/p(99.9) of http_req_duration, http_req_failed < 0.1 %,
 * checks > 99.9 %, dropped iterations ≤ 0.1 %.
 */

import http from 'k6/http';
import exec from 'k6/execution';
import { envDuration, envNumber, envString, url } from './lib/config.js';
import {
  COMMON_OPTIONS,
  REQUEST_TIMEOUT,
  arrivalScenario,
  droppedIterationsThreshold,
  endpointThresholds,
} from './lib/options.js';
import { bodyIsJsonObject, checkResponse, statusIs } from './lib/checks.js';

/** @typedef {import('./lib/options.js').LatencyBudget} LatencyBudget */
/** @typedef {{ keys: string[], projectId: string, taskIds: string[] }} SetupData */

const DURATION = envDuration('DURATION', '30s');
const CREATE_RATE = envNumber('CREATE_RATE', 5);
const BULK_RATE = envNumber('BULK_RATE', 1);
const READ_RATE = envNumber('READ_RATE', 10);
const SEARCH_RATE = envNumber('SEARCH_RATE', 5);
const WORK_RATE = envNumber('WORK_RATE', 2);
const API_KEYS = Math.round(envNumber('API_KEYS', 8));
const LATENCY_SCALE = envNumber('LATENCY_SCALE', 1);

/**
 * Latency budgets in ms for a 2-core box shared by k6, the service and PostgreSQL (docs/performance.md has the
 * measured figures). Scale them with LATENCY_SCALE rather than editing them for one slow run.
 * @type {{ [endpoint: string]: LatencyBudget }}
 */
const BUDGETS = {
  create: { p99: 150, p999: 400 },
  bulk: { p99: 400, p999: 1000 },
  get: { p99: 50, p999: 150 },
  list: { p99: 100, p999: 250 },
  search: { p99: 200, p999: 500 },
  suggest: { p99: 50, p999: 150 },
  work: { p99: 200, p999: 500 },
};

/**
 * @param {LatencyBudget} budget
 * @returns {LatencyBudget}
 */
function scaled(budget) {
  return { p99: budget.p99 * LATENCY_SCALE, p999: budget.p999 * LATENCY_SCALE };
}

const WORDS = ['deploy', 'backup', 'report', 'invoice', 'migrate', 'index', 'resize', 'export', 'notify', 'train'];

/** @type {import('k6/options').Options} */
export const options = {
  ...COMMON_OPTIONS,
  setupTimeout: '60s',
  scenarios: {
    create: arrivalScenario({ exec: 'create', endpoint: 'create', rate: CREATE_RATE, duration: DURATION }),
    bulk: arrivalScenario({ exec: 'bulk', endpoint: 'bulk', rate: BULK_RATE, duration: DURATION }),
    get: arrivalScenario({ exec: 'getTask', endpoint: 'get', rate: READ_RATE, duration: DURATION }),
    list: arrivalScenario({ exec: 'list', endpoint: 'list', rate: READ_RATE, duration: DURATION }),
    search: arrivalScenario({ exec: 'search', endpoint: 'search', rate: SEARCH_RATE, duration: DURATION }),
    suggest: arrivalScenario({ exec: 'suggest', endpoint: 'suggest', rate: SEARCH_RATE, duration: DURATION }),
    work: arrivalScenario({ exec: 'work', endpoint: 'work', rate: WORK_RATE, duration: DURATION }),
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    checks: ['rate>0.999'],
    dropped_iterations: droppedIterationsThreshold(
      CREATE_RATE + BULK_RATE + 2 * READ_RATE + 2 * SEARCH_RATE + WORK_RATE,
      DURATION,
    ),
    ...Object.fromEntries(
      Object.entries(BUDGETS).flatMap(([endpoint, budget]) => Object.entries(endpointThresholds(endpoint, scaled(budget)))),
    ),
  },
};

/**
 * A JSON request to the service, tagged with its endpoint.
 * @param {'GET' | 'POST'} method
 * @param {string} path
 * @param {string} endpoint
 * @param {string} key  an API key, or "" for none
 * @param {unknown} [body]
 * @param {{ bearer?: string }} [auth]
 */
function request(method, path, endpoint, key, body, auth = {}) {
  /** @type {Record<string, string>} */
  const headers = { 'Content-Type': 'application/json' };
  if (key !== '') {
    headers['X-API-Key'] = key;
  }
  if (auth.bearer !== undefined) {
    headers.Authorization = `Bearer ${auth.bearer}`;
  }
  return http.request(method, url(path), body === undefined ? null : JSON.stringify(body), {
    headers,
    tags: { endpoint },
    timeout: REQUEST_TIMEOUT,
  });
}

/**
 * The value of a JSON body's property, or undefined.
 * @param {import('k6/http').Response} res
 * @param {string} name
 * @returns {any}
 */
function field(res, name) {
  try {
    const value = JSON.parse(typeof res.body === 'string' ? res.body : '');
    return value === null || typeof value !== 'object' ? undefined : value[name];
  } catch (_err) {
    return undefined;
  }
}

/**
 * A layered DAG of `count` tasks for one bulk request: each task after the first ten depends on two earlier ones.
 * @param {string} projectId
 * @param {number} count
 */
function dag(projectId, count) {
  const tasks = [];
  for (let i = 0; i < count; i++) {
    /** @type {Record<string, unknown>} */
    const task = { ref: `t${i}`, title: `${WORDS[i % WORDS.length]} step ${i}`, kind: 'k6.bulk', priority: (i * 37) % 101 };
    if (i >= 10) {
      task.depends_on = [`t${i - 10}`, `t${i - 1 - (i % 7)}`].filter((ref, index, all) => all.indexOf(ref) === index);
    }
    tasks.push(task);
  }
  return { project_id: projectId, tasks };
}

/** @returns {SetupData} */
export function setup() {
  const email = envString('EMAIL', 'admin@taskrunner.local');
  const password = envString('PASSWORD', 'taskrunner-demo');
  let login = request('POST', '/api/v1/auth/login', 'setup', '', { email, password });
  if (login.status !== 200) {
    const throwaway = `k6-${Date.now()}@example.test`;
    const secret = 'k6 load test password 123';
    request('POST', '/api/v1/auth/register', 'setup', '', { email: throwaway, password: secret, display_name: 'k6' });
    login = request('POST', '/api/v1/auth/login', 'setup', '', { email: throwaway, password: secret });
  }
  const token = field(login, 'access_token');
  if (typeof token !== 'string') {
    exec.test.abort(`could not sign in (status ${login.status}): set EMAIL/PASSWORD, or open registration`);
    throw new Error('unreachable');
  }
  const keys = [];
  for (let i = 0; i < API_KEYS; i++) {
    const created = request('POST', '/api/v1/auth/api-keys', 'setup', '', { name: `k6-${i}` }, { bearer: token });
    const key = field(created, 'key');
    if (typeof key !== 'string') {
      exec.test.abort(`could not create an API key (status ${created.status})`);
    }
    keys.push(String(key));
  }
  const project = request('POST', '/api/v1/projects', 'setup', keys[0], { name: `k6 ${new Date().toISOString()}` });
  const projectId = field(project, 'id');
  if (typeof projectId !== 'string') {
    exec.test.abort(`could not create a project (status ${project.status})`);
  }
  const seeded = request('POST', '/api/v1/tasks/bulk', 'setup', keys[0], dag(String(projectId), 200));
  const tasks = field(seeded, 'tasks');
  if (!Array.isArray(tasks)) {
    exec.test.abort(`could not seed tasks (status ${seeded.status})`);
  }
  return { keys, projectId: String(projectId), taskIds: tasks.map((/** @type {{ id: string }} */ task) => task.id) };
}

/**
 * The key of this iteration: the keys take turns, as separate clients would.
 * @param {SetupData} data
 */
function keyOf(data) {
  return data.keys[exec.scenario.iterationInTest % data.keys.length];
}

/** @param {SetupData} data */
export function create(data) {
  const res = request('POST', '/api/v1/tasks', 'create', keyOf(data), {
    project_id: data.projectId,
    title: `${WORDS[exec.scenario.iterationInTest % WORDS.length]} k6 ${exec.scenario.iterationInTest}`,
    kind: 'k6.single',
    metadata: { vu: exec.vu.idInTest },
  });
  checkResponse(res, 'create', { 'create: status 201': statusIs(201), 'create: body is a task': bodyIsJsonObject });
}

/** @param {SetupData} data */
export function bulk(data) {
  const res = request('POST', '/api/v1/tasks/bulk', 'bulk', keyOf(data), dag(data.projectId, 100));
  checkResponse(res, 'bulk', {
    'bulk: status 201': statusIs(201),
    'bulk: has a batch id': (r) => typeof r.headers['X-Batch-Id'] === 'string' || typeof field(r, 'batch_id') === 'string',
  });
}

/** @param {SetupData} data */
export function getTask(data) {
  const id = data.taskIds[exec.scenario.iterationInTest % data.taskIds.length];
  const res = request('GET', `/api/v1/tasks/${id}`, 'get', keyOf(data));
  checkResponse(res, 'get', { 'get: status 200': statusIs(200), 'get: has an ETag': (r) => typeof r.headers.Etag === 'string' });
}

/** @param {SetupData} data */
export function list(data) {
  const sort = exec.scenario.iterationInTest % 2 === 0 ? '-created_at' : '-priority,created_at';
  const res = request('GET', `/api/v1/tasks?project_id=${data.projectId}&sort=${sort}&limit=50`, 'list', keyOf(data));
  checkResponse(res, 'list', { 'list: status 200': statusIs(200), 'list: has data': (r) => Array.isArray(field(r, 'data')) });
}

/** @param {SetupData} data */
export function search(data) {
  const word = WORDS[exec.scenario.iterationInTest % WORDS.length];
  const res = request('GET', `/api/v1/tasks/search?q=${word}&project_id=${data.projectId}`, 'search', keyOf(data));
  checkResponse(res, 'search', { 'search: status 200': statusIs(200), 'search: has data': (r) => Array.isArray(field(r, 'data')) });
}

/** @param {SetupData} data */
export function suggest(data) {
  const prefix = WORDS[exec.scenario.iterationInTest % WORDS.length].slice(0, 3);
  const res = request('GET', `/api/v1/tasks/search/suggest?q=${prefix}`, 'suggest', keyOf(data));
  checkResponse(res, 'suggest', { 'suggest: status 200': statusIs(200) });
}

/**
 * A no-op pull worker's turn: claim up to 10 ready tasks of this run and report them all succeeded in one batch.
 * @param {SetupData} data
 */
export function work(data) {
  const key = keyOf(data);
  const claimed = request('POST', '/api/v1/tasks/claim', 'work', key, { kinds: ['k6.bulk', 'k6.single'], limit: 10, lease_seconds: 60 });
  checkResponse(claimed, 'work', { 'work: claim status 200': statusIs(200) });
  const tasks = field(claimed, 'tasks');
  if (!Array.isArray(tasks) || tasks.length === 0) {
    return;
  }
  const reports = tasks.map((/** @type {{ id: string, lease_token: unknown }} */ task) => ({
    task_id: task.id,
    lease_token: task.lease_token,
    status: 'succeeded',
    output: { by: 'k6' },
  }));
  const completed = request('POST', '/api/v1/tasks/complete', 'work', key, { reports });
  checkResponse(completed, 'work', { 'work: complete status 200': statusIs(200) });
}
