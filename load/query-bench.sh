#!/usr/bin/env bash
# Query-surface benchmark (issue 6) on the 1M-task data set, all on this machine, loopback only, bounded in time:
# GET /api/v1/tasks first page and a deep page (cursor ~50,000 rows in), a filtered list, /tasks/search (several
# queries, rotated) and /tasks/search/suggest (the prefixes of someone typing), as a realistic non-admin member of 4 of
# the 40 seeded projects (~10 % of the tasks), plus the first page and the search as an admin. Each: wrk, warm-up, then
# the measured run; p50/p99 from wrk --latency.
#
# Usage (reuses the seeded instance; starts the AOT binary on it and stops it at the end):
#   make publish seed-1m && load/query-bench.sh
# Environment: BINARY (artifacts/aot/TaskRunner), INSTANCE (seed1m), DATABASE (taskrunner_1m), PORT (5192),
#              DURATION (10s), CONNECTIONS (2: latency at light load; raise it for throughput).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARY=${BINARY:-$ROOT/artifacts/aot/TaskRunner}
INSTANCE=${INSTANCE:-seed1m}
DATABASE=${DATABASE:-taskrunner_1m}
PORT=${PORT:-5192}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-2}
BASE_URL=http://127.0.0.1:$PORT
WORK=$(mktemp -d)

log() { printf '[query-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source=lib/bench-service.sh
source "$ROOT/load/lib/bench-service.sh"

[[ -x $BINARY ]] || die "no AOT binary at $BINARY (run: make publish)"
for tool in wrk jq curl; do command -v "$tool" >/dev/null || die "$tool is required"; done
bench_seeded_database
tasks=$(psql_db -c "SELECT count(*) FROM tasks")

log "service on $BASE_URL against $DATABASE ($tasks tasks)"
bench_start_service RateLimiting__Api__PermitLimit=1000000 RateLimiting__Search__PermitLimit=1000000 RateLimiting__Bulk__PermitLimit=1000000 RateLimiting__Worker__PermitLimit=1000000 RateLimiting__Auth__PermitLimit=1000000

# A caller through the API (registered users are members: the seeded admin exists), given memberships like a seeded
# member's: 4 of the 40 projects. A second one is made admin in the database.
api_key_for() { # <email> <role>: register (if new), set role, then a key (logging in after, so the role applies)
    bench_register "$1"
    psql_db -c "UPDATE users SET role = '$2' WHERE email = '$1'" >/dev/null
    bench_api_key "$1"
}
member_key=$(api_key_for query-bench-member@example.test member)
admin_key=$(api_key_for query-bench-admin@example.test admin)
psql_db -c "INSERT INTO project_members (project_id, user_id, role)
            SELECT p.id, u.id, 'editor' FROM (SELECT id FROM projects ORDER BY id LIMIT 4) p,
                 users u WHERE u.email = 'query-bench-member@example.test' ON CONFLICT DO NOTHING" >/dev/null
visible=$(psql_db -c "SELECT count(*) FROM tasks t JOIN project_members m ON m.project_id = t.project_id
                      JOIN users u ON u.id = m.user_id AND u.email = 'query-bench-member@example.test'")

log "a cursor ~50,000 rows deep (250 pages of 200)"
cursor=
for _ in $(seq 250); do
    cursor=$(curl -sf -H "X-API-Key: $member_key" "$BASE_URL/api/v1/tasks?limit=200&fields=id${cursor:+&cursor=$cursor}" | jq -r .next_cursor)
done
[[ $cursor != null && -n $cursor ]] || die "could not page 50,000 rows deep"

rotating_script() { # <file> <path>...: a wrk script that cycles through the paths
    local file=$1; shift
    {
        printf 'local paths = {'
        printf '"%s",' "$@"
        printf '}\nlocal i = 0\nrequest = function()\n  i = i %% #paths + 1\n  return wrk.format("GET", paths[i])\nend\n'
    } >"$file"
}
rotating_script "$WORK/search.lua" \
    "/api/v1/tasks/search?q=deploy%20granite" "/api/v1/tasks/search?q=backfill%20chair%20-frozen" \
    "/api/v1/tasks/search?q=%22reconcile%20ergonomic%22" "/api/v1/tasks/search?q=export%20steel%20or%20archive%20steel" \
    "/api/v1/tasks/search?q=delpoy%20granite" "/api/v1/tasks/search?q=index%20wooden&status=succeeded"
rotating_script "$WORK/suggest.lua" \
    "/api/v1/tasks/search/suggest?q=d" "/api/v1/tasks/search/suggest?q=de" "/api/v1/tasks/search/suggest?q=dep" \
    "/api/v1/tasks/search/suggest?q=depl" "/api/v1/tasks/search/suggest?q=deploy%20" "/api/v1/tasks/search/suggest?q=deploy%20g" \
    "/api/v1/tasks/search/suggest?q=deploy%20gr" "/api/v1/tasks/search/suggest?q=deploy%20gra" "/api/v1/tasks/search/suggest?q=ar" \
    "/api/v1/tasks/search/suggest?q=arch"
rotating_script "$WORK/search-one-word.lua" "/api/v1/tasks/search?q=deploy" "/api/v1/tasks/search?q=granite"

measure() { # <label> <api key> <wrk args...>: warm-up, then the measured run; prints a table row
    wrk -t1 -c"$CONNECTIONS" -d3s -H "X-API-Key: $2" "${@:3}" >/dev/null
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H "X-API-Key: $2" "${@:3}" | awk -v label="$1" '
        /Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
        /Non-2xx/ { errors = $NF } END { printf "| %s | %s | %s | %s | %d |\n", label, p50, p99, rps, errors + 0 }'
}

log "wrk -t1 -c$CONNECTIONS, $DURATION per row"
{
    echo "Query benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git -C "$ROOT" rev-parse --short HEAD), $tasks tasks, member sees $visible, wrk -t1 -c$CONNECTIONS -d$DURATION"
    echo
    echo "| request | p50 | p99 | req/s | non-2xx |"
    echo "| --- | --- | --- | --- | --- |"
    measure "member: GET /tasks (first page, 50)" "$member_key" "$BASE_URL/api/v1/tasks"
    measure "member: GET /tasks deep page (cursor ~50,000 rows in)" "$member_key" "$BASE_URL/api/v1/tasks?limit=50&fields=id&cursor=$cursor"
    measure "member: GET /tasks?status=running&sort=-priority" "$member_key" "$BASE_URL/api/v1/tasks?status=running&sort=-priority"
    measure "member: GET /tasks?kind=cd.deploy&priority_min=80&created_after=2026-09-01" "$member_key" "$BASE_URL/api/v1/tasks?kind=cd.deploy&priority_min=80&created_after=2026-09-01"
    measure "member: GET /tasks/search (6 queries rotated, incl. a typo)" "$member_key" -s "$WORK/search.lua" "$BASE_URL"
    measure "member: GET /tasks/search/suggest (10 prefixes rotated)" "$member_key" -s "$WORK/suggest.lua" "$BASE_URL"
    measure "admin: GET /tasks (first page, 50)" "$admin_key" "$BASE_URL/api/v1/tasks"
    measure "admin: GET /tasks/search (6 queries rotated)" "$admin_key" -s "$WORK/search.lua" "$BASE_URL"
    measure "admin: GET /tasks/search/suggest (10 prefixes rotated)" "$admin_key" -s "$WORK/suggest.lua" "$BASE_URL"
    measure "admin: GET /tasks/search, one very common word (deploy, granite: ~6 % of 1M)" "$admin_key" -s "$WORK/search-one-word.lua" "$BASE_URL"
}
