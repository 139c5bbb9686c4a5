#!/usr/bin/env bash
# Graph walks in bounded batches (issue 13, item 12): walks that reach DESCENDANTS tasks, once per
# Engine:GraphWalkBatchSize in SIZES (a size above DESCENDANTS walks in one transaction, as before the batches).
#   The DAG is engine-compare.sh's: a root, then layers of 100, layer 1 on the root and every later task on 3 tasks of the
#   layer above, created in bulks of 1,000 (later bulks name earlier tasks by id), on a fresh database per size, ANALYZEd.
#   WALKS says which requests walk it, in order, each answering when its whole walk is done:
#     cancel   POST /api/v1/tasks/{root}/cancel (its upstream_failed cascade)
#     delete   DELETE /api/v1/tasks/{root}?cascade=true (the soft delete cascade)
#     restore  POST /api/v1/tasks/{root}/restore?cascade=true (after delete: brings every descendant back)
#     purge    DELETE /api/v1/tasks/{root}?cascade=true&permanent=true (as an admin; removes every row)
#   Reported per size and request: its wall time, the longest transaction any client backend had open meanwhile (sampled
#   every ~5 ms from pg_stat_activity by a session of the script), and the walk's continuing transactions and the tasks
#   they locked (the service's /metrics).
#
# Usage (starts its own PostgreSQL instance "walk-bench" and the binary, stops both at the end):
#   make publish && load/walk-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner; any build of the service works, e.g. bin/Release/net10.0/TaskRunner),
#   PORT (5196), DESCENDANTS (10000, a multiple of 100), SIZES ("100000 1000"), WALKS ("cancel"; e.g. "delete restore
#   purge"), PG_INSTANCE (a scripts/pg.sh instance
#   that already runs, used and left running instead of a private one; the script creates its own database there).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
PORT=${PORT:-5196}
DESCENDANTS=${DESCENDANTS:-10000}
SIZES=${SIZES:-100000 1000}
WALKS=${WALKS:-cancel}
BASE_URL=http://127.0.0.1:$PORT
INSTANCE=${PG_INSTANCE:-walk-bench}
DATABASE=taskrunner_walks
WORK=$(mktemp -d)

log() { printf '[walk-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no service binary at $BINARY (run: make publish)"
for tool in jq curl python3; do command -v "$tool" >/dev/null || die "$tool is required"; done
(( DESCENDANTS % 100 == 0 )) || die "DESCENDANTS must be a multiple of 100"

service_pid=
sampler_pid=
stop_service() {
    if [[ -n $service_pid ]]; then
        kill "$service_pid" 2>/dev/null || true
        wait "$service_pid" 2>/dev/null || true
        service_pid=
    fi
}
cleanup() {
    stop_service
    [[ -z $sampler_pid ]] || kill "$sampler_pid" 2>/dev/null || true
    [[ -n ${PG_INSTANCE:-} ]] || "$ROOT/scripts/pg.sh" stop "$INSTANCE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

psql_db() { "$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX -d "$DATABASE" "$@"; }

# metric NAME: the sum of a counter's series on /metrics (0 when it has none yet).
metric() { curl -sf "$BASE_URL/metrics" | awk -v name="$1" 'index($0, name "{") == 1 { sum += $NF } END { printf "%d\n", sum }'; }

# measure SIZE WALK curl-arguments...: runs the request while a session samples the longest open transaction; prints the
# figures line. The request's answer is left in $WORK/answer.json.
measure() {
    local size=$1 walk=$2
    shift 2
    psql_db -c 'DROP TABLE IF EXISTS walk_bench_done' -c 'CREATE TABLE walk_bench_done ()' >/dev/null
    psql_db >"$WORK/longest" 2>&1 <<'SQL' &
DO $$
DECLARE
    longest interval := '0';
    current interval;
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT max(clock_timestamp() - a.xact_start) INTO current
        FROM pg_stat_activity a
        WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
          AND a.xact_start IS NOT NULL AND a.query NOT LIKE 'INSERT INTO walk_bench_done%';
        longest := greatest(longest, coalesce(current, '0'));
        EXIT WHEN EXISTS (SELECT FROM walk_bench_done);
        PERFORM pg_sleep(0.005);
    END LOOP;
    RAISE NOTICE 'longest_ms=%', round(extract(epoch FROM longest) * 1000);
END $$;
SQL
    sampler_pid=$!
    sleep 0.5
    local batches_before rows_before seconds status longest batches rows left
    batches_before=$(metric taskrunner_engine_graph_walk_batches_total)
    rows_before=$(metric taskrunner_engine_graph_walk_rows_total)
    log "$walk"
    read -r seconds status < <(curl -s -o "$WORK/answer.json" -w '%{time_total} %{http_code}\n' "$@")
    [[ $status == 2* ]] || die "$walk answered $status: $(cat "$WORK/answer.json")"
    psql_db -c 'INSERT INTO walk_bench_done DEFAULT VALUES' >/dev/null
    wait "$sampler_pid"
    sampler_pid=
    longest=$(grep -o 'longest_ms=[0-9]*' "$WORK/longest" | cut -d= -f2)
    left=$(psql_db -c 'SELECT count(*) FROM graph_walks')
    batches=$(( $(metric taskrunner_engine_graph_walk_batches_total) - batches_before ))
    rows=$(( $(metric taskrunner_engine_graph_walk_rows_total) - rows_before ))
    printf 'GraphWalkBatchSize=%s: %s of a root with %s descendants answered in %s s; longest transaction %s ms; %s continuing transactions locked %s tasks; %s walks left\n' \
        "$size" "$walk" "$DESCENDANTS" "$seconds" "$longest" "$batches" "$rows" "$left"
}

[[ -n ${PG_INSTANCE:-} ]] || "$ROOT/scripts/pg.sh" start "$INSTANCE" >&2
for size in $SIZES; do
    log "GraphWalkBatchSize=$size: a fresh database, migrations, the service"
    "$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" -c "CREATE DATABASE $DATABASE" >/dev/null
    DB="$("$ROOT/scripts/pg.sh" connstr "$DATABASE" "$INSTANCE");Max Auto Prepare=50"
    dotnet run --project "$ROOT/migrations/TaskRunner.Migrations.csproj" -c Release -- up --Database:ConnectionString="$DB" >/dev/null
    bench_start_service RateLimiting__Api__PermitLimit=1000000 RateLimiting__Search__PermitLimit=1000000 RateLimiting__Bulk__PermitLimit=1000000 RateLimiting__Worker__PermitLimit=1000000 RateLimiting__Auth__PermitLimit=1000000 Engine__GraphWalkBatchSize="$size"
    bench_register "walks@example.test"
    # A permanent delete is an admin's.
    [[ " $WALKS " != *" purge "* ]] || psql_db -c "UPDATE users SET role = 'admin' WHERE email = 'walks@example.test'" >/dev/null
    api_key=$(bench_api_key "walks@example.test")
    auth=(-H "X-API-Key: $api_key" -H 'Content-Type: application/json')
    project=$(bench_project "$api_key" "Walk benchmark")

    log "a DAG of 1 + $DESCENDANTS tasks"
    echo '[]' >"$WORK/ids.json"
    root=
    for ((first = 0; first <= DESCENDANTS; first += 1000)); do
        python3 - "$project" "$first" "$DESCENDANTS" "$WORK/ids.json" >"$WORK/bulk.json" <<'PY'
import json, sys
project, first, descendants = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(sys.argv[4]) as ids:
    previous = json.load(ids)  # the ids of the tasks created so far, by number
# Task n (0 is the root) is in layer (n - 1) // 100 + 1; layer 1 hangs on the root, a later task on 3 of the layer above.
def parent_refs(n):
    if n == 0:
        return []
    if n <= 100:
        return [0]
    layer_start = ((n - 1) // 100) * 100 + 1
    above = layer_start - 100
    return sorted({above + (n - layer_start + k) % 100 for k in (0, 37, 71)})
tasks = []
for n in range(first, min(first + 1000, descendants + 1)):
    depends = [f"t{p}" if p >= first else previous[p] for p in parent_refs(n)]
    tasks.append({"ref": f"t{n}", "title": f"walk {n}", "kind": "walk", "max_retries": 0, "depends_on": depends})
print(json.dumps({"project_id": project, "tasks": tasks}))
PY
        curl -sf -o "$WORK/created.json" "${auth[@]}" --data-binary @"$WORK/bulk.json" "$BASE_URL/api/v1/tasks/bulk" || die "bulk create failed"
        jq -c --slurpfile previous "$WORK/ids.json" --argjson first "$first" \
            '$previous[0] + [range($first; $first + (.refs | length)) as $n | .refs["t\($n)"]]' "$WORK/created.json" >"$WORK/ids.next.json"
        mv "$WORK/ids.next.json" "$WORK/ids.json"
        [[ -n $root ]] || root=$(jq -r '.refs.t0' "$WORK/created.json")
    done
    psql_db -c 'ANALYZE tasks, task_dependencies' >/dev/null

    for walk in $WALKS; do
        case $walk in
            cancel)
                measure "$size" cancel "${auth[@]}" -X POST -d '{}' "$BASE_URL/api/v1/tasks/$root/cancel"
                [[ $(jq -r .status "$WORK/answer.json") == cancelled ]] || die "the cancel failed: $(cat "$WORK/answer.json")"
                log "$(psql_db -c "SELECT count(*) FROM tasks WHERE cancel_reason = 'upstream_failed'") cancelled upstream_failed" ;;
            delete)
                measure "$size" "cascading delete" "${auth[@]}" -X DELETE "$BASE_URL/api/v1/tasks/$root?cascade=true"
                log "$(psql_db -c 'SELECT count(*) FROM tasks WHERE deleted_at IS NOT NULL') tasks deleted" ;;
            restore)
                measure "$size" "cascading restore" "${auth[@]}" -X POST "$BASE_URL/api/v1/tasks/$root/restore?cascade=true"
                log "$(psql_db -c 'SELECT count(*) FROM tasks WHERE deleted_at IS NOT NULL') tasks still deleted" ;;
            purge)
                measure "$size" "permanent cascading delete" "${auth[@]}" -X DELETE "$BASE_URL/api/v1/tasks/$root?cascade=true&permanent=true"
                log "$(psql_db -c 'SELECT count(*) FROM tasks') tasks left" ;;
            *) die "unknown walk $walk" ;;
        esac
    done
    stop_service
done
