#!/usr/bin/env bash
# Write-model benchmark (issue 5), all on this machine, loopback only, bounded in time:
#   1. POST /api/v1/tasks/bulk with a 1,000-task layered DAG, RUNS sequential requests: median and p99 latency
#   2. POST /api/v1/tasks (single create) requests/s                          (wrk, CONNECTIONS connections, DURATION)
#   3. GET /api/v1/tasks/{id} requests/s (and GET /users/me, the authentication share), against the box's ceiling, same run:
#        P = GET /health/live (the binary's trivial endpoint, no database), G = pgbench -S -M prepared TPS,
#        same client count; C = 1 / (1/P + 1/G); target GET ≥ 0.8 C.
#
# Usage (starts its own PostgreSQL instance "bench" and the AOT binary, stops both at the end):
#   make publish && load/tasks-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner), PORT (5191), RUNS (50), DURATION (10s), CONNECTIONS (32),
#   SERVICE_CONNECTION_OPTIONS appended to the service's connection string, to compare variants (e.g. ";Multiplexing=true").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
PORT=${PORT:-5191}
RUNS=${RUNS:-50}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
SERVICE_CONNECTION_OPTIONS=${SERVICE_CONNECTION_OPTIONS:-}
BASE_URL=http://127.0.0.1:$PORT
INSTANCE=bench
WORK=$(mktemp -d)

log() { printf '[tasks-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no AOT binary at $BINARY (run: make publish)"
for tool in wrk jq curl python3; do command -v "$tool" >/dev/null || die "$tool is required"; done
PGBENCH=$(command -v pgbench || echo /usr/lib/postgresql/15/bin/pgbench)
[[ -x $PGBENCH ]] || die "pgbench is required (postgresql-client)"

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

log "private PostgreSQL, a fresh database, migrations, pgbench tables"
"$ROOT/scripts/pg.sh" start "$INSTANCE" >&2
psql_admin() { "$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX "$@"; }
psql_admin -c 'DROP DATABASE IF EXISTS taskrunner_bench WITH (FORCE)' -c 'CREATE DATABASE taskrunner_bench' \
    -c 'DROP DATABASE IF EXISTS pgbench WITH (FORCE)' -c 'CREATE DATABASE pgbench' >/dev/null
DB=$("$ROOT/scripts/pg.sh" connstr taskrunner_bench "$INSTANCE")
PGBENCH_DB=$("$ROOT/scripts/pg.sh" connstr pgbench "$INSTANCE")
dotnet run --project "$ROOT/migrations/TaskRunner.Migrations.csproj" -c Release -- up --Database:ConnectionString="$DB" >/dev/null
pgbench_args() { # libpq keywords from the Npgsql-style connection string
    python3 - "$1" <<'PY'
import sys
parts = dict(p.split("=", 1) for p in sys.argv[1].split(";") if p)
print(f"-h {parts['Host']} -p {parts['Port']} -U {parts['Username']} {parts['Database']}")
PY
}
# shellcheck disable=SC2046
"$PGBENCH" -i -q -s 10 $(pgbench_args "$PGBENCH_DB") >/dev/null 2>&1

log "service on $BASE_URL"
bench_start_service Database__ConnectionString="$DB$SERVICE_CONNECTION_OPTIONS" RateLimiting__Enabled=false

email="bench@example.test"
bench_register "$email"
api_key=$(bench_api_key "$email")
auth=(-H "X-API-Key: $api_key" -H 'Content-Type: application/json')
project=$(bench_project "$api_key" "Benchmark")

log "bulk create: $RUNS requests of a 1,000-task DAG"
python3 - "$project" >"$WORK/bulk.json" <<'PY'
import json, sys
# 20 layers of 50; each task below the first layer depends on three tasks of the layer above.
tasks = []
for i in range(1000):
    layer, slot = divmod(i, 50)
    task = {"ref": f"t{i}", "title": f"Step {i} of the nightly pipeline", "kind": "etl.step",
            "priority": (i * 37) % 101, "metadata": {"layer": layer, "slot": slot}}
    if layer:
        task["depends_on"] = sorted({f"t{(layer - 1) * 50 + (slot + k * 7) % 50}" for k in range(3)})
    tasks.append(task)
print(json.dumps({"project_id": sys.argv[1], "tasks": tasks}))
PY
for _ in 1 2 3; do curl -sf -o /dev/null "${auth[@]}" --data-binary @"$WORK/bulk.json" "$BASE_URL/api/v1/tasks/bulk"; done
for _ in $(seq "$RUNS"); do
    curl -sf -o /dev/null -w '%{time_total}\n' "${auth[@]}" --data-binary @"$WORK/bulk.json" "$BASE_URL/api/v1/tasks/bulk"
done >"$WORK/bulk-times"
bulk_stats=$(sort -n "$WORK/bulk-times" | awk '{ t[NR] = $1 * 1000 } END {
    p99 = int(NR * 0.99 + 0.999); if (p99 > NR) p99 = NR
    printf "median %.1f ms, p99 %.1f ms, min %.1f ms, max %.1f ms (n=%d)", (t[int((NR+1)/2)] + t[int(NR/2)+1]) / 2, t[p99], t[1], t[NR], NR }')

wrk_rps() { # <label> <wrk args...>: warm-up, then the measured run; prints "rps p50 p99"
    wrk -t1 -c"$CONNECTIONS" -d3s "${@:2}" >/dev/null
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "${@:2}" | awk -v label="$1" '
        /Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
        /Non-2xx/ { errors = $NF } END { printf "%s %s %s %s\n", rps, p50, p99, errors + 0 }'
}

cat >"$WORK/create.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"project_id":"$project","title":"Single create benchmark","kind":"bench","metadata":{"source":"wrk"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "$api_key"
LUA
task_id=$(curl -sf "${auth[@]}" -d "{\"project_id\":\"$project\",\"title\":\"Read me\",\"metadata\":{\"a\":1}}" \
    "$BASE_URL/api/v1/tasks" | jq -r .id)

log "single create, GET /tasks/{id}, /health/live and pgbench -S (c=$CONNECTIONS, $DURATION each)"
read -r create_rps create_p50 create_p99 create_errors < <(wrk_rps create -s "$WORK/create.lua" "$BASE_URL/api/v1/tasks")
read -r get_rps get_p50 get_p99 get_errors < <(wrk_rps get -H "X-API-Key: $api_key" "$BASE_URL/api/v1/tasks/$task_id")
read -r me_rps me_p50 me_p99 _ < <(wrk_rps me -H "X-API-Key: $api_key" "$BASE_URL/api/v1/users/me")
read -r live_rps live_p50 live_p99 _ < <(wrk_rps live "$BASE_URL/health/live")
seconds=${DURATION%s}
# shellcheck disable=SC2046
pg_tps=$("$PGBENCH" -S -M prepared -n -c "$CONNECTIONS" -j 1 -T "$seconds" $(pgbench_args "$PGBENCH_DB") 2>/dev/null |
    awk '/^tps/ { print $3; exit }')

ceiling=$(awk -v p="$live_rps" -v g="$pg_tps" 'BEGIN { printf "%.0f", 1 / (1 / p + 1 / g) }')
ratio=$(awk -v r="$get_rps" -v c="$ceiling" 'BEGIN { printf "%.2f", r / c }')

cat <<REPORT
Write-model benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git -C "$ROOT" rev-parse --short HEAD), c=$CONNECTIONS, $DURATION per wrk/pgbench run

| measurement | result |
| --- | --- |
| POST /tasks/bulk, 1,000-task DAG (2,850 edges), sequential | $bulk_stats |
| POST /tasks (single create) | $create_rps req/s (p50 $create_p50, p99 $create_p99, non-2xx $create_errors) |
| GET /tasks/{id} | $get_rps req/s (p50 $get_p50, p99 $get_p99, non-2xx $get_errors) |
| for comparison: GET /users/me (same API-key authentication, one small read) | $me_rps req/s (p50 $me_p50, p99 $me_p99) |
| P: GET /health/live | $live_rps req/s (p50 $live_p50, p99 $live_p99) |
| G: pgbench -S -M prepared | $pg_tps TPS |
| C = 1 / (1/P + 1/G) | $ceiling req/s |
| GET /tasks/{id} ÷ C | $ratio (target ≥ 0.80) |
REPORT
