// @ts-check
/**
 * TaskRunner's headline load scenarios at realistic rates, with the targets of docs/performance.md as thresholds.
 *
 *   k6 run load/k6/headline.js -e BASE_URL=http://127.0.0.1:8080
 *   k6 run load/k6/headline.js -e SCENARIOS=mixed,mixed_half -e MAX_RATE=1200
 *
 * Run the service with RateLimiting__Enabled=false (as load/mixed-rate.sh does): these rates are far above what one
 * client may send under the default per-key limits, and a 429 would fail the run rather than measure the service.
 *
 * setup() signs in (EMAIL/PASSWORD, default the demo admin of `make run`; else it registers a throwaway account), creates
 * a project and SEED_TASKS tasks in it (bulks of 1,000) to read. Scenarios, one after the other (each DURATION, 5 s apart;
 * SCENARIOS picks a subset, in this order):
 *   mixed       constant arrival rate MIXED_RATE (500/s): 70 % GET /tasks/{id}, 20 % list pages (walks), 10 % creates
 *               p(50) < 10 ms, p(99) < 50 ms, p(99.9) < 100 ms, no dropped iterations
 *   mixed_half  the same mix at half of MAX_RATE, the highest rate at which the targets held (docs/performance.md)
 *   list        list walks at LIST_RATE (100 pages/s): each VU walks the next page of its walk, or starts one of three
 *               shapes (project by time, project by priority, all projects by kind sorted by priority); p(99) < 20 ms
 *   search      GET /tasks/search?q=… at SEARCH_RATE (100/s), in the project and across projects; p(99) < 50 ms
 *   bulk        POST /tasks/bulk of a 1,000-task layered DAG at BULK_RATE (5/s); p(99) < 150 ms
 *   workers     WORKERS (10) no-op pull workers in a closed loop: claim limit=100, then one batch complete, draining
 *               WORKER_TASKS (100000) independent tasks that setup() made for them; claim and complete p(99) < 100 ms,
 *               and at least MIN_TASKS_PER_SECOND (2500) × DURATION tasks done (or all of them)
 *
 * Other overrides (-e NAME=value): BASE_URL, DURATION (30s), SEED_TASKS (10000), EMAIL, PASSWORD, LATENCY_SCALE (1).
 * Every scenario also fails on http_req_failed ≥ 0.1 % or checks ≤ 99.9 %. Exit code 99 when a threshold is crossed.
 */

import http from 'k6/http';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import { envDuration, envNumber, envString, parseDurationSeconds, url } from './lib/config.js';
import { COMMON_OPTIONS, REQUEST_TIMEOUT, arrivalScenario } from './lib/options.js';
import { checkResponse, statusIs } from './lib/checks.js';

/** @typedef {{ key: string, projectId: string, taskIds: string[] }} SetupData */
/** @typedef {import('k6/options').Scenario} Scenario */
/** @typedef {import('k6/options').Threshold} Threshold */

const DURATION = envDuration('DURATION', '30s');
const MIXED_RATE = envNumber('MIXED_RATE', 500);
// The highest mixed rate at which every target held on the 2-core reference box (docs/performance.md, load/mixed-rate.sh).
const MAX_RATE = envNumber('MAX_RATE', 1000);
const LIST_RATE = envNumber('LIST_RATE', 100);
const SEARCH_RATE = envNumber('SEARCH_RATE', 100);
const BULK_RATE = envNumber('BULK_RATE', 5);
const WORKERS = Math.round(envNumber('WORKERS', 10));
const MIN_TASKS_PER_SECOND = envNumber('MIN_TASKS_PER_SECOND', 2500);
const SEED_TASKS = Math.round(envNumber('SEED_TASKS', 10000));
const WORKER_TASKS = Math.round(envNumber('WORKER_TASKS', 100000));
const LATENCY_SCALE = envNumber('LATENCY_SCALE', 1);
const ALL_SCENARIOS = ['mixed', 'mixed_half', 'list', 'search', 'bulk', 'workers'];
const SELECTED = envString('SCENARIOS', ALL_SCENARIOS.join(','))
  .split(',')
  .map((name) => name.trim());
for (const name of SELECTED) {
  if (!ALL_SCENARIOS.includes(name)) {
    throw new Error(`unknown scenario "${name}" in SCENARIOS (known: ${ALL_SCENARIOS.join(', ')})`);
  }
}

const WORDS = ['deploy', 'backup', 'report', 'invoice', 'migrate', 'index', 'resize', 'export', 'notify', 'train'];
const KINDS = 20;
const WORK_KIND = 'k6.headline.work';

/** @param {number} ms */
function budget(ms) {
  return ms * LATENCY_SCALE;
}

/**
 * Latency thresholds of one scenario: `[percentile, ms]` pairs on http_req_duration, plus failures and checks.
 * @param {string} scenario
 * @param {[string, number][]} limits e.g. [['p(99)', 50]]
 * @returns {{ [name: string]: Threshold[] }}
 */
function scenarioThresholds(scenario, limits) {
  return {
    [`http_req_duration{scenario:${scenario}}`]: limits.map(([stat, ms]) => `${stat}<${budget(ms)}`),
    [`http_req_failed{scenario:${scenario}}`]: ['rate<0.001'],
    [`checks{scenario:${scenario}}`]: ['rate>0.999'],
  };
}

const MIXED_LIMITS = /** @type {[string, number][]} */ ([['p(50)', 10], ['p(99)', 50], ['p(99.9)', 100]]);

/**
 * Every scenario with its thresholds; `scenario` is filled in with the start time once the selection is known.
 * @type {{ [name: string]: { scenario: (startTime: string) => Scenario, thresholds: { [name: string]: Threshold[] } } }}
 */
const CATALOGUE = {
  mixed: {
    scenario: (startTime) => arrivalScenario({ exec: 'mixed', endpoint: 'mixed', rate: MIXED_RATE, duration: DURATION, startTime }),
    thresholds: { ...scenarioThresholds('mixed', MIXED_LIMITS), 'dropped_iterations{scenario:mixed}': ['count==0'] },
  },
  mixed_half: {
    scenario: (startTime) =>
      arrivalScenario({ exec: 'mixed', endpoint: 'mixed', rate: MAX_RATE / 2, duration: DURATION, startTime }),
    thresholds: { ...scenarioThresholds('mixed_half', MIXED_LIMITS), 'dropped_iterations{scenario:mixed_half}': ['count==0'] },
  },
  list: {
    scenario: (startTime) => arrivalScenario({ exec: 'listWalk', endpoint: 'list', rate: LIST_RATE, duration: DURATION, startTime }),
    thresholds: { ...scenarioThresholds('list', [['p(99)', 20]]), 'dropped_iterations{scenario:list}': ['count==0'] },
  },
  search: {
    scenario: (startTime) => arrivalScenario({ exec: 'search', endpoint: 'search', rate: SEARCH_RATE, duration: DURATION, startTime }),
    thresholds: { ...scenarioThresholds('search', [['p(99)', 50]]), 'dropped_iterations{scenario:search}': ['count==0'] },
  },
  bulk: {
    scenario: (startTime) => arrivalScenario({ exec: 'bulk', endpoint: 'bulk', rate: BULK_RATE, duration: DURATION, startTime }),
    thresholds: { ...scenarioThresholds('bulk', [['p(99)', 150]]), 'dropped_iterations{scenario:bulk}': ['count==0'] },
  },
  workers: {
    scenario: (startTime) => ({
      executor: 'constant-vus',
      exec: 'work',
      vus: WORKERS,
      duration: DURATION,
      startTime,
      gracefulStop: '5s',
      tags: { endpoint: 'work' },
    }),
    thresholds: {
      ...scenarioThresholds('workers', [['p(99)', 100]]),
      'http_req_duration{scenario:workers,request:claim}': [`p(99)<${budget(100)}`],
      'http_req_duration{scenario:workers,request:complete}': [`p(99)<${budget(100)}`],
      tasks_completed: [`count>=${Math.min(WORKER_TASKS, Math.floor(MIN_TASKS_PER_SECOND * parseDurationSeconds(DURATION)))}`],
    },
  },
};

// Scenarios run one after the other: each starts when the previous one's duration and graceful stop are over.
const GAP_SECONDS = parseDurationSeconds(DURATION) + 5;
const selected = ALL_SCENARIOS.filter((name) => SELECTED.includes(name));

/** @type {import('k6/options').Options} */
export const options = {
  ...COMMON_OPTIONS,
  setupTimeout: '300s',
  scenarios: Object.fromEntries(selected.map((name, index) => [name, CATALOGUE[name].scenario(`${index * GAP_SECONDS}s`)])),
  thresholds: Object.assign({}, ...selected.map((name) => CATALOGUE[name].thresholds)),
};

/** Tasks the pull workers reported done (a count: k6's rate of a counter runs over the whole test, all scenarios). */
const tasksCompleted = new Counter('tasks_completed');

/**
 * A JSON request to the service with the run's API key, tagged with the request's kind.
 * @param {'GET' | 'POST'} method
 * @param {string} path
 * @param {string} request value of the `request` tag
 * @param {{ key?: string, bearer?: string, body?: unknown }} [opts]
 */
function call(method, path, request, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = { 'Content-Type': 'application/json' };
  if (opts.key !== undefined) {
    headers['X-API-Key'] = opts.key;
  }
  if (opts.bearer !== undefined) {
    headers.Authorization = `Bearer ${opts.bearer}`;
  }
  return http.request(method, url(path), opts.body === undefined ? null : JSON.stringify(opts.body), {
    headers,
    tags: { request },
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
 * 1,000 tasks for one bulk request, of `kind` (default: one of KINDS read kinds); with `layered`, each task after the
 * first ten depends on two earlier ones.
 * @param {string} projectId
 * @param {number} batch
 * @param {{ kind?: string, layered?: boolean }} [shape]
 */
function tasksBody(projectId, batch, { kind, layered = false } = {}) {
  const tasks = [];
  for (let i = 0; i < 1000; i++) {
    /** @type {Record<string, unknown>} */
    const task = {
      ref: `t${i}`,
      title: `${WORDS[i % WORDS.length]} headline ${batch}-${i}`,
      kind: kind ?? `k6.headline.${i % KINDS}`,
      priority: (i * 37) % 101,
    };
    if (layered && i >= 10) {
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
  let login = call('POST', '/api/v1/auth/login', 'setup', { body: { email, password } });
  if (login.status !== 200) {
    const throwaway = `k6-${Date.now()}@example.test`;
    const secret = 'k6 load test password 123';
    call('POST', '/api/v1/auth/register', 'setup', { body: { email: throwaway, password: secret, display_name: 'k6' } });
    login = call('POST', '/api/v1/auth/login', 'setup', { body: { email: throwaway, password: secret } });
  }
  const token = field(login, 'access_token');
  if (typeof token !== 'string') {
    exec.test.abort(`could not sign in (status ${login.status}): set EMAIL/PASSWORD, or open registration`);
  }
  const created = call('POST', '/api/v1/auth/api-keys', 'setup', { bearer: String(token), body: { name: 'k6 headline' } });
  const key = String(field(created, 'key'));
  const project = call('POST', '/api/v1/projects', 'setup', { key, body: { name: `k6 headline ${new Date().toISOString()}` } });
  const projectId = String(field(project, 'id'));
  if (project.status !== 201) {
    exec.test.abort(`could not create a project (status ${project.status})`);
  }
  /** @type {string[]} */
  const taskIds = [];
  const seed = (/** @type {number} */ batch, /** @type {string | undefined} */ kind) => {
    const seeded = call('POST', '/api/v1/tasks/bulk', 'setup', { key, body: tasksBody(projectId, batch, { kind }) });
    const tasks = field(seeded, 'tasks');
    if (!Array.isArray(tasks)) {
      exec.test.abort(`could not seed tasks (status ${seeded.status}); is RateLimiting__Enabled=false?`);
      return [];
    }
    return tasks.map((/** @type {{ id: string }} */ task) => task.id);
  };
  for (let batch = 0; batch * 1000 < SEED_TASKS; batch++) {
    taskIds.push(...seed(batch, undefined));
  }
  if (SELECTED.includes('workers')) {
    for (let batch = 0; batch * 1000 < WORKER_TASKS; batch++) {
      seed(batch, WORK_KIND);
    }
  }
  return { key, projectId, taskIds };
}

/**
 * The walk this VU is on (module state is per VU): the next page's cursor and path, or none.
 * @type {{ path: string, cursor: string } | undefined}
 */
let walk;

/**
 * One list page: the next page of this VU's walk, or the first page of a new walk in one of three shapes.
 * @param {SetupData} data
 * @param {string} request
 */
function listPage(data, request) {
  const n = exec.scenario.iterationInTest;
  const shapes = [
    `/api/v1/tasks?project_id=${data.projectId}&sort=-created_at&limit=50`,
    `/api/v1/tasks?project_id=${data.projectId}&sort=-priority,created_at&limit=50`,
    `/api/v1/tasks?kind=k6.headline.${n % KINDS}&sort=-priority,created_at&limit=50`,
  ];
  const path = walk === undefined ? shapes[n % shapes.length] : `${walk.path}&cursor=${encodeURIComponent(walk.cursor)}`;
  const res = call('GET', path, request, { key: data.key });
  checkResponse(res, request, { 'list: status 200': statusIs(200) });
  const next = field(res, 'next_cursor');
  walk = typeof next === 'string' ? { path: walk?.path ?? path, cursor: next } : undefined;
}

/**
 * One request of the mix, chosen by the iteration number: 7 in 10 GET by id, 2 list pages, 1 create.
 * @param {SetupData} data
 */
export function mixed(data) {
  const n = exec.scenario.iterationInTest;
  const slot = n % 10;
  if (slot < 7) {
    const res = call('GET', `/api/v1/tasks/${data.taskIds[(n * 7919) % data.taskIds.length]}`, 'get', { key: data.key });
    checkResponse(res, 'get', { 'get: status 200': statusIs(200) });
  } else if (slot < 9) {
    listPage(data, 'list');
  } else {
    const res = call('POST', '/api/v1/tasks', 'create', {
      key: data.key,
      body: { project_id: data.projectId, title: `${WORDS[n % WORDS.length]} k6 mixed ${n}`, kind: 'k6.headline.mixed' },
    });
    checkResponse(res, 'create', { 'create: status 201': statusIs(201) });
  }
}

/** @param {SetupData} data */
export function listWalk(data) {
  listPage(data, 'list');
}

/** @param {SetupData} data */
export function search(data) {
  const n = exec.scenario.iterationInTest;
  const scope = n % 2 === 0 ? `&project_id=${data.projectId}` : '';
  const res = call('GET', `/api/v1/tasks/search?q=${WORDS[n % WORDS.length]}${scope}`, 'search', { key: data.key });
  checkResponse(res, 'search', { 'search: status 200': statusIs(200) });
}

/** @param {SetupData} data */
export function bulk(data) {
  const res = call('POST', '/api/v1/tasks/bulk', 'bulk', {
    key: data.key,
    body: tasksBody(data.projectId, exec.scenario.iterationInTest, { kind: 'k6.headline.dag', layered: true }),
  });
  checkResponse(res, 'bulk', { 'bulk: status 201': statusIs(201) });
}

/**
 * A no-op pull worker's turn: claim up to 100 of the tasks setup() made for the workers and report them all in one batch.
 * @param {SetupData} data
 */
export function work(data) {
  const claimed = call('POST', '/api/v1/tasks/claim', 'claim', { key: data.key, body: { kinds: [WORK_KIND], limit: 100, lease_seconds: 60 } });
  checkResponse(claimed, 'work', { 'claim: status 200': statusIs(200) });
  const tasks = field(claimed, 'tasks');
  if (!Array.isArray(tasks) || tasks.length === 0) {
    return;
  }
  const reports = tasks.map((/** @type {{ id: string, lease_token: unknown }} */ task) => ({
    task_id: task.id,
    lease_token: task.lease_token,
    status: 'succeeded',
  }));
  const completed = call('POST', '/api/v1/tasks/complete', 'complete', { key: data.key, body: { reports } });
  if (checkResponse(completed, 'work', { 'complete: status 200': statusIs(200) })) {
    tasksCompleted.add(reports.length);
  }
}
