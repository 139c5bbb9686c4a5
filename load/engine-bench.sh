#!/usr/bin/env bash
# Engine throughput (issue 7): claim-and-complete of no-op pull workers, all on this machine, loopback only, bounded.
#   N independent no-op tasks are created (bulk, 1,000 per request); then WORKERS concurrent loops each claim
#   `limit` = BATCH tasks (POST /api/v1/tasks/claim) and report them in one batch (POST /api/v1/tasks/complete), until a
#   claim comes back empty. Reported: tasks/s from the first claim to the last report, and the claim/complete latencies.
#
#   EVENTS_PAIRS=N runs N pairs of rounds instead of one, the event log on and off (Events__Enabled), alternating
#   (on/off, then off/on, ...), each round on a fresh database cloned from one migrated template and a restarted service;
#   reports each round, the events each wrote, the medians and the event log's cost in tasks/s.
#
# Usage (starts its own PostgreSQL instance "engine-bench" and the AOT binary, stops both at the end):
#   make publish && load/engine-bench.sh
#   EVENTS_PAIRS=3 load/engine-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner), PORT (5193), TASKS (20000), WORKERS (8), BATCH (100), TIMEOUT (120 s),
#   EVENTS_PAIRS (0: one round with the event log on).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
PORT=${PORT:-5193}
TASKS=${TASKS:-20000}
WORKERS=${WORKERS:-8}
BATCH=${BATCH:-100}
TIMEOUT=${TIMEOUT:-120}
EVENTS_PAIRS=${EVENTS_PAIRS:-0}
BASE_URL=http://127.0.0.1:$PORT
INSTANCE=engine-bench
WORK=$(mktemp -d)

log() { printf '[engine-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no AOT binary at $BINARY (run: make publish)"
[[ $EVENTS_PAIRS =~ ^[0-9]+$ ]] || die "EVENTS_PAIRS must be a number of pairs"
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

psql_admin() { "$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX "$@"; }
log "private PostgreSQL, a migrated template database"
"$ROOT/scripts/pg.sh" start "$INSTANCE" >&2
psql_admin -c 'DROP DATABASE IF EXISTS taskrunner_engine WITH (FORCE)' \
    -c 'DROP DATABASE IF EXISTS taskrunner_engine_template WITH (FORCE)' -c 'CREATE DATABASE taskrunner_engine_template' >/dev/null
TEMPLATE_DB="$("$ROOT/scripts/pg.sh" connstr taskrunner_engine_template "$INSTANCE")"
dotnet run --project "$ROOT/migrations/TaskRunner.Migrations.csproj" -c Release -- up --Database:ConnectionString="$TEMPLATE_DB" >/dev/null
DB="$("$ROOT/scripts/pg.sh" connstr taskrunner_engine "$INSTANCE");Max Auto Prepare=50"

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

python3 - 1000 >"$WORK/tasks.json" <<'PY'
import json, sys
print(json.dumps([{"title": f"no-op {i}", "kind": "noop"} for i in range(int(sys.argv[1]))]))
PY

# round EVENTS_ENABLED: a fresh database from the template, the service with the event log on or off, TASKS no-op tasks
# claimed and completed; prints the round's lines and sets round_tasks_per_second.
round_tasks_per_second=0
round() {
    local events_enabled=$1 api_key project result left events
    psql_admin -c 'DROP DATABASE IF EXISTS taskrunner_engine WITH (FORCE)' \
        -c 'CREATE DATABASE taskrunner_engine TEMPLATE taskrunner_engine_template' >/dev/null
    log "service on $BASE_URL, Events__Enabled=$events_enabled"
    bench_start_service Events__Enabled="$events_enabled" RateLimiting__Api__PermitLimit=1000000 \
        RateLimiting__Search__PermitLimit=1000000 RateLimiting__Bulk__PermitLimit=1000000 \
        RateLimiting__Worker__PermitLimit=1000000 RateLimiting__Auth__PermitLimit=1000000
    bench_register bench@example.test
    api_key=$(bench_api_key bench@example.test)
    project=$(bench_project "$api_key" "Engine benchmark")
    log "creating $TASKS no-op tasks"
    jq -c --arg project "$project" '{project_id: $project, tasks: .}' "$WORK/tasks.json" >"$WORK/bulk.json"
    for _ in $(seq $((TASKS / 1000))); do
        curl -sf -o /dev/null -H "X-API-Key: $api_key" -H 'Content-Type: application/json' --data-binary @"$WORK/bulk.json" \
            "$BASE_URL/api/v1/tasks/bulk" || die "bulk create failed"
    done

    log "$WORKERS no-op pull workers, claim limit=$BATCH, batch complete"
    result=$(node "$WORK/workers.mjs" "$BASE_URL" "$api_key" "$WORKERS" "$BATCH" "$TIMEOUT")
    left=$(psql_admin -d taskrunner_engine -c "SELECT count(*) FROM tasks WHERE status <> 'succeeded'")
    events=$(psql_admin -d taskrunner_engine -c "SELECT count(*) FROM events WHERE task_id IS NOT NULL OR batch_id IS NOT NULL")
    kill "$service_pid" && wait "$service_pid" || true
    service_pid=
    echo "$result" | jq -r --arg tasks "$TASKS" --arg workers "$WORKERS" --arg batch "$BATCH" --arg left "$left" \
        --arg events "$events" --arg enabled "$events_enabled" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '
      "engine throughput (Events__Enabled=\($enabled)): \(.completed) of \($tasks) no-op tasks in \(.seconds) s = \(.tasks_per_second) tasks/s " +
      "(\($workers) workers, claim limit \($batch), batch complete; \(.conflicts) conflicts; \($left) not succeeded; \($events) task events written)\n" +
      "claim latency p50 \(.claim_p50_ms) ms, p99 \(.claim_p99_ms) ms; complete p50 \(.complete_p50_ms) ms, p99 \(.complete_p99_ms) ms; load average \($load)"'
    round_tasks_per_second=$(jq -r .tasks_per_second <<<"$result")
}

median() { sort -n | awk '{ values[NR] = $1 } END { print (NR % 2) ? values[(NR + 1) / 2] : (values[NR / 2] + values[NR / 2 + 1]) / 2 }'; }

if (( EVENTS_PAIRS == 0 )); then
    round true
    exit 0
fi
on=() off=()
for pair in $(seq "$EVENTS_PAIRS"); do
    # Alternating which comes first, so a drift of the machine over the run does not favour one side.
    order=(true false); (( pair % 2 == 0 )) && order=(false true)
    for enabled in "${order[@]}"; do
        round "$enabled"
        if [[ $enabled == true ]]; then on+=("$round_tasks_per_second"); else off+=("$round_tasks_per_second"); fi
    done
done
median_on=$(printf '%s\n' "${on[@]}" | median)
median_off=$(printf '%s\n' "${off[@]}" | median)
awk -v on="$median_on" -v off="$median_off" -v pairs="$EVENTS_PAIRS" -v ons="${on[*]}" -v offs="${off[*]}" 'BEGIN {
    printf "event log over %d pairs: on %s tasks/s (median %s), off %s tasks/s (median %s): cost %.1f %% of tasks/s\n",
        pairs, ons, on, offs, off, (off - on) * 100 / off }'
