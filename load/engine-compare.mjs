// TaskRunner side of load/engine-compare.sh (loopback, bounded). Modes (one JSON line each on stdout):
//   throughput <base> <key> <project> <tasks> <workers> <timeout>  create TASKS no-op tasks (bulk, 1,000 a request), then
//       WORKERS loops claim limit=100 and batch-complete until a claim comes back empty → tasks/s (first claim → last report)
//   latency <base> <key> <project> <rate/s> <seconds> <workers>  WORKERS idle long-polling loops (wait_seconds 5); a producer
//       creates RATE tasks/s (bulks of 10) for SECONDS; ready→started is read afterwards from the database by the caller
//   propagate <base> <key> <project> <tasks> <timeout>  a layered DAG of TASKS (root + layers of 100, 3 parents each) in
//       bulks of 1,000; claim the root, complete it failed; time until every descendant is cancelled (GET /batches/{id})
//   dag <base> <key> <project> <tasks> <workers> <timeout>  the same DAG shape, all succeeded by WORKERS claim/complete loops
//       layer by layer → wall time from the first claim to the last report
const [mode, base, apiKey, project, ...rest] = process.argv.slice(2);
if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(base ?? '')) { console.error(`refusing non-loopback ${base}`); process.exit(2); }
const REQUEST_TIMEOUT_MS = Number(process.env.REQUEST_TIMEOUT ?? 150) * 1000; // one request, not the phase
const headers = { 'Content-Type': 'application/json', 'X-API-Key': apiKey };
const sleep = ms => new Promise(r => setTimeout(r, ms));
const percentile = (values, p) => { const s = [...values].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(s.length * p) - 1)] ?? 0; };
async function call(method, path, body, times) {
  const started = performance.now();
  const response = await fetch(base + path, { method, headers, body: body && JSON.stringify(body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const json = await response.json();
  times?.push(performance.now() - started);
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json).slice(0, 500)}`);
  return json;
}
const post = (path, body, times) => call('POST', path, body, times);

// Claim/complete loops until a claim is empty (or the deadline); with waitSeconds they long-poll and stop on `stop()`.
function workers(count, deadline, { waitSeconds = 0, until = () => false } = {}) {
  const claimMs = [], completeMs = [];
  let conflicts = 0, first = 0, last = 0;
  const state = { done: 0 };
  async function loop() {
    await null; // let the caller finish assigning the state `until` may read
    while (Date.now() < deadline && !until()) {
      const { tasks } = await post('/api/v1/tasks/claim', { limit: 100, lease_seconds: 300, ...(waitSeconds ? { wait_seconds: waitSeconds } : {}) }, claimMs);
      if (tasks.length === 0) { if (waitSeconds) continue; return; }
      first ||= performance.now();
      const { results } = await post('/api/v1/tasks/complete',
        { reports: tasks.map(t => ({ task_id: t.id, lease_token: t.lease_token, status: 'succeeded' })) }, completeMs);
      last = performance.now();
      state.done += results.filter(r => r.status === 'ok').length;
      conflicts += results.filter(r => r.status !== 'ok').length;
    }
  }
  state.finished = Promise.all(Array.from({ length: count }, loop)).then(() => ({
    done: state.done, conflicts, seconds: (last - first) / 1000,
    claim_p50_ms: +percentile(claimMs, 0.5).toFixed(1), claim_p99_ms: +percentile(claimMs, 0.99).toFixed(1),
    complete_p50_ms: +percentile(completeMs, 0.5).toFixed(1), complete_p99_ms: +percentile(completeMs, 0.99).toFixed(1),
  }));
  return state;
}

// Root + layers of 100; layer 1 depends on the root, each later task on 3 tasks of the layer above. Bulks of 1,000
// reference earlier bulks' tasks by id. Returns {batches, root}.
async function createDag(total, title) {
  const ids = [], batches = [];
  const parentsOf = j => {
    if (j === 0) return [];
    const layer = Math.floor((j - 1) / 100) + 1, slot = (j - 1) % 100;
    if (layer === 1) return [0];
    return [...new Set([0, 7, 31].map(k => 1 + (layer - 2) * 100 + (slot + k) % 100))];
  };
  for (let from = 0; from < total; from += 1000) {
    const tasks = [];
    for (let j = from; j < Math.min(total, from + 1000); j++)
      tasks.push({ ref: `t${j}`, title: `${title} ${j}`, kind: 'noop',
        depends_on: parentsOf(j).map(p => p >= from ? `t${p}` : ids[p]) });
    const created = await post('/api/v1/tasks/bulk', { project_id: project, tasks });
    batches.push(created.batch_id);
    for (let j = from; j < from + tasks.length; j++) ids[j] = created.refs[`t${j}`];
  }
  return { batches, root: ids[0] };
}

const out = value => console.log(JSON.stringify(value));
if (mode === 'throughput') {
  const [tasksArg, workersArg, timeoutArg] = rest.map(Number);
  const deadline = Date.now() + timeoutArg * 1000;
  const body = { project_id: project, tasks: Array.from({ length: 1000 }, (_, i) => ({ title: `no-op ${i}`, kind: 'noop' })) };
  const createStarted = performance.now();
  for (let i = 0; i < tasksArg / 1000; i++) await post('/api/v1/tasks/bulk', body);
  const createSeconds = (performance.now() - createStarted) / 1000;
  const r = await workers(workersArg, deadline).finished;
  out({ ...r, create_seconds: +createSeconds.toFixed(2), seconds: +r.seconds.toFixed(2), tasks_per_second: Math.round(r.done / r.seconds), timed_out: Date.now() >= deadline });
} else if (mode === 'latency') {
  const [rate, seconds, workersArg] = rest.map(Number);
  const deadline = Date.now() + (seconds + 30) * 1000;
  let producing = true, created = 0;
  const pool = workers(workersArg, deadline, { waitSeconds: 1, until: () => !producing && pool.done >= created });
  await sleep(1500); // the loops are parked in long-polls before the first task exists
  const tick = 10 / rate * 1000, start = performance.now();
  for (let n = 0; performance.now() - start < seconds * 1000; n++) {
    const due = start + n * tick - performance.now();
    if (due > 0) await sleep(due);
    await post('/api/v1/tasks/bulk', { project_id: project, tasks: Array.from({ length: 10 }, (_, i) => ({ title: `latency ${n}.${i}`, kind: 'noop' })) });
    created += 10;
  }
  producing = false;
  const r = await pool.finished; // the loops exit once every created task is done (after their current long-poll)
  out({ created, done: r.done, conflicts: r.conflicts, claim_p50_ms: r.claim_p50_ms, complete_p50_ms: r.complete_p50_ms });
} else if (mode === 'propagate') {
  const [total, timeoutArg] = rest.map(Number);
  const createStarted = performance.now();
  const { batches, root } = await createDag(total, 'propagation');
  const createSeconds = (performance.now() - createStarted) / 1000;
  // BEFORE_FAIL: a shell command run between creating the DAG and failing its root (the caller's ANALYZE variant).
  if (process.env.BEFORE_FAIL) (await import('node:child_process')).execSync(process.env.BEFORE_FAIL, { stdio: 'inherit', timeout: 60000 });
  const { tasks } = await post('/api/v1/tasks/claim', { limit: 1, lease_seconds: 300 });
  if (tasks.length !== 1 || tasks[0].id !== root) throw new Error(`expected to claim the root only, got ${JSON.stringify(tasks.map(t => t.id))}`);
  const deadline = Date.now() + timeoutArg * 1000;
  const started = performance.now(), completeTimes = [];
  const { results } = await post('/api/v1/tasks/complete', { reports: [{ task_id: root, lease_token: tasks[0].lease_token, status: 'failed', error: 'benchmark' }] }, completeTimes);
  if (results[0].status !== 'ok') throw new Error(`root complete: ${JSON.stringify(results[0])}`);
  let cancelled = 0, polls = 0;
  while (Date.now() < deadline) {
    const counts = await Promise.all(batches.map(b => call('GET', `/api/v1/batches/${b}`)));
    polls++;
    cancelled = counts.reduce((sum, c) => sum + (c.counts.cancelled ?? 0), 0);
    if (cancelled >= total - 1) break;
    await sleep(5);
  }
  const seconds = (performance.now() - started) / 1000;
  out({ tasks: total, cancelled, polls, create_seconds: +createSeconds.toFixed(2), complete_failed_ms: +completeTimes[0].toFixed(1),
        propagation_seconds: +seconds.toFixed(3), timed_out: cancelled < total - 1 });
} else if (mode === 'dag') {
  const [total, workersArg, timeoutArg] = rest.map(Number);
  await createDag(total, 'dag');
  const deadline = Date.now() + timeoutArg * 1000;
  // Long-poll so a worker finding the next layer not yet released waits instead of quitting; stop when all are done.
  const pool = workers(workersArg, deadline, { waitSeconds: 1, until: () => pool.done >= total });
  const r = await pool.finished;
  out({ tasks: total, done: r.done, conflicts: r.conflicts, seconds: +r.seconds.toFixed(2), tasks_per_second: Math.round(r.done / r.seconds), timed_out: Date.now() >= deadline });
} else {
  console.error('mode: throughput | latency | propagate | dag'); process.exit(2);
}
