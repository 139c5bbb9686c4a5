#!/usr/bin/env bash
# Engine comparison (issue 7), all on this machine, loopback only, every phase bounded. ONE private PostgreSQL instance
# ("engine-compare") serves both systems, each in its own database:
#   1. TaskRunner: TASKS no-op tasks (POST /api/v1/tasks/bulk, 1,000 a request), WORKERS no-op pull loops claiming
#      limit=100 and batch-completing until a claim is empty → tasks/s (first claim → last report)
#   2. graphile-worker 0.18 (load/graphile): TASKS no-op jobs enqueued in one statement (graphile_worker.add_jobs), one
#      worker at concurrency WORKERS with localQueue.size 500 and completeJobBatchDelay 0, until none is left → jobs/s
#   3. ready→started latency: WORKERS idle long-polling loops, a producer creating RATE tasks/s for LATENCY_SECONDS;
#      p50/p99 of started_at − ready time (created_at) from the database, and the service's /metrics histogram
#   4. propagation: a 10,000-task layered DAG (root + layers of 100, 101 levels, 3 parents each, 10 bulk requests); the root is
#      claimed and completed failed; time until all 9,999 descendants are cancelled (polling GET /api/v1/batches/{id})
#      4b. the same once more with the planner's statistics fresh (ANALYZE between creating the DAG and failing it)
#   5. the same DAG succeeded layer by layer by WORKERS long-polling loops: wall time, and ready→started of its tasks
#      (started_at − the last parent's ended_at)
#
# Usage (starts its own PostgreSQL instance and the AOT binary, stops both at the end):
#   make publish && (cd load/graphile && npm ci) && load/engine-compare.sh
# Environment: BINARY (artifacts/aot/TaskRunner), PORT (5197), TASKS (20000), WORKERS (8), DAG_TASKS (10000),
#   RATE (200 tasks/s), LATENCY_SECONDS (10), TIMEOUT (120 s per phase), EXPLAIN_SLOW_MS (unset: auto_explain
#   of slower statements into .data/pg-engine-compare/server.log, for diagnosis only).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
PORT=${PORT:-5197}
TASKS=${TASKS:-20000}
WORKERS=${WORKERS:-8}
DAG_TASKS=${DAG_TASKS:-10000}
RATE=${RATE:-200}
LATENCY_SECONDS=${LATENCY_SECONDS:-10}
TIMEOUT=${TIMEOUT:-120}
BASE_URL=http://127.0.0.1:$PORT
INSTANCE=engine-compare
WORK=$(mktemp -d)

log() { printf '[engine-compare] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no AOT binary at $BINARY (run: make publish)"
for tool in jq curl node timeout; do command -v "$tool" >/dev/null || die "$tool is required"; done
! curl -s -o /dev/null --max-time 2 "$BASE_URL/" || die "something already listens on $BASE_URL (set PORT)"
[[ -d $ROOT/load/graphile/node_modules/graphile-worker ]] || die "run: (cd load/graphile && npm ci)"
(( TASKS % 1000 == 0 && DAG_TASKS % 1000 == 0 )) || die "TASKS and DAG_TASKS must be multiples of 1,000"

service_pid=
cleanup() {
    set +e # a failing kill or wait (the service's exit status) must not skip stopping PostgreSQL
    if [[ -n $service_pid ]]; then kill "$service_pid" 2>/dev/null; wait "$service_pid" 2>/dev/null; fi
    "$ROOT/scripts/pg.sh" stop "$INSTANCE" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

log "private PostgreSQL, fresh databases, migrations"
"$ROOT/scripts/pg.sh" start "$INSTANCE" >&2
psql_admin() { "$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX "$@"; }
psql_admin -c 'DROP DATABASE IF EXISTS taskrunner_compare WITH (FORCE)' -c 'CREATE DATABASE taskrunner_compare' \
    -c 'DROP DATABASE IF EXISTS graphile_compare WITH (FORCE)' -c 'CREATE DATABASE graphile_compare' >/dev/null
sql() { psql_admin -d taskrunner_compare -c "$1"; }
if [[ -n ${EXPLAIN_SLOW_MS:-} ]]; then # diagnosis: plans of statements slower than this go to the instance's server.log
    [[ $EXPLAIN_SLOW_MS =~ ^[0-9]+$ ]] || die "EXPLAIN_SLOW_MS must be a number of milliseconds"
    psql_admin -c "ALTER DATABASE taskrunner_compare SET session_preload_libraries = 'auto_explain'" \
        -c "ALTER DATABASE taskrunner_compare SET auto_explain.log_min_duration = $EXPLAIN_SLOW_MS" \
        -c "ALTER DATABASE taskrunner_compare SET auto_explain.log_analyze = on" >/dev/null
fi
DB="$("$ROOT/scripts/pg.sh" connstr taskrunner_compare "$INSTANCE");Max Auto Prepare=50"
pg_port=$("$ROOT/scripts/pg.sh" port "$INSTANCE")
[[ $DB == *Host=127.0.0.1* || $DB == *Host=localhost* ]] || die "PostgreSQL is not on loopback: $DB"
# graphile-worker connects as the same superuser over TCP; pg.sh's local instances trust loopback connections.
GRAPHILE_DB="postgres://postgres@127.0.0.1:$pg_port/graphile_compare"
timeout 300 dotnet run --project "$ROOT/migrations/TaskRunner.Migrations.csproj" -c Release -- up --Database:ConnectionString="$DB" >/dev/null

log "service on $BASE_URL"
bench_start_service RateLimiting__Enabled=false

email="bench@example.test"
bench_register "$email"
api_key=$(bench_api_key "$email")
project=$(bench_project "$api_key" "Engine comparison")

tr_node() { timeout $((TIMEOUT + 180)) node "$ROOT/load/engine-compare.mjs" "$1" "$BASE_URL" "$api_key" "$project" "${@:2}"; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

log "1. TaskRunner: $TASKS no-op tasks, $WORKERS pull workers (claim limit 100, batch complete)"
tr=$(tr_node throughput "$TASKS" "$WORKERS" "$TIMEOUT")
log "   $tr"
tr_left=$(sql "SELECT count(*) FROM tasks WHERE status <> 'succeeded'")

log "2. graphile-worker: $TASKS no-op jobs in one add_jobs statement, concurrency $WORKERS, localQueue 500, completeJobBatchDelay 0"
gw=$(cd "$ROOT/load/graphile" && timeout $((TIMEOUT + 60)) node bench.mjs "$GRAPHILE_DB" "$TASKS" "$WORKERS" "$TIMEOUT")
log "   $gw"

log "3. ready→started: $RATE tasks/s for $LATENCY_SECONDS s to $WORKERS idle long-polling workers"
lat=$(tr_node latency "$RATE" "$LATENCY_SECONDS" "$WORKERS")
log "   $lat"
lat_db=$(sql "SELECT round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY d))::int || ' ' ||
                     round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY d))::int || ' ' || round(1000 * max(d))::int || ' ' || count(*)
              FROM (SELECT extract(epoch FROM started_at - created_at) AS d FROM tasks WHERE title LIKE 'latency %') s")
read -r lat_p50 lat_p99 lat_max lat_n <<<"$lat_db"
# The histogram has OpenTelemetry's default boundaries (0, 5, 10, 25 … 10000), so in seconds it only says "≤ 5 s";
# its count and mean are printed, the percentiles come from the database.
metrics=$(curl -sf "$BASE_URL/metrics" | grep -E '^taskrunner_tasks_ready_to_started_seconds_(count|sum|bucket.*le="5")' || true)

log "4. propagation: $DAG_TASKS-task layered DAG, root failed"
prop=$(tr_node propagate "$DAG_TASKS" "$TIMEOUT")
log "   $prop"
prop_upstream=$(sql "SELECT count(*) FROM tasks WHERE title LIKE 'propagation %' AND cancel_reason = 'upstream_failed'")
log "4b. the same with fresh planner statistics (ANALYZE tasks, task_dependencies after creating the DAG)"
prop2=$(BEFORE_FAIL="'$ROOT/scripts/pg.sh' -i $INSTANCE psql -qtAX -d taskrunner_compare -c 'ANALYZE tasks, task_dependencies'" \
    tr_node propagate "$DAG_TASKS" "$TIMEOUT")
log "   $prop2"

log "5. the same DAG succeeded layer by layer by $WORKERS workers"
dag=$(tr_node dag "$DAG_TASKS" "$WORKERS" "$TIMEOUT")
log "   $dag"
dag_db=$(sql "SELECT round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY d))::int || ' ' ||
                     round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY d))::int
              FROM (SELECT extract(epoch FROM c.started_at - max(p.ended_at)) AS d
                    FROM tasks c JOIN task_dependencies e ON e.child_id = c.id JOIN tasks p ON p.id = e.parent_id
                    WHERE c.title LIKE 'dag %' GROUP BY c.id, c.started_at) s")
read -r dag_p50 dag_p99 <<<"$dag_db"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

tr_tps=$(jq -r .tasks_per_second <<<"$tr")
gw_jps=$(jq -r .jobs_per_second <<<"$gw")
ratio=$(awk -v a="$tr_tps" -v b="$gw_jps" 'BEGIN { printf "%.2f", a / b }')
cat <<REPORT
Engine comparison — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git -C "$ROOT" rev-parse --short HEAD), load average before $load_before, after $load_after

| measurement | result |
| --- | --- |
| TaskRunner, $TASKS no-op tasks, $WORKERS pull workers (claim 100 + batch complete) | $tr_tps tasks/s ($(jq -r '"\(.done) done in \(.seconds) s, \(.conflicts) conflicts; claim p50/p99 \(.claim_p50_ms)/\(.claim_p99_ms) ms, complete p50/p99 \(.complete_p50_ms)/\(.complete_p99_ms) ms; created in \(.create_seconds) s"' <<<"$tr"); $tr_left not succeeded) |
| graphile-worker $(node -p "require('$ROOT/load/graphile/node_modules/graphile-worker/package.json').version"), $TASKS no-op jobs (one add_jobs), concurrency $WORKERS, localQueue 500, completeJobBatchDelay 0 | $gw_jps jobs/s ($(jq -r '"\(.jobs - .left) done in \(.seconds) s; enqueued in \(.enqueue_seconds) s; \(.left) left"' <<<"$gw")) |
| ratio TaskRunner ÷ graphile-worker | $ratio (target ≥ 1.0) |
| ready→started, $RATE tasks/s to idle long-polling workers (started_at − created_at, n=$lat_n) | p50 $lat_p50 ms, p99 $lat_p99 ms, max $lat_max ms ($(jq -r '"\(.done) of \(.created) done"' <<<"$lat")) |
| propagation: root of a $DAG_TASKS-task DAG ($(( (DAG_TASKS + 98) / 100 + 1 )) layers) failed → descendants cancelled | $(jq -r '"\(.propagation_seconds) s until \(.cancelled) cancelled (the failing complete itself: \(.complete_failed_ms) ms; DAG created in \(.create_seconds) s)"' <<<"$prop"); $prop_upstream upstream_failed |
| the same, after ANALYZE tasks, task_dependencies (fresh statistics) | $(jq -r '"\(.propagation_seconds) s until \(.cancelled) cancelled"' <<<"$prop2") |
| the same DAG succeeded layer by layer, $WORKERS long-polling workers | $(jq -r '"\(.seconds) s, \(.tasks_per_second) tasks/s (\(.done) done, \(.conflicts) conflicts)"' <<<"$dag"); ready→started (last parent ended → started) p50 $dag_p50 ms, p99 $dag_p99 ms |

/metrics taskrunner_tasks_ready_to_started_seconds after phase 3 (default OpenTelemetry buckets, so only le="5" is shown):
$metrics
REPORT
