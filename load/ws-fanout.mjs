// Fan-out client for load/ws-fanout-bench.sh: SOCKETS WebSockets (bearer subprotocol) subscribed round-robin to the
// projects of TARGETS_FILE (lines "<project_id> <task_id>"), then a writer PATCHes the projects' tasks round-robin at RATE
// per second for DURATION seconds (open model: each write at its scheduled time, never waiting for the previous one).
// Every task.updated event a socket receives is timed two ways:
//   from_at:       received − the event's `at` (its transaction's start): commit → received plus the transaction's length
//   from_response: received − the writer's response to the PATCH that caused it: commit → received minus the response's
//                  way back (negative when the event overtakes the response)
// Prints one JSON summary line.
//   node ws-fanout.mjs BASE_URL TOKEN TARGETS_FILE SOCKETS RATE DURATION
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const [base, token, targetsFile, socketsText, rateText, durationText] = process.argv.slice(2);
if (!/^http:\/\/127\.0\.0\.\d+(:\d+)?$/.test(base)) throw new Error('loopback only: http://127.0.0.x');
const targets = readFileSync(targetsFile, 'utf8').split('\n').filter(Boolean).map(line => {
  const [projectId, taskId] = line.split(' ');
  return { projectId, taskId };
});
const socketCount = Number(socketsText), rate = Number(rateText), duration = Number(durationText);
const now = () => performance.timeOrigin + performance.now();

// "2026-12-07T22:00:00.123456Z" → epoch milliseconds with the microseconds kept.
function epochMs(text) {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(text);
  return Date.parse(match[1] + 'Z') + Number(`0.${match[2] ?? '0'}`) * 1000;
}

const received = []; // [key "<task_id>:<version>", received at, lag from at]
function openSocket(index) {
  return new Promise((resolve, reject) => {
    const projectId = targets[index % targets.length].projectId;
    const socket = new WebSocket(base.replace('http', 'ws') + '/api/v1/ws', ['bearer', token], { perMessageDeflate: false });
    socket.on('open', () => socket.send(JSON.stringify({ type: 'subscribe', project_id: projectId })));
    socket.on('message', raw => {
      const at = now();
      const message = JSON.parse(raw.toString());
      if (message.type === 'subscribed') resolve(socket);
      else if (message.type === 'task.updated') received.push([`${message.data.task_id}:${message.data.version}`, at, at - epochMs(message.at)]);
      else if (message.type === 'error' || message.type === 'overflow') reject(new Error(JSON.stringify(message)));
    });
    socket.on('error', reject);
  });
}
const sockets = [];
for (let i = 0; i < socketCount; i += 50)
  sockets.push(...await Promise.all(Array.from({ length: Math.min(50, socketCount - i) }, (_, j) => openSocket(i + j))));

const responded = new Map(); // key → response time
const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` };
let written = 0, late = 0;
const writeErrors = new Map(); // status (or the error) → count
async function write(sequence) {
  const target = targets[sequence % targets.length];
  const response = await fetch(`${base}/api/v1/tasks/${target.taskId}`, {
    method: 'PATCH', headers, body: JSON.stringify({ title: `update ${sequence}` }),
  });
  const at = now();
  await response.arrayBuffer();
  if (!response.ok) { writeErrors.set(response.status, (writeErrors.get(response.status) ?? 0) + 1); return; }
  // The task's version is its ETag ("<version>").
  responded.set(`${target.taskId}:${response.headers.get('etag').replaceAll('"', '')}`, at);
  written++;
}
const writes = [];
const started = now(), total = rate * duration;
for (let sequence = 0; sequence < total; sequence++) {
  const due = started + sequence * 1000 / rate;
  const wait = due - now();
  if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait));
  else if (wait < -5) late++;
  writes.push(write(sequence).catch(error => writeErrors.set(error.message, (writeErrors.get(error.message) ?? 0) + 1)));
}
await Promise.all(writes);
const writeSeconds = (now() - started) / 1000;
// The last events' deliveries: wait until every expected one arrived, at most 5 s.
const expected = written * socketCount / targets.length;
for (let waited = 0; received.length < expected && waited < 5000; waited += 50) await new Promise(resolve => setTimeout(resolve, 50));
for (const socket of sockets) socket.terminate();

const percentile = (values, p) => { const s = [...values].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(s.length * p) - 1)] ?? 0; };
const fromAt = received.map(([, , lag]) => lag);
const fromResponse = received.filter(([key]) => responded.has(key)).map(([key, at]) => at - responded.get(key));
const round = value => +value.toFixed(1);
console.log(JSON.stringify({
  sockets: socketCount, projects: targets.length, writes: written, write_errors: JSON.stringify(Object.fromEntries(writeErrors)), late_writes: late,
  write_seconds: round(writeSeconds), events_per_second: round(written / writeSeconds),
  deliveries_expected: expected, deliveries: received.length, deliveries_per_second: round(received.length / writeSeconds),
  from_at_p50_ms: round(percentile(fromAt, 0.5)), from_at_p99_ms: round(percentile(fromAt, 0.99)), from_at_max_ms: round(percentile(fromAt, 1)),
  from_response_p50_ms: round(percentile(fromResponse, 0.5)), from_response_p99_ms: round(percentile(fromResponse, 0.99)),
  from_response_max_ms: round(percentile(fromResponse, 1)),
}));
process.exit(0);
