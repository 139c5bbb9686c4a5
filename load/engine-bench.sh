#!/usr/bin/env bash
# Engine throughput (issue 7): claim-and-complete of no-op pull workers, all on this machine, loopback only, bounded.
#   N independent no-op tasks are created (bulk, 1,000 per request); then WORKERS concurrent loops each claim
#   `limit` = BATCH tasks (POST /api/v1/tasks/claim) and report them in one batch (POST /api/v1/tasks/complete), until a
#   claim comes back empty. Reported: tasks/s from the first claim to the last report, and the claim/complete latencies.
#
# Usage (starts its own PostgreSQL instance "engine-bench" and the AOT binary, stops both at the end):
#   make publish && load/engine-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner), PORT (5193), TASKS (20000), WORKERS (8), BATCH (100), TIMEOUT (120 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
PORT=${PORT:-5193}
TASKS=${TASKS:-20000}
WORKERS=${WORKERS:-8}
BATCH=${BATCH:-100}
TIMEOUT=${TIMEOUT:-120}
BASE_URL=http://127.0.0.1:$PORT
INSTANCE=engine-bench
WORK=$(mktemp -d)

log() { printf '[engine-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no AOT binary at $BINARY (run: make publish)"
for tool in jq curl node python3; do command -v "$tool" >/dev/null || die "$tool is required"; done

service_pid=
cleanup() {
    # Each step on its own, so a service that already exited (wait's non-zero status) cannot skip stopping PostgreSQL.
    if [[ -n $service_pid ]]; then
        kill "$service_pid" 2>/dev/null || true
        wait "$service_pid" 2>/dev/null || true
    fi
    "$ROOT/scripts/pg.sh" stop "$INSTANCE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log "private PostgreSQL, a fresh database, migrations"
"$ROOT/scripts/pg.sh" start "$INSTANCE" >&2
"$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX -c 'DROP DATABASE IF EXISTS taskrunner_engine WITH (FORCE)' \
    -c 'CREATE DATABASE taskrunner_engine' >/dev/null
DB="$("$ROOT/scripts/pg.sh" connstr taskrunner_engine "$INSTANCE");Max Auto Prepare=50"
dotnet run --project "$ROOT/migrations/TaskRunner.Migrations.csproj" -c Release -- up --Database:ConnectionString="$DB" >/dev/null

log "service on $BASE_URL"
bench_start_service RateLimiting__Api__PermitLimit=1000000 RateLimiting__Search__PermitLimit=1000000 RateLimiting__Bulk__PermitLimit=1000000 RateLimiting__Worker__PermitLimit=1000000 RateLimiting__Auth__PermitLimit=1000000

email="bench@example.test"
bench_register "$email"
api_key=$(bench_api_key "$email")
auth=(-H "X-API-Key: $api_key" -H 'Content-Type: application/json')
project=$(bench_project "$api_key" "Engine benchmark")

log "creating $TASKS no-op tasks"
python3 - "$project" 1000 >"$WORK/bulk.json" <<'PY'
import json, sys
print(json.dumps({"project_id": sys.argv[1], "tasks": [{"title": f"no-op {i}", "kind": "noop"} for i in range(int(sys.argv[2]))]}))
PY
for _ in $(seq $((TASKS / 1000))); do
    curl -sf -o /dev/null "${auth[@]}" --data-binary @"$WORK/bulk.json" "$BASE_URL/api/v1/tasks/bulk" || die "bulk create failed"
done

cat >"$WORK/workers.mjs" <<'JS'
// WORKERS loops: claim BATCH, report them all in one request, until a claim is empty. Prints one JSON summary line.
const [base, apiKey, workers, batch, timeoutSeconds] = process.argv.slice(2);
const headers = { 'Content-Type': 'application/json', 'X-API-Key': apiKey };
const deadline = Date.now() + Number(timeoutSeconds) * 1000;
const claimMs = [], completeMs = [];
let done = 0, conflicts = 0;
async function post(path, body, times) {
  const started = performance.now();
  const response = await fetch(base + path, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = await response.json();
  times.push(performance.now() - started);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}
async function worker() {
  while (Date.now() < deadline) {
    const { tasks } = await post('/api/v1/tasks/claim', { limit: Number(batch), lease_seconds: 300 }, claimMs);
    if (tasks.length === 0) return;
    const { results } = await post('/api/v1/tasks/complete',
      { reports: tasks.map(t => ({ task_id: t.id, lease_token: t.lease_token, status: 'succeeded' })) }, completeMs);
    done += results.filter(r => r.status === 'ok').length;
    conflicts += results.filter(r => r.status !== 'ok').length;
  }
}
const percentile = (values, p) => { const s = [...values].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(s.length * p) - 1)] ?? 0; };
const started = performance.now();
await Promise.all(Array.from({ length: Number(workers) }, worker));
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({
  completed: done, conflicts, seconds: +seconds.toFixed(2), tasks_per_second: Math.round(done / seconds),
  claim_p50_ms: +percentile(claimMs, 0.5).toFixed(1), claim_p99_ms: +percentile(claimMs, 0.99).toFixed(1),
  complete_p50_ms: +percentile(completeMs, 0.5).toFixed(1), complete_p99_ms: +percentile(completeMs, 0.99).toFixed(1),
}));
JS

log "$WORKERS no-op pull workers, claim limit=$BATCH, batch complete"
result=$(node "$WORK/workers.mjs" "$BASE_URL" "$api_key" "$WORKERS" "$BATCH" "$TIMEOUT")
left=$("$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX -d taskrunner_engine -c "SELECT count(*) FROM tasks WHERE status <> 'succeeded'")
echo "$result" | jq -r --arg tasks "$TASKS" --arg workers "$WORKERS" --arg batch "$BATCH" --arg left "$left" '
  "engine throughput: \(.completed) of \($tasks) no-op tasks in \(.seconds) s = \(.tasks_per_second) tasks/s " +
  "(\($workers) workers, claim limit \($batch), batch complete; \(.conflicts) conflicts; \($left) not succeeded)\n" +
  "claim latency p50 \(.claim_p50_ms) ms, p99 \(.claim_p99_ms) ms; complete p50 \(.complete_p50_ms) ms, p99 \(.complete_p99_ms) ms"'
