// graphile-worker 0.18 side of load/engine-compare.sh: N no-op jobs enqueued in ONE statement (graphile_worker.add_jobs),
// then one worker process at CONCURRENCY with its batching on (localQueue.size 500, completeJobBatchDelay 0) until the
// jobs table is empty. Prints one JSON line: {jobs, seconds, jobs_per_second, ...}.
// Usage: node bench.mjs <connection string> <jobs> <concurrency> <timeout seconds>
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import pg from 'pg';

const [connectionString, jobsArg, concurrencyArg, timeoutArg] = process.argv.slice(2);
const jobs = Number(jobsArg), concurrency = Number(concurrencyArg), timeoutMs = Number(timeoutArg) * 1000;
if (!connectionString || !(jobs > 0) || !(concurrency > 0) || !(timeoutMs > 0)) {
  console.error('usage: node bench.mjs <connection string> <jobs> <concurrency> <timeout seconds>');
  process.exit(2);
}
const host = new URL(connectionString).hostname;
if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) { console.error(`refusing non-loopback host ${host}`); process.exit(2); }

const quiet = new Logger(() => (level, message) => { if (level === 'error') console.error(message); });
const utils = await makeWorkerUtils({ connectionString, logger: quiet });
await utils.migrate();
const client = new pg.Client({ connectionString });
await client.connect();
const count = async () => Number((await client.query('SELECT count(*) FROM graphile_worker._private_jobs')).rows[0].count);
if (await count() !== 0) throw new Error('graphile_worker._private_jobs is not empty');

let enqueueStarted = performance.now();
await client.query(`SELECT graphile_worker.add_jobs(ARRAY(
    SELECT json_populate_record(NULL::graphile_worker.job_spec, json_build_object('identifier', 'noop', 'payload', json_build_object('i', i)))
    FROM generate_series(1, $1) AS i))`, [jobs]);
const enqueueSeconds = (performance.now() - enqueueStarted) / 1000;
if (await count() !== jobs) throw new Error('add_jobs did not enqueue every job');

let executed = 0;
const started = performance.now();
const runner = await run({
  connectionString, concurrency, noHandleSignals: true, logger: quiet,
  taskList: { noop: async () => { executed++; } },
  preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0, pollInterval: 2000 } },
});
const deadline = Date.now() + timeoutMs;
let left = jobs;
while ((left = await count()) > 0 && Date.now() < deadline) await new Promise(r => setTimeout(r, 20));
const seconds = (performance.now() - started) / 1000;
await runner.stop();
await client.end();
await utils.release();
console.log(JSON.stringify({
  jobs, executed, left, concurrency, enqueue_seconds: +enqueueSeconds.toFixed(2),
  seconds: +seconds.toFixed(2), jobs_per_second: Math.round((jobs - left) / seconds), timed_out: left > 0,
}));
process.exit(left > 0 ? 1 : 0);
