#!/usr/bin/env bash
# Dashboard benchmark (issue 18): time from navigation to the first page of a project's tasks on the 1M-task data set,
# in the installed Chromium (scripts/chromium.sh), as an admin and as a project member. The project is the seed's
# largest. Prints a Markdown table: the cold first load, then p50 / p95 / max of the warm loads (hashed assets cached).
#
# Usage (reuses the seeded instance; starts the service binary, with its wwwroot, and stops it at the end):
#   make publish seed-1m && load/dashboard-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner), INSTANCE (seed1m), DATABASE (taskrunner_1m), PORT (5195), LOADS (15),
#              CHROMIUM (what scripts/chromium.sh installs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
INSTANCE=${INSTANCE:-seed1m}
DATABASE=${DATABASE:-taskrunner_1m}
PORT=${PORT:-5195}
LOADS=${LOADS:-15}
BASE_URL=http://127.0.0.1:$PORT
WORK=$(mktemp -d)

log() { printf '[dashboard-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no service binary at $BINARY (run: make publish)"
[[ -d $(dirname "$BINARY")/wwwroot ]] || die "no wwwroot beside $BINARY (run: make publish)"
for tool in curl node; do command -v "$tool" >/dev/null || die "$tool is required"; done
CHROMIUM=${CHROMIUM:-$("$ROOT/scripts/chromium.sh")}
(cd "$ROOT/load" && npm ci --silent >/dev/null)
bench_seeded_database
project=$(psql_db -c "SELECT project_id FROM tasks WHERE deleted_at IS NULL GROUP BY project_id ORDER BY count(*) DESC LIMIT 1")
[[ $project =~ ^[0-9a-f-]{36}$ ]] || die "no seeded project in $DATABASE"

log "service on $BASE_URL against $DATABASE; project $project"
bench_start_service RateLimiting__Enabled=false
bench_register dashboard-bench-admin@example.test
bench_register dashboard-bench-member@example.test
psql_db -c "UPDATE users SET role = 'admin' WHERE email = 'dashboard-bench-admin@example.test'" \
    -c "INSERT INTO project_members (project_id, user_id, role)
        SELECT '$project', id, 'editor' FROM users WHERE email = 'dashboard-bench-member@example.test'
        ON CONFLICT (project_id, user_id) DO NOTHING" >/dev/null
tasks=$(psql_db -c "SELECT count(*) FROM tasks WHERE project_id = '$project' AND deleted_at IS NULL")

echo "Dashboard, navigation → first task row — $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Project of $tasks tasks in a database of $(psql_db -c 'SELECT count(*) FROM tasks') tasks, $LOADS loads per caller"
echo
echo "| caller | first load (empty cache) | warm p50 | warm p95 | warm max |"
echo "| --- | ---: | ---: | ---: | ---: |"
for who in admin member; do
    result=$(TMPDIR=$WORK timeout 200 node "$ROOT/load/dashboard-bench.mjs" "$BASE_URL" "dashboard-bench-$who@example.test" "$BENCH_PASSWORD" \
        "$project" "$LOADS" "$CHROMIUM") || die "the browser run as $who failed"
    node -e 'const r = JSON.parse(process.argv[1]);
        console.log(`| ${process.argv[2]} | ${r.first_load_ms} ms | ${r.warm_p50_ms} ms | ${r.warm_p95_ms} ms | ${r.warm_max_ms} ms |`)' "$result" "$who"
done
