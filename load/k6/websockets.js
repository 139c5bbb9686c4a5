// @ts-check
/**
 * TaskRunner's real-time WebSocket endpoint: sockets held open and subscribed to one project while tasks are written to
 * it, measuring how long an event takes from its change to the client.
 *
 *   k6 run load/k6/websockets.js -e BASE_URL=http://127.0.0.1:8080
 *
 * setup() signs in (EMAIL/PASSWORD, default the demo admin of `make run`; else it registers a throwaway account) and
 * creates a project. Scenarios (in parallel):
 *   sockets  SOCKETS VUs, each: POST /api/v1/ws/ticket, GET /api/v1/ws?ticket=…, subscribe to the project, hold the
 *            socket for HOLD (pinging every 5 s), close, again
 *   writer   POST /api/v1/tasks into the project, WRITE_RATE req/s: every task is a task.created event for every socket
 *
 * Environment overrides (-e NAME=value): BASE_URL, DURATION (default 30s), SOCKETS (10), HOLD (10s), WRITE_RATE (10),
 * EMAIL, PASSWORD, LATENCY_SCALE (1). The service allows RealTime__MaxSocketsPerUser (20) sockets per user and node, and
 * 10 messages a second per socket: raise the cap for SOCKETS above 20.
 *
 * Metrics of its own: ws_event_lag (ms from the change's transaction, the event's `at`, to its arrival), ws_events
 * (events received), ws_refusals (error, overflow or resync messages, and closes the client did not ask for).
 * Thresholds (exit code 99 when crossed): ws_event_lag p(99), ws_connecting p(99), the writer's p(99), no refusals,
 * events received, checks > 99.9 %.
 */

import http from 'k6/http';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import { clearInterval, setInterval, setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { envDuration, envNumber, envString, parseDurationSeconds, url } from './lib/config.js';
import { COMMON_OPTIONS, REQUEST_TIMEOUT, arrivalScenario, endpointThresholds } from './lib/options.js';
import { checkResponse, statusIs } from './lib/checks.js';

/** @typedef {{ token: string, projectId: string }} SetupData */

const DURATION = envDuration('DURATION', '30s');
const SOCKETS = Math.round(envNumber('SOCKETS', 10));
const HOLD = envDuration('HOLD', '10s');
const WRITE_RATE = envNumber('WRITE_RATE', 10);
const LATENCY_SCALE = envNumber('LATENCY_SCALE', 1);

const eventLag = new Trend('ws_event_lag', true);
const eventsReceived = new Counter('ws_events');
const refusals = new Counter('ws_refusals');

/** @type {import('k6/options').Options} */
export const options = {
  ...COMMON_OPTIONS,
  scenarios: {
    sockets: { executor: 'constant-vus', exec: 'hold', vus: SOCKETS, duration: DURATION, gracefulStop: '15s' },
    writer: arrivalScenario({ exec: 'write', endpoint: 'write', rate: WRITE_RATE, duration: DURATION }),
  },
  thresholds: {
    ws_event_lag: [`p(99)<${250 * LATENCY_SCALE}`],
    ws_connecting: [`p(99)<${250 * LATENCY_SCALE}`],
    ws_events: ['count>0'],
    ws_refusals: ['count==0'],
    checks: ['rate>0.999'],
    ...endpointThresholds('write', { p99: 150 * LATENCY_SCALE, p999: 400 * LATENCY_SCALE }),
  },
};

/**
 * A JSON POST with the access token, tagged with its endpoint.
 * @param {string} path
 * @param {string} endpoint
 * @param {unknown} body
 * @param {string} [token]
 */
function post(path, endpoint, body, token) {
  /** @type {Record<string, string>} */
  const headers = { 'Content-Type': 'application/json' };
  if (token !== undefined) {
    headers.Authorization = `Bearer ${token}`;
  }
  return http.post(url(path), JSON.stringify(body), { headers, tags: { endpoint }, timeout: REQUEST_TIMEOUT });
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

/** @returns {SetupData} */
export function setup() {
  const email = envString('EMAIL', 'admin@taskrunner.local');
  const password = envString('PASSWORD', 'taskrunner-demo');
  let login = post('/api/v1/auth/login', 'setup', { email, password });
  if (login.status !== 200) {
    const throwaway = `k6-${Date.now()}@example.test`;
    const secret = 'k6 load test password 123';
    post('/api/v1/auth/register', 'setup', { email: throwaway, password: secret, display_name: 'k6' });
    login = post('/api/v1/auth/login', 'setup', { email: throwaway, password: secret });
  }
  const token = field(login, 'access_token');
  if (typeof token !== 'string') {
    exec.test.abort(`could not sign in (status ${login.status}): set EMAIL/PASSWORD, or open registration`);
    throw new Error('unreachable');
  }
  const project = post('/api/v1/projects', 'setup', { name: `k6 websockets ${new Date().toISOString()}` }, token);
  const projectId = field(project, 'id');
  if (typeof projectId !== 'string') {
    exec.test.abort(`could not create a project (status ${project.status})`);
  }
  return { token, projectId: String(projectId) };
}

/**
 * One socket's life: a ticket, the upgrade, a subscription, HOLD of events, a clean close.
 * @param {SetupData} data
 */
export function hold(data) {
  const issued = post('/api/v1/ws/ticket', 'ticket', {}, data.token);
  if (!checkResponse(issued, 'ticket', { 'ticket: status 200': statusIs(200) })) {
    return;
  }
  const address = url(`/api/v1/ws?ticket=${encodeURIComponent(String(field(issued, 'ticket')))}`).replace(/^http/, 'ws');
  const socket = new WebSocket(address);
  let closing = false;
  socket.onopen = () => {
    socket.send(JSON.stringify({ type: 'subscribe', project_id: data.projectId }));
    const pinging = setInterval(() => socket.send(JSON.stringify({ type: 'ping' })), 5000);
    setTimeout(() => {
      closing = true;
      clearInterval(pinging);
      socket.close();
    }, parseDurationSeconds(HOLD) * 1000);
  };
  socket.onmessage = (event) => {
    if (event === undefined) {
      return;
    }
    const message = JSON.parse(String(event.data));
    if (typeof message.id === 'string') {
      eventsReceived.add(1);
      eventLag.add(Date.now() - Date.parse(message.at));
    } else if (message.type === 'error' || message.type === 'overflow' || message.type === 'resync') {
      refusals.add(1, { type: message.type });
    }
  };
  socket.onclose = () => {
    if (!closing) {
      refusals.add(1, { type: 'close' });
    }
  };
  socket.onerror = () => refusals.add(1, { type: 'socket_error' });
}

/** @param {SetupData} data */
export function write(data) {
  const res = post('/api/v1/tasks', 'write', {
    project_id: data.projectId,
    title: `k6 websockets ${exec.scenario.iterationInTest}`,
    kind: 'k6.websockets',
  }, data.token);
  checkResponse(res, 'write', { 'write: status 201': statusIs(201) });
}
