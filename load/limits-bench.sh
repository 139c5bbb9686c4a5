#!/usr/bin/env bash
# What per-route rate limits and request timeouts cost on GET /api/v1/tasks/{id} (issue 21 item 2), in one run: the same
# binary started alternately with both on (buckets raised so nothing is refused, yet every request still takes its
# token) and both off (RateLimiting__Enabled=false RequestTimeouts__Enabled=false); wrk -t1 -c$CONNECTIONS on one task
# with an API key, a warm-up then the measured run, ROUNDS times. Prints a Markdown table.
# Usage: BINARY=bin/Release/net10.0/TaskRunner DB='Host=…;Database=…' (a migrated database) load/limits-bench.sh
# Environment: PORT (5193), DURATION (10s), CONNECTIONS (32), ROUNDS (2).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
PORT=${PORT:-5193}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-2}
BASE_URL=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
: "${DB:?DB must be the connection string of a migrated database}"

log() { printf '[limits-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"
for tool in wrk jq curl; do command -v "$tool" >/dev/null || die "$tool is required"; done

service_pid=
stop_service() { [[ -n $service_pid ]] && kill "$service_pid" 2>/dev/null && wait "$service_pid" 2>/dev/null; service_pid=; }
trap 'stop_service; rm -rf "$WORK"' EXIT

ON=(RateLimiting__Api__PermitLimit=1000000 RateLimiting__Api__TokensPerPeriod=1000000 RateLimiting__Api__PeriodSeconds=1)
OFF=(RateLimiting__Enabled=false RequestTimeouts__Enabled=false)

bench_start_service "${OFF[@]}"
email="limits-bench-$(date +%s%N)@example.test"
bench_register "$email"
key=$(bench_api_key "$email")
project=$(bench_project "$key" "limits bench")
task=$(curl -sf -H "X-API-Key: $key" -H 'Content-Type: application/json' \
    -d "{\"project_id\":\"$project\",\"title\":\"limits bench\"}" "$BASE_URL/api/v1/tasks" | jq -r .id)
[[ $task =~ ^[0-9a-f-]{36}$ ]] || die "could not create the benchmark task"
stop_service

run() { # <label> <settings...>
    local label=$1; shift
    bench_start_service "$@"
    local args=(-t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H "X-API-Key: $key" "$BASE_URL/api/v1/tasks/$task")
    wrk "${args[@]}" >/dev/null
    local out
    out=$(wrk "${args[@]}")
    stop_service
    grep -q "Non-2xx" <<<"$out" && die "$label: some answers were not 2xx"
    printf '| %s | %s | %s | %s |\n' "$label" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")"
}

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| GET /tasks/{id} | req/s | p50 | p99 |\n|---|---|---|---|\n'
for round in $(seq "$ROUNDS"); do
    run "limits + timeouts on (round $round)" "${ON[@]}"
    run "limits + timeouts off (round $round)" "${OFF[@]}"
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
