#!/usr/bin/env bash
# Export benchmark (issue 21): GET /api/v1/tasks/export of the whole 1M-task data set as an admin (every task), as
# NDJSON and then as CSV, each read once to the end by curl on loopback. Reports rows, seconds, rows/s, MB/s and the
# service's RSS sampled every 0.5 s during each export (flat = constant memory).
#
# Usage (reuses the seeded instance; starts the service binary on it and stops it at the end):
#   make publish seed-1m && load/export-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner; a JIT build's apphost works too), INSTANCE (seed1m),
#              DATABASE (taskrunner_1m), PORT (5193), FORMATS ("ndjson csv").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
INSTANCE=${INSTANCE:-seed1m}
DATABASE=${DATABASE:-taskrunner_1m}
PORT=${PORT:-5193}
FORMATS=${FORMATS:-ndjson csv}
BASE_URL=http://127.0.0.1:$PORT
WORK=$(mktemp -d)

log() { printf '[export-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no service binary at $BINARY (run: make publish)"
for tool in jq curl; do command -v "$tool" >/dev/null || die "$tool is required"; done
bench_seeded_database
tasks=$(psql_db -c "SELECT count(*) FROM tasks WHERE deleted_at IS NULL")

log "service on $BASE_URL against $DATABASE ($tasks live tasks)"
bench_start_service RateLimiting__Api__PermitLimit=1000000 RateLimiting__Search__PermitLimit=1000000 RateLimiting__Bulk__PermitLimit=1000000 RateLimiting__Worker__PermitLimit=1000000 RateLimiting__Auth__PermitLimit=1000000
bench_register export-bench-admin@example.test
psql_db -c "UPDATE users SET role = 'admin' WHERE email = 'export-bench-admin@example.test'" >/dev/null
key=$(bench_api_key export-bench-admin@example.test)

rss_mb() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$service_pid/status"; }

export_once() { # <format> <accept>: one full export; prints a table row
    local started ended rows bytes sampler
    : >"$WORK/rss"
    ( while true; do rss_mb >>"$WORK/rss"; echo >>"$WORK/rss"; sleep 0.5; done ) &
    sampler=$!
    started=$(date +%s.%N)
    curl -sfN -H "X-API-Key: $key" -H "Accept: $2" "$BASE_URL/api/v1/tasks/export" | tee >(wc -c >"$WORK/bytes") | wc -l >"$WORK/lines"
    ended=$(date +%s.%N)
    kill "$sampler"; wait "$sampler" 2>/dev/null || true
    sleep 0.2
    rows=$(cat "$WORK/lines"); bytes=$(cat "$WORK/bytes")
    [[ $1 == csv ]] && rows=$((rows - 1))
    sort -n "$WORK/rss" | grep . | awk -v f="$1" -v rows="$rows" -v bytes="$bytes" -v s="$(echo "$ended - $started" | bc)" '
        { v[NR] = $1 } END {
            printf "| %s | %d | %.1f | %.0f | %.1f | %d | %d | %d | %d |\n",
                f, rows, s, rows / s, bytes / s / 1048576, NR, v[1], v[int((NR + 1) / 2)], v[NR] }'
}

curl -sf -H "X-API-Key: $key" "$BASE_URL/api/v1/tasks/export?project_id=00000000-0000-0000-0000-000000000000" >/dev/null
idle=$(rss_mb)
{
    echo "Export benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git -C "$ROOT" rev-parse --short HEAD), $tasks live tasks, $(basename "$BINARY") ($BINARY), RSS before: $idle MB"
    echo
    echo "| format | rows | seconds | rows/s | MB/s | RSS samples | RSS min MB | RSS median MB | RSS max MB |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for format in $FORMATS; do
        case $format in
            ndjson) export_once ndjson application/x-ndjson ;;
            csv) export_once csv text/csv ;;
            *) die "unknown format $format" ;;
        esac
    done
    echo
    echo "RSS after: $(rss_mb) MB"
}
