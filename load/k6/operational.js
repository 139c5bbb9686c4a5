// @ts-check
/**
 * TaskRunner operational endpoints under a steady, bounded load.
 *
 *   k6 run load/k6/operational.js -e BASE_URL=http://127.0.0.1:8080
 *
 * Scenarios (constant arrival rate, all running in parallel):
 *   live     GET /health/live     RATE req/s
 *   ready    GET /health/ready    RATE req/s   (touches the database)
 *   health   GET /health          RATE req/s   (JSON summary)
 *   metrics  GET /metrics         METRICS_RATE req/s (a scraper, not a prober: much lower rate)
 *
 * Environment overrides (-e NAME=value):
 *   BASE_URL       service root                  default http://127.0.0.1:8080 (loopback only)
 *   DURATION       length of every scenario      default 30s
 *   RATE           req/s for live, ready, health default 50
 *   METRICS_RATE   req/s for /metrics            default max(1, RATE / 10)
 *   LATENCY_SCALE  multiplies every latency budget (e.g. 2 on a slow or busy box) default 1
 *
 * Thresholds (the run fails, exit code 99, if any is crossed): per-endpoint p(99) and p(99.9)
 * of http_req_duration, http_req_failed < 0.1 %, checks > 99.9 %, dropped iterations <= 0.1 %.
 */

import { sleep } from 'k6';
import exec from 'k6/execution';
import { BASE_URL, envDuration, envNumber } from './lib/config.js';
import {
  COMMON_OPTIONS,
  arrivalScenario,
  droppedIterationsThreshold,
  endpointThresholds,
} from './lib/options.js';
import {
  bodyIsJsonObject,
  checkResponse,
  contentTypeIs,
  get,
  statusIs,
} from './lib/checks.js';

/** @typedef {import('./lib/options.js').LatencyBudget} LatencyBudget */

const DURATION = envDuration('DURATION', '30s');
const RATE = envNumber('RATE', 50);
const METRICS_RATE = envNumber('METRICS_RATE', Math.max(1, Math.round(RATE / 10)));
const LATENCY_SCALE = envNumber('LATENCY_SCALE', 1);

/**
 * Latency budgets in ms for a local run on a small (2-core) box where k6 itself shares the CPU
 * with the service. /health/ready and /health go to PostgreSQL; /metrics serialises every
 * instrument. Scale them all with LATENCY_SCALE rather than editing them for one slow run.
 * @type {{ [endpoint: string]: LatencyBudget }}
 */
const BUDGETS = {
  live: { p99: 10, p999: 50 },
  ready: { p99: 25, p999: 100 },
  health: { p99: 25, p999: 100 },
  metrics: { p99: 50, p999: 200 },
};

/**
 * @param {LatencyBudget} budget
 * @returns {LatencyBudget}
 */
function scaled(budget) {
  return { p99: budget.p99 * LATENCY_SCALE, p999: budget.p999 * LATENCY_SCALE };
}

/** @type {import('k6/options').Options} */
export const options = {
  ...COMMON_OPTIONS,
  scenarios: {
    live: arrivalScenario({ exec: 'live', endpoint: 'live', rate: RATE, duration: DURATION }),
    ready: arrivalScenario({ exec: 'ready', endpoint: 'ready', rate: RATE, duration: DURATION }),
    health: arrivalScenario({ exec: 'health', endpoint: 'health', rate: RATE, duration: DURATION }),
    metrics: arrivalScenario({
      exec: 'metrics',
      endpoint: 'metrics',
      rate: METRICS_RATE,
      duration: DURATION,
    }),
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    checks: ['rate>0.999'],
    dropped_iterations: droppedIterationsThreshold(3 * RATE + METRICS_RATE, DURATION),
    ...endpointThresholds('live', scaled(BUDGETS.live)),
    ...endpointThresholds('ready', scaled(BUDGETS.ready)),
    ...endpointThresholds('health', scaled(BUDGETS.health)),
    ...endpointThresholds('metrics', scaled(BUDGETS.metrics)),
  },
};

/**
 * Fails fast (instead of producing 30 s of 503s) when the service is down or not ready.
 * Requests made here carry the `setup` endpoint tag, so they do not count toward the
 * per-endpoint thresholds, and a 503 while the service finishes starting is not counted
 * in `http_req_failed` either.
 */
export function setup() {
  const attempts = 10;
  let lastStatus = 0;
  for (let i = 0; i < attempts; i++) {
    const res = get('/health/ready', 'setup', { body: false, expectedStatuses: [200, 503] });
    lastStatus = res.status;
    if (res.status === 200) {
      return;
    }
    sleep(1);
  }
  exec.test.abort(
    `${BASE_URL}/health/ready did not answer 200 after ${attempts} attempts ` +
      `(last status ${lastStatus}; 0 means no connection). Is the service running, ` +
      'is its database reachable and migrated?',
  );
}

export function live() {
  const res = get('/health/live', 'live', { body: false });
  checkResponse(res, 'live', {
    'live: status 200': statusIs(200),
  });
}

export function ready() {
  const res = get('/health/ready', 'ready', { body: false });
  checkResponse(res, 'ready', {
    'ready: status 200': statusIs(200),
  });
}

export function health() {
  const res = get('/health', 'health');
  checkResponse(res, 'health', {
    'health: status 200': statusIs(200),
    'health: content-type application/json': contentTypeIs('application/json'),
    'health: body is a JSON object': bodyIsJsonObject,
  });
}

export function metrics() {
  const res = get('/metrics', 'metrics');
  checkResponse(res, 'metrics', {
    'metrics: status 200': statusIs(200),
    // Prometheus text exposition (text/plain; version=0.0.4), or OpenMetrics if negotiated.
    'metrics: content-type prometheus text': contentTypeIs(
      'text/plain',
      'application/openmetrics-text',
    ),
    'metrics: has # TYPE lines': (r) => typeof r.body === 'string' && /^# TYPE /m.test(r.body),
  });
}
