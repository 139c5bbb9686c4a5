#!/usr/bin/env bash
# Fixed-rate (open model) latency of the mixed task load: 70 % GET /tasks/{id}, 20 % list pages (walks), 10 % creates,
# at each rate of RATES, for one or more AOT binaries compared in the same run (rates outer, binaries alternating inner,
# so the box's noise falls on all of them alike). The generator is load/mixed-rate.mjs (Node, no dependencies), which
# schedules requests at fixed times and measures from those times, as k6's constant-arrival-rate does.
#
# Usage (starts its own PostgreSQL instance "mixedrate" and the binaries, stops everything at the end):
#   load/mixed-rate.sh [BINARY[@CHECKOUT] ...]      default: artifacts/aot/TaskRunner
#   RATES="500 1000 1500" load/mixed-rate.sh /tmp/main-aot/TaskRunner@/work/main artifacts/aot/TaskRunner
# Each binary gets a database of its own, migrated with the migrations of CHECKOUT (default this checkout) so that
# builds of different schema versions can be compared, and the same seed: SEED_TASKS tasks (bulks of 1,000) in one
# project, of which the GETs read.
# Environment: RATES (500), DURATION seconds per rate (30), WARMUP seconds before each (5), SEED_TASKS (10000), FIRST_PORT (5291),
#   MAX_IN_FLIGHT (256: more outstanding requests and a scheduled one is dropped), LATE_MS (10).
# Targets (from issue 15): p50 < 10 ms, p99 < 50 ms, p99.9 < 100 ms, nothing dropped, no errors. Rows go to stdout as a
# Markdown table with the load average at the end of each run (the box is shared: read rates next to it).
# MIX=bulk: only 1,000-task bulk creates (POST /tasks/bulk, a 2,850-edge DAG; see load/mixed-rate.mjs) at each rate,
#   against issue 15's bulk target: p99 < 150 ms, nothing dropped, no errors. E.g. MIX=bulk RATES=5 DURATION=60.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RATES=${RATES:-500}
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-5}
SEED_TASKS=${SEED_TASKS:-10000}
INSTANCE=mixedrate
FIRST_PORT=${FIRST_PORT:-5291}
WORK=$(mktemp -d)

log() { printf '[mixed-rate] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

for tool in node jq curl; do command -v "$tool" >/dev/null || die "$tool is required"; done
for value in $RATES $DURATION $WARMUP $SEED_TASKS; do [[ $value =~ ^[0-9]+$ ]] || die "not a whole number: $value"; done
((SEED_TASKS >= 1000)) || die "SEED_TASKS must be at least 1000"
specs=("$@")
((${#specs[@]} > 0)) || specs=("$ROOT/artifacts/aot/TaskRunner")

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    "$ROOT/scripts/pg.sh" stop "$INSTANCE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log "private PostgreSQL instance '$INSTANCE'"
"$ROOT/scripts/pg.sh" start "$INSTANCE" >&2

# Per binary: its own database, service, account, project and seed. Index n names everything.
binaries=() urls=() keys=() projects=()
for n in "${!specs[@]}"; do
    spec=${specs[n]}
    BINARY=${spec%%@*}
    checkout=$ROOT
    [[ $spec == *@* ]] && checkout=${spec#*@}
    [[ -x $BINARY ]] || die "no executable at $BINARY"
    [[ -d $checkout/migrations ]] || die "no migrations/ in $checkout"
    database=taskrunner_mixed_$n
    "$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" \
        -c "CREATE DATABASE $database" >/dev/null
    DB=$("$ROOT/scripts/pg.sh" connstr "$database" "$INSTANCE")
    log "binary $n: $BINARY, migrations of $checkout"
    dotnet run --project "$checkout/migrations/TaskRunner.Migrations.csproj" -c Release -- up --Database:ConnectionString="$DB" >/dev/null
    BASE_URL=http://127.0.0.1:$((FIRST_PORT + n))
    mkdir -p "$WORK/$n"
    WORK=$WORK/$n bench_start_service RateLimiting__Enabled=false
    pids+=("$service_pid")
    email="mixed-$n@example.test"
    bench_register "$email"
    key=$(bench_api_key "$email")
    project=$(bench_project "$key" "Mixed load")
    log "binary $n: seeding $SEED_TASKS tasks"
    for ((i = 0; i < SEED_TASKS / 1000; i++)); do
        jq -cn --arg project "$project" --argjson batch "$i" '{project_id: $project, tasks: [range(1000) as $t |
            {title: "Seeded task \($batch)-\($t)", kind: "mixed.seed.\($t % 20)", priority: (($t * 37) % 101),
             metadata: {batch: $batch, slot: $t}}]}' |
            curl -sf -H "X-API-Key: $key" -H 'Content-Type: application/json' --data-binary @- \
                "$BASE_URL/api/v1/tasks/bulk" | jq -r '.tasks[].id'
    done >"$WORK/$n/ids"
    [[ $(wc -l <"$WORK/$n/ids") -eq $((SEED_TASKS / 1000 * 1000)) ]] || die "seeding binary $n failed"
    binaries+=("$BINARY") urls+=("$BASE_URL") keys+=("$key") projects+=("$project")
done

met() { # result-json -> yes/no against the issue's targets
    if [[ ${MIX:-} == bulk ]]; then
        jq -r 'if .bulk.p99 < 150 and .dropped == 0 and .errors == 0 then "yes" else "no" end' <<<"$1"
    else
        jq -r 'if .all.p50 < 10 and .all.p99 < 50 and .all.p999 < 100 and .dropped == 0 and .errors == 0 then "yes" else "no" end' <<<"$1"
    fi
}

if [[ ${MIX:-} == bulk ]]; then
    printf '| binary | rate bulks/s | achieved | n | p50 ms | p90 ms | p99 ms | max ms | dropped | late | errors | load avg (1 min) | p99 < 150 ms |\n'
    printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n'
    row='"| \($binary) | \(.rate) | \(.achieved_rps) | \(.bulk.n) | \(.bulk.p50) | \(.bulk.p90) | \(.bulk.p99) | \(.bulk.max) | \(.dropped) | \(.late) | \(.errors) | \($load) | \($met) |"'
else
    printf '| binary | rate req/s | achieved | p50 ms | p99 ms | p99.9 ms | max ms | GET p99 | list p99 | create p99 | dropped | late | errors | load avg (1 min) | targets met |\n'
    printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n'
    row='"| \($binary) | \(.rate) | \(.achieved_rps) | \(.all.p50) | \(.all.p99) | \(.all.p999) | \(.all.max) | \(.get.p99) | \(.list.p99) | \(.create.p99) | \(.dropped) | \(.late) | \(.errors) | \($load) | \($met) |"'
fi
for rate in $RATES; do
    for n in "${!binaries[@]}"; do
        log "binary $n at $rate req/s: ${WARMUP}s warm-up, ${DURATION}s measured"
        result=$(timeout $((WARMUP + DURATION + 60)) node "$ROOT/load/mixed-rate.mjs" "${urls[n]}" "${keys[n]}" \
            "${projects[n]}" "$WORK/$n/ids" "$rate" "$DURATION" "$WARMUP")
        read -r load _ </proc/loadavg
        jq -r --arg binary "${binaries[n]#"$ROOT"/}" --arg load "$load" --arg met "$(met "$result")" "$row" <<<"$result"
        [[ $(jq -r .first_error <<<"$result") == "" ]] || log "first error: $(jq -r .first_error <<<"$result")"
    done
done
