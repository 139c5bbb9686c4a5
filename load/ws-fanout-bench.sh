#!/usr/bin/env bash
# WebSocket fan-out (issue 16): SOCKETS sockets subscribed across PROJECTS projects (round-robin, so SOCKETS / PROJECTS per
# project), and RATE real API writes a second (PATCH /api/v1/tasks/{id} of one task per project, round-robin) for DURATION
# seconds, each a task.updated event delivered to every socket of its project: RATE × SOCKETS / PROJECTS deliveries/s.
# Reported: commit → received p50/p99/max, timed from the event's `at` (its transaction's start, so it includes the
# transaction) and from the writer's response (which the event may overtake), and the deliveries that arrived. Loopback
# only, bounded; load/ws-fanout.mjs is the client (the `ws` package of load/package.json).
#
# Usage (starts its own PostgreSQL instance "ws-fanout-bench" and the AOT binary, stops both at the end):
#   make publish && (cd load && npm ci) && load/ws-fanout-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner), PORT (5198), SOCKETS (1000), PROJECTS (100), RATE (200 writes/s),
#   DURATION (20 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
PORT=${PORT:-5198}
SOCKETS=${SOCKETS:-1000}
PROJECTS=${PROJECTS:-100}
RATE=${RATE:-200}
DURATION=${DURATION:-20}
BASE_URL=http://127.0.0.1:$PORT
INSTANCE=ws-fanout-bench
WORK=$(mktemp -d)

log() { printf '[ws-fanout-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no AOT binary at $BINARY (run: make publish)"
for tool in jq curl node timeout; do command -v "$tool" >/dev/null || die "$tool is required"; done
[[ -d $ROOT/load/node_modules/ws ]] || die "run: (cd load && npm ci)"
for number in "$SOCKETS" "$PROJECTS" "$RATE" "$DURATION"; do
    [[ $number =~ ^[1-9][0-9]*$ ]] || die "SOCKETS, PROJECTS, RATE and DURATION are positive numbers"
done
! curl -s -o /dev/null --max-time 2 "$BASE_URL/" || die "something already listens on $BASE_URL (set PORT)"
ulimit -n "$(ulimit -Hn)"

service_pid=
trap 'bench_stop "$INSTANCE"' EXIT

log "private PostgreSQL, a fresh database, migrations"
bench_database "$INSTANCE" taskrunner_ws_fanout

log "service on $BASE_URL"
bench_start_service RateLimiting__Enabled=false RealTime__MaxSocketsPerUser=1000000

email="bench@example.test"
bench_register "$email"
token=$(curl -sf -H 'Content-Type: application/json' -d "{\"email\":\"$email\",\"password\":\"$BENCH_PASSWORD\"}" \
    "$BASE_URL/api/v1/auth/login" | jq -r .access_token)
api_key=$(bench_api_key "$email")
log "$PROJECTS projects with a task each"
for i in $(seq "$PROJECTS"); do
    project=$(bench_project "$api_key" "Fan-out $i")
    task=$(curl -sf -H "X-API-Key: $api_key" -H 'Content-Type: application/json' \
        -d "{\"project_id\":\"$project\",\"title\":\"watched $i\"}" "$BASE_URL/api/v1/tasks" | jq -r .id)
    printf '%s %s\n' "$project" "$task"
done >"$WORK/targets"

log "$SOCKETS sockets, $RATE writes/s for $DURATION s"
result=$(timeout $((DURATION + 120)) node "$ROOT/load/ws-fanout.mjs" "$BASE_URL" "$token" "$WORK/targets" "$SOCKETS" "$RATE" "$DURATION")
lag=$(curl -sf "$BASE_URL/metrics" | awk '/^taskrunner_realtime_event_lag_seconds_(sum|count)/ { v[$1 ~ /sum/ ? "sum" : "count"] += $2 }
    END { if (v["count"] > 0) printf "%.1f", v["sum"] / v["count"] * 1000; else print "n/a" }')
echo "$result" | jq -r --arg lag "$lag" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '
  "fan-out: \(.sockets) sockets over \(.projects) projects, \(.writes) writes in \(.write_seconds) s = \(.events_per_second) events/s " +
  "(failed: \(.write_errors), \(.late_writes) started > 5 ms late); \(.deliveries) of \(.deliveries_expected) deliveries = \(.deliveries_per_second)/s\n" +
  "commit → received from the event'"'"'s at: p50 \(.from_at_p50_ms) ms, p99 \(.from_at_p99_ms) ms, max \(.from_at_max_ms) ms; " +
  "from the writer'"'"'s response: p50 \(.from_response_p50_ms) ms, p99 \(.from_response_p99_ms) ms, max \(.from_response_max_ms) ms\n" +
  "server event lag (at → written to the socket), mean \($lag) ms; load average \($load)"'
