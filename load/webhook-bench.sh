#!/usr/bin/env bash
# Webhook delivery benchmark (issue 8), all on this machine, loopback only, with the default Webhooks settings
# (MaxInFlight 64, MaxInFlightPerHost 16):
#   1. deliveries/s: DELIVERIES outbox rows written in one statement, drained by the service to a fast local receiver
#      (Node http server answering 200 at once); from the insert's commit to the last arrival.
#   2. latency task ready → start webhook received, p50/p99: TASKS tasks created one after another, each with a start action
#      to the receiver, so the leader's push dispatcher starts it (woken by NOTIFY) and writes its start delivery; ready =
#      the task's created_at, received = the receiver's clock (same host).
#
# Usage (starts its own PostgreSQL instance "whbench" and the AOT binary, stops both at the end):
#   make publish && load/webhook-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner), PORT (5193), RECEIVER_PORT (5194), DELIVERIES (20000), TASKS (300).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
PORT=${PORT:-5193}
RECEIVER_PORT=${RECEIVER_PORT:-5194}
DELIVERIES=${DELIVERIES:-20000}
TASKS=${TASKS:-300}
BASE_URL=http://127.0.0.1:$PORT
INSTANCE=whbench
WORK=$(mktemp -d)

log() { printf '[webhook-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no AOT binary at $BINARY (run: make publish)"
for tool in jq curl python3 node; do command -v "$tool" >/dev/null || die "$tool is required"; done

service_pid= receiver_pid=
cleanup() {
    [[ -n $service_pid ]] && kill "$service_pid" 2>/dev/null && wait "$service_pid" 2>/dev/null
    [[ -n $receiver_pid ]] && kill "$receiver_pid" 2>/dev/null && wait "$receiver_pid" 2>/dev/null
    "$ROOT/scripts/pg.sh" stop "$INSTANCE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log "private PostgreSQL, a fresh database, migrations"
"$ROOT/scripts/pg.sh" start "$INSTANCE" >&2
psql_admin() { "$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX "$@"; }
psql_admin -c 'DROP DATABASE IF EXISTS taskrunner_whbench WITH (FORCE)' -c 'CREATE DATABASE taskrunner_whbench' >/dev/null
DB=$("$ROOT/scripts/pg.sh" connstr taskrunner_whbench "$INSTANCE")
dotnet run --project "$ROOT/migrations/TaskRunner.Migrations.csproj" -c Release -- up --Database:ConnectionString="$DB" >/dev/null
psql_db() { "$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -d taskrunner_whbench -qtAX "$@"; }

log "receiver on 127.0.0.1:$RECEIVER_PORT"
cat >"$WORK/receiver.js" <<'JS'
// Answers 200 at once; appends "<epoch ms> <task id>" per webhook to the log file.
const http = require("http"), fs = require("fs");
const out = fs.createWriteStream(process.argv[3]);
http.createServer((req, res) => {
  const chunks = [];
  req.on("data", c => chunks.push(c));
  req.on("end", () => {
    const at = Date.now();
    let task = "";
    try { task = JSON.parse(Buffer.concat(chunks)).data.task_id; } catch { }
    out.write(`${at} ${task}\n`);
    res.writeHead(200); res.end();
  });
}).listen(Number(process.argv[2]), "127.0.0.1");
JS
node "$WORK/receiver.js" "$RECEIVER_PORT" "$WORK/received" &
receiver_pid=$!
RECEIVER_URL=http://127.0.0.1:$RECEIVER_PORT/hook

log "service on $BASE_URL"
bench_start_service RateLimiting__Api__PermitLimit=1000000 RateLimiting__Search__PermitLimit=1000000 RateLimiting__Bulk__PermitLimit=1000000 RateLimiting__Worker__PermitLimit=1000000 RateLimiting__Auth__PermitLimit=1000000 Tasks__AllowPrivateActionDestinations=true

email="bench@example.test"
bench_register "$email"
api_key=$(bench_api_key "$email")
auth=(-H "X-API-Key: $api_key" -H 'Content-Type: application/json')
project=$(bench_project "$api_key" "Benchmark")
# Deliveries are signed, as in production.
curl -sf -o /dev/null "${auth[@]}" -X POST "$BASE_URL/api/v1/projects/$project/webhook-secret"
anchor=$(curl -sf "${auth[@]}" -d "{\"project_id\":\"$project\",\"title\":\"anchor\"}" "$BASE_URL/api/v1/tasks" | jq -r .id)

count_received() { [[ -f $WORK/received ]] && wc -l <"$WORK/received" || echo 0; }
wait_received() { # <count> <timeout s>
    local deadline=$((SECONDS + $2))
    while (($(count_received) < $1)); do
        ((SECONDS < deadline)) || {
            tail -n 20 "$WORK/service.log" >&2
            psql_db -c "SELECT status, count(*), max(last_error) FROM outbox GROUP BY status" >&2
            die "only $(count_received) of $1 webhooks arrived"
        }
        sleep 0.05
    done
}

log "warm-up: 500 deliveries"
insert_deliveries() {
    psql_db -v task="$anchor" -v url="$RECEIVER_URL" -v n="$1" <<'SQL'
INSERT INTO outbox (id, task_id, trigger, action, payload)
SELECT uuid_v7(), :'task', 'success', jsonb_build_object('trigger', 'success', 'url', :'url', 'method', 'POST'),
       jsonb_build_object('task_id', :'task', 'status', 'succeeded', 'attempt', 1, 'output', jsonb_build_object('i', i))
FROM generate_series(1, :n) AS i;
SQL
}
insert_deliveries 500
wait_received 500 60

log "throughput: $DELIVERIES deliveries"
before=$(count_received)
start_ms=$(date +%s%3N)
insert_deliveries "$DELIVERIES"
wait_received $((before + DELIVERIES)) 600
end_ms=$(tail -n1 "$WORK/received" | cut -d' ' -f1)
rate=$(awk -v n="$DELIVERIES" -v ms="$((end_ms - start_ms))" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
left=$(psql_db -c "SELECT count(*) FROM outbox WHERE status <> 'delivered'")

log "latency: $TASKS tasks created one after another, started by the push dispatcher"
before=$(count_received)
python3 - "$BASE_URL" "$api_key" "$project" "$RECEIVER_URL" "$TASKS" >"$WORK/tasks" <<'PY'
import json, sys, urllib.request
base, key, project, url, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
def post(path, body):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"X-API-Key": key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)
for i in range(n):
    task = post("/api/v1/tasks", {"project_id": project, "title": f"latency {i}", "kind": "bench.latency",
                                  "actions": [{"trigger": "start", "url": url}]})
    print(task["id"])
PY
wait_received $((before + TASKS)) 120
psql_db -c "COPY (SELECT id, (extract(epoch FROM created_at) * 1000)::bigint FROM tasks WHERE kind = 'bench.latency') TO STDOUT" >"$WORK/ready"
latency=$(python3 - "$WORK/ready" "$WORK/received" <<'PY'
import sys
ready = dict(line.split() for line in open(sys.argv[1]))
lat = sorted(int(at) - int(ready[task]) for at, task in (line.split() for line in open(sys.argv[2])) if task in ready)
pick = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))]
print(f"p50 {pick(0.5)} ms, p99 {pick(0.99)} ms, max {lat[-1]} ms (n={len(lat)})")
PY
)

cat <<REPORT
Webhook delivery benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git -C "$ROOT" rev-parse --short HEAD), default Webhooks settings

| measurement | result |
| --- | --- |
| deliveries/s, $DELIVERIES signed deliveries to one fast local receiver | $rate /s (not delivered at the end: $left) |
| task ready → start webhook received (pushed by the leader's dispatcher) | $latency |
REPORT
