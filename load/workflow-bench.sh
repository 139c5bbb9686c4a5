#!/usr/bin/env bash
# Workflow-run benchmark (issue 20), on this machine, loopback only, bounded in time. In the same run, alternating:
#   W. POST /api/v1/workflows/{id}/runs of a workflow that renders 1,000 tasks: the stored definition read and parsed,
#      the parameters validated, placeholders rendered, for_each fanned out, the DAG planned and created as one batch
#   B. POST /api/v1/tasks/bulk of the same 1,000 tasks, written out by hand (the path W wraps)
# RUNS sequential requests of each: median and p99 latency. Target: W < 200 ms end to end, close to B.
#
# Usage (starts its own PostgreSQL instance "bench" and the service binary, stops both at the end):
#   make publish && load/workflow-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner), PORT (5193), RUNS (30), INSTANCE (bench: the PostgreSQL instance name).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
PORT=${PORT:-5193}
RUNS=${RUNS:-30}
BASE_URL=http://127.0.0.1:$PORT
INSTANCE=${INSTANCE:-bench}
WORK=$(mktemp -d)

log() { printf '[workflow-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no service binary at $BINARY (run: make publish)"
for tool in jq curl python3; do command -v "$tool" >/dev/null || die "$tool is required"; done

service_pid=
cleanup() {
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
"$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -qtAX -c 'DROP DATABASE IF EXISTS taskrunner_bench WITH (FORCE)' \
    -c 'CREATE DATABASE taskrunner_bench' >/dev/null
DB=$("$ROOT/scripts/pg.sh" connstr taskrunner_bench "$INSTANCE")
dotnet run --project "$ROOT/migrations/TaskRunner.Migrations.csproj" -c Release -- up --Database:ConnectionString="$DB" >/dev/null

log "service on $BASE_URL"
bench_start_service Database__ConnectionString="$DB" RateLimiting__Enabled=false

email="bench@example.test"
bench_register "$email"
api_key=$(bench_api_key "$email")
project=$(bench_project "$api_key" "Workflow benchmark")

# The workflow: 20 layers; a layer is a gate task and one for_each task over 49 shards, each layer depending on the one
# above through a gate task (the gate waits for every copy of the layer above; each copy waits for its gate): 1,000
# tasks, 1,911 edges, the same tasks as the hand-written bulk request.
python3 - "$project" "$WORK" <<'PY'
import json, sys
project, work = sys.argv[1], sys.argv[2]
layers, width = 20, 49
yaml = ["name: bench-pipeline",
        "parameters:",
        "  day: {type: string, pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', default: '2026-01-31'}",
        f"  shards: {{type: array, items: {{type: integer, minimum: 0}}, default: {json.dumps(list(range(width)))}}}",
        "  priority: {type: integer, minimum: 0, maximum: 100, default: 50}",
        "tasks:"]
bulk = []
for layer in range(layers):
    gate = f"gate{layer}"
    yaml += [f"  - key: {gate}", f"    title: 'Layer {layer} of {{{{ params.day }}}}'", "    kind: etl.gate"]
    bulk_gate = {"ref": gate, "title": f"Layer {layer} of 2026-01-31", "kind": "etl.gate"}
    if layer:
        yaml.append(f"    depends_on: [step{layer - 1}]")
        bulk_gate["depends_on"] = [f"step{layer - 1}[{i}]" for i in range(width)]
    bulk.append(bulk_gate)
    yaml += [f"  - key: step{layer}", "    for_each: '{{ params.shards }}'",
             f"    title: 'Step {layer}, shard {{{{ item }}}} of {{{{ params.day }}}}'", "    kind: etl.step",
             "    priority: '{{ params.priority }}'", f"    metadata: {{layer: {layer}, shard: '{{{{ item }}}}', run: '{{{{ run.id }}}}'}}",
             f"    depends_on: [{gate}]"]
    for i in range(width):
        bulk.append({"ref": f"step{layer}[{i}]", "title": f"Step {layer}, shard {i} of 2026-01-31", "kind": "etl.step",
                     "priority": 50, "metadata": {"layer": layer, "shard": i, "run": "bench"}, "depends_on": [gate]})
assert len(bulk) == 1000, len(bulk)
open(f"{work}/workflow.yaml", "w").write("\n".join(yaml) + "\n")
open(f"{work}/bulk.json", "w").write(json.dumps({"project_id": project, "tasks": bulk}))
PY
workflow=$(curl -sf -H "X-API-Key: $api_key" -H 'Content-Type: application/yaml' --data-binary @"$WORK/workflow.yaml" \
    "$BASE_URL/api/v1/projects/$project/workflows" | jq -r .id)
[[ $workflow != null ]] || die "the workflow was not created"
created=$(curl -sf -H "X-API-Key: $api_key" -H 'Content-Type: application/json' -d '{}' \
    "$BASE_URL/api/v1/workflows/$workflow/runs" | jq '.tasks | length')
[[ $created == 1000 ]] || die "a run created $created tasks, not 1,000"

time_post() { # <url> <content-type> <body file>
    curl -sf -o /dev/null -w '%{time_total}\n' -H "X-API-Key: $api_key" -H "Content-Type: $2" --data-binary @"$3" "$1"
}
echo '{}' >"$WORK/run.json"
log "warm-up, then $RUNS runs of each, alternating"
for _ in 1 2 3; do
    time_post "$BASE_URL/api/v1/workflows/$workflow/runs" application/json "$WORK/run.json" >/dev/null
    time_post "$BASE_URL/api/v1/tasks/bulk" application/json "$WORK/bulk.json" >/dev/null
done
for _ in $(seq "$RUNS"); do
    time_post "$BASE_URL/api/v1/workflows/$workflow/runs" application/json "$WORK/run.json" >>"$WORK/run-times"
    time_post "$BASE_URL/api/v1/tasks/bulk" application/json "$WORK/bulk.json" >>"$WORK/bulk-times"
done
stats() {
    sort -n "$1" | awk '{ t[NR] = $1 * 1000 } END {
        p99 = int(NR * 0.99 + 0.999); if (p99 > NR) p99 = NR
        printf "median %.1f ms, p99 %.1f ms, min %.1f ms, max %.1f ms (n=%d)", (t[int((NR+1)/2)] + t[int(NR/2)+1]) / 2, t[p99], t[1], t[NR], NR }'
}

cat <<REPORT
Workflow-run benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git -C "$ROOT" rev-parse --short HEAD), $(basename "$BINARY")

| measurement | result |
| --- | --- |
| W: POST /workflows/{id}/runs, 1,000 rendered tasks (20 for_each fan-outs of 49, 20 gates, 1,911 edges) | $(stats "$WORK/run-times") |
| B: POST /tasks/bulk, the same 1,000 tasks written out | $(stats "$WORK/bulk-times") |
REPORT
