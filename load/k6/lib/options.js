// @ts-check
/**
 * Common k6 options and builders for scenarios and per-endpoint thresholds.
 */

import { parseDurationSeconds } from './config.js';

/**
 * @typedef {import('k6/options').Options} Options
 * @typedef {import('k6/options').ConstantArrivalRateScenario} ConstantArrivalRateScenario
 * @typedef {import('k6/options').Threshold} Threshold
 */

/**
 * Latency budget for one endpoint, in milliseconds.
 * @typedef {object} LatencyBudget
 * @property {number} p99   p(99) of http_req_duration must stay below this
 * @property {number} p999  p(99.9) of http_req_duration must stay below this
 */

/**
 * Trend statistics shown in the end-of-test summary (the thresholds use p(99) and p(99.9)).
 * @type {string[]}
 */
export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'max'];

/**
 * Options shared by every script of the suite.
 * @type {Options}
 */
export const COMMON_OPTIONS = {
  summaryTrendStats: SUMMARY_TREND_STATS,
  userAgent: 'taskrunner-k6/1.0',
  // Do not let a wedged service keep the run alive forever.
  setupTimeout: '30s',
  teardownTimeout: '10s',
};

/** Per-request timeout: a local health probe that takes this long has failed. */
export const REQUEST_TIMEOUT = '5s';

/**
 * A constant-arrival-rate scenario that calls the exported function `exec` `rate` times per second.
 *
 * Pre-allocates enough VUs for the target rate assuming requests take well under 100 ms,
 * and allows a bounded number more if the service slows down (k6 then reports
 * `dropped_iterations` instead of queueing without bound).
 * @param {object} spec
 * @param {string} spec.exec      name of the exported function to run
 * @param {string} spec.endpoint  value of the `endpoint` tag
 * @param {number} spec.rate      iterations (= requests) per second
 * @param {string} spec.duration  k6 duration string
 * @param {string} [spec.startTime]
 * @returns {ConstantArrivalRateScenario}
 */
export function arrivalScenario({ exec, endpoint, rate, duration, startTime }) {
  const preAllocatedVUs = Math.max(2, Math.ceil(rate / 20));
  /** @type {ConstantArrivalRateScenario} */
  const scenario = {
    executor: 'constant-arrival-rate',
    exec,
    rate: Math.max(1, Math.round(rate)),
    timeUnit: '1s',
    duration,
    preAllocatedVUs,
    maxVUs: Math.max(preAllocatedVUs * 4, 10),
    gracefulStop: '5s',
    tags: { endpoint },
  };
  if (startTime !== undefined) {
    scenario.startTime = startTime;
  }
  return scenario;
}

/**
 * Thresholds on `http_req_duration` p(99)/p(99.9) and on checks for one endpoint tag.
 * @param {string} endpoint
 * @param {LatencyBudget} budget
 * @returns {{ [name: string]: Threshold[] }}
 */
export function endpointThresholds(endpoint, budget) {
  return {
    [`http_req_duration{endpoint:${endpoint}}`]: [`p(99)<${budget.p99}`, `p(99.9)<${budget.p999}`],
    [`http_req_failed{endpoint:${endpoint}}`]: ['rate<0.001'],
    [`checks{endpoint:${endpoint}}`]: ['rate>0.999'],
  };
}

/**
 * Upper bound for `dropped_iterations`: 0.1 % of the planned iterations (at least 1 tolerated).
 * Dropped iterations mean k6 could not start an iteration on time because every VU was busy,
 * i.e. the service (or the box) could not keep up with the requested arrival rate.
 * @param {number} totalRatePerSecond sum of all scenario rates
 * @param {string} duration
 * @returns {Threshold[]}
 */
export function droppedIterationsThreshold(totalRatePerSecond, duration) {
  const planned = totalRatePerSecond * parseDurationSeconds(duration);
  return [`count<=${Math.max(1, Math.floor(planned * 0.001))}`];
}
