// Open-model (fixed arrival rate) load generator for the mixed task load, used by load/mixed-rate.sh. No dependencies.
//
//   node load/mixed-rate.mjs <base-url> <api-key> <project-id> <ids-file> <rate/s> <seconds> [warmup-seconds]
//
// Every 10 requests: 7 × GET /api/v1/tasks/{id} (ids from <ids-file>, one a line), 2 × a list page of the project
// (a walk: the next page of an earlier answer while one is at hand, else a first page; two sorts), 1 × POST /api/v1/tasks.
// MIX=bulk sends only POST /api/v1/tasks/bulk instead: a 1,000-task layered DAG (20 layers of 50, each task below the
// first depending on three of the layer above: 2,850 edges), the shape of load/tasks-bench.sh; <ids-file> is not read.
//
// Requests are scheduled at fixed times (start + i / rate) whatever the answers do, as k6's constant-arrival-rate does,
// and a request's latency runs from its scheduled time, so a stalled service or generator is not hidden (no
// coordinated omission). A request whose time comes while MAX_IN_FLIGHT (default 256) are outstanding is dropped (k6:
// dropped_iterations); one sent more than LATE_MS (default 10) after its time is counted late (the generator itself
// fell behind: read the latencies of such a run with care). Warm-up requests are sent the same way and not counted.
//
// Prints one JSON line: counts, and p50/p90/p99/p99.9/max latency in ms overall and per request kind.
import http from 'node:http';
import { readFileSync } from 'node:fs';

const [base, apiKey, project, idsFile, rateArg, secondsArg, warmupArg = '5'] = process.argv.slice(2);
const target = /^http:\/\/(127\.0\.0\.1|localhost):(\d+)$/.exec(base ?? '');
if (target === null) {
  console.error(`refusing a base URL that is not http://127.0.0.1:<port> or http://localhost:<port>: ${base}`);
  process.exit(2);
}
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const warmupSeconds = Number(warmupArg);
if (!(rate > 0) || !(seconds > 0) || !(warmupSeconds >= 0) || !apiKey || !project) {
  console.error('usage: node load/mixed-rate.mjs <base-url> <api-key> <project-id> <ids-file> <rate/s> <seconds> [warmup-seconds]');
  process.exit(2);
}
const bulkMix = process.env.MIX === 'bulk';
const ids = bulkMix ? [] : readFileSync(idsFile, 'utf8').split('\n').filter((line) => line.length > 0);
if (!bulkMix && ids.length === 0) {
  console.error(`no task ids in ${idsFile}`);
  process.exit(2);
}
const MAX_IN_FLIGHT = Number(process.env.MAX_IN_FLIGHT ?? 256);
const LATE_MS = Number(process.env.LATE_MS ?? 10);
const REQUEST_TIMEOUT_MS = Number(process.env.REQUEST_TIMEOUT_MS ?? 5000);
const LIST_WALK_PAGES = 10;
const SORTS = ['-created_at', '-priority,created_at'];

const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
const hostname = target[1];
const port = Number(target[2]);

/** @type {{ sort: string, cursor: string, depth: number }[]} list pages still to walk */
const pendingPages = [];

/** The bulk request's body: 1,000 tasks, 2,850 edges between them (by ref). */
function bulkBody() {
  const tasks = [];
  for (let i = 0; i < 1000; i++) {
    const layer = Math.floor(i / 50), slot = i % 50;
    const task = { ref: `t${i}`, title: `Step ${i} of the nightly pipeline`, kind: 'etl.step', priority: (i * 37) % 101, metadata: { layer, slot } };
    if (layer > 0) task.depends_on = [0, 1, 2].map((k) => `t${(layer - 1) * 50 + ((slot + k * 7) % 50)}`);
    tasks.push(task);
  }
  return JSON.stringify({ project_id: project, tasks });
}
const BULK_BODY = bulkMix ? bulkBody() : '';

/** The i-th request of the mix: [kind, method, path, body, expected status]. */
function requestOf(i) {
  if (bulkMix) return ['bulk', 'POST', '/api/v1/tasks/bulk', BULK_BODY, 201];
  const slot = i % 10;
  if (slot < 7) {
    return ['get', 'GET', `/api/v1/tasks/${ids[(i * 7919) % ids.length]}`, undefined, 200];
  }
  if (slot < 9) {
    const next = pendingPages.shift();
    const sort = next?.sort ?? SORTS[i % SORTS.length];
    const cursor = next === undefined ? '' : `&cursor=${encodeURIComponent(next.cursor)}`;
    return ['list', 'GET', `/api/v1/tasks?project_id=${project}&sort=${sort}&limit=50${cursor}`, { sort, depth: next?.depth ?? 0 }, 200];
  }
  const body = JSON.stringify({ project_id: project, title: `mixed-rate create ${i}`, kind: 'mixed.create', priority: i % 101 });
  return ['create', 'POST', '/api/v1/tasks', body, 201];
}

const measured = { get: [], list: [], create: [], bulk: [] };
const counts = { sent: 0, dropped: 0, late: 0, errors: 0, timeouts: 0 };
let inFlight = 0;
let maxLagMs = 0;
let firstError = '';

function send(i, scheduledAt, record) {
  const [kind, method, path, extra, expected] = requestOf(i);
  const lag = performance.now() - scheduledAt;
  if (record) {
    counts.sent++;
    maxLagMs = Math.max(maxLagMs, lag);
    if (lag > LATE_MS) counts.late++;
  }
  inFlight++;
  const headers = { 'X-API-Key': apiKey };
  const body = kind === 'create' || kind === 'bulk' ? extra : undefined;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  let finished = false;
  const finish = (error, status, text) => {
    if (finished) return;
    finished = true;
    inFlight--;
    if (kind === 'list' && status === 200) {
      const next = /"next_cursor":"([^"]+)"/.exec(text);
      if (next !== null && extra.depth + 1 < LIST_WALK_PAGES) pendingPages.push({ sort: extra.sort, cursor: next[1], depth: extra.depth + 1 });
    }
    if (!record) return;
    if (error !== undefined || status !== expected) {
      counts.errors++;
      if (error === 'timeout') counts.timeouts++;
      firstError ||= `${method} ${path}: ${error ?? `status ${status}: ${text.slice(0, 200)}`}`;
      return;
    }
    measured[kind].push(performance.now() - scheduledAt);
  };
  const req = http.request({ agent, hostname, port, method, path, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
    const chunks = [];
    res.on('data', (chunk) => chunks.push(chunk));
    res.on('end', () => finish(undefined, res.statusCode, Buffer.concat(chunks).toString('utf8')));
    res.on('error', (e) => finish(e.message, 0, ''));
  });
  req.on('timeout', () => { req.destroy(); finish('timeout', 0, ''); });
  req.on('error', (e) => finish(e.message, 0, ''));
  req.end(body);
}

/** Sends every request whose time has come, then waits for the next one; resolves when the phase is over. */
function phase(durationSeconds, firstIndex, record) {
  return new Promise((resolve) => {
    const total = Math.round(rate * durationSeconds);
    const start = performance.now();
    let next = 0;
    const tick = () => {
      const now = performance.now();
      while (next < total && start + (next * 1000) / rate <= now) {
        const scheduledAt = start + (next * 1000) / rate;
        if (inFlight >= MAX_IN_FLIGHT) {
          if (record) counts.dropped++;
        } else {
          send(firstIndex + next, scheduledAt, record);
        }
        next++;
      }
      if (next >= total) {
        resolve(firstIndex + total);
        return;
      }
      setTimeout(tick, Math.max(0, start + (next * 1000) / rate - performance.now()));
    };
    tick();
  });
}

function waitForIdle(deadlineMs) {
  return new Promise((resolve) => {
    const check = () => (inFlight === 0 || performance.now() > deadlineMs ? resolve() : setTimeout(check, 5));
    check();
  });
}

function summary(values) {
  const sorted = Float64Array.from(values).sort();
  const at = (p) => (sorted.length === 0 ? 0 : +sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)].toFixed(2));
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: at(1) };
}

const afterWarmup = warmupSeconds > 0 ? await phase(warmupSeconds, 0, false) : 0;
await waitForIdle(performance.now() + REQUEST_TIMEOUT_MS);
const begun = performance.now();
await phase(seconds, afterWarmup, true);
const sendingSeconds = (performance.now() - begun) / 1000;
await waitForIdle(performance.now() + REQUEST_TIMEOUT_MS + 1000);
agent.destroy();

const all = [...measured.get, ...measured.list, ...measured.create, ...measured.bulk];
console.log(JSON.stringify({
  rate,
  seconds,
  planned: Math.round(rate * seconds),
  ...counts,
  achieved_rps: +(counts.sent / sendingSeconds).toFixed(1),
  max_send_lag_ms: +maxLagMs.toFixed(1),
  all: summary(all),
  get: summary(measured.get),
  list: summary(measured.list),
  create: summary(measured.create),
  bulk: summary(measured.bulk),
  first_error: firstError,
}));
