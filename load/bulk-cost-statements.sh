#!/usr/bin/env bash
# Where the database time of a 1,000-task bulk create goes, piece by piece: the bulk's two inserts (1,000 tasks through
# unnest, as TaskStore writes them, then their 2,850 edges: 20 layers of 50, each task below the first depending on three
# of the layer above — load/tasks-bench.sh's DAG) run RUNS times inside one transaction that is rolled back, once as the
# schema is and once per variant with one piece taken away inside that transaction (an index dropped, a trigger disabled,
# the edges' foreign keys dropped). A variant's saving is that piece's cost. Time is the backend's own CPU time
# (/proc/self/schedstat read through pg_read_file, so a superuser connection on this machine), far steadier than wall
# time on a shared box; median and minimum of RUNS per piece.
#
# Usage: load/bulk-cost-statements.sh <postgresql://… URI of a migrated database>     (ONLY="baseline -tasks_title_idx")
# Run it on a database that holds tasks (a load/tasks-bench.sh or load/mixed-rate.sh run's, or the seed): on an empty
# one the triggers' cached plans are made for an empty table (a sequential scan per edge) and the edge figures are
# meaningless. Analyzes tasks and task_dependencies first; creates a bench user and project (fixed ids) if missing;
# leaves nothing else behind but dead rows (VACUUM after).
set -euo pipefail

DB="${1:?usage: $0 <postgresql://… URI of a migrated database>}"
RUNS="${RUNS:-9}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
psql_() { psql "$DB" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

psql_ <<'SQL'
ANALYZE tasks, task_dependencies;
INSERT INTO users (id, email, display_name, password_hash)
VALUES ('00000000-0000-7000-8000-00000000b001', 'bulk-cost-bench@example.com', 'bench', 'x') ON CONFLICT DO NOTHING;
INSERT INTO projects (id, name, created_by)
VALUES ('00000000-0000-7000-8000-00000000b002', 'bulk cost bench', '00000000-0000-7000-8000-00000000b001') ON CONFLICT DO NOTHING;
SQL

cat >"$WORK/round.sql" <<'SQL'
SELECT (SELECT array_agg(uuid_v7() ORDER BY i) FROM generate_series(0, 999) i) AS ids \gset
SELECT array_agg((:'ids'::uuid[])[l * 50 + s + 1]) AS child, array_agg((:'ids'::uuid[])[(l - 1) * 50 + (s + k * 7) % 50 + 1]) AS parent
FROM generate_series(1, 19) l, generate_series(0, 49) s, generate_series(0, 2) k \gset
SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS c0 \gset
INSERT INTO tasks (id, project_id, title, description, kind, status, priority, metadata, timeout_seconds, scheduled_at,
                   max_retries, concurrency_key, batch_id, dedupe_key, assignee_id, actions, cancel_reason,
                   pending_parents, created_by, ended_at, traceparent)
SELECT id, '00000000-0000-7000-8000-00000000b002', 'Step ' || i || ' of the nightly pipeline', NULL, 'etl.step', 'pending',
       ((i * 37) % 101)::smallint, jsonb_build_object('layer', i / 50, 'slot', i % 50), NULL, NULL, 0, NULL, :'batch', NULL,
       NULL, '[]'::jsonb, NULL, CASE WHEN i < 50 THEN 0 ELSE 3 END, '00000000-0000-7000-8000-00000000b001', NULL, NULL
FROM unnest(:'ids'::uuid[]) WITH ORDINALITY AS n (id, o), LATERAL (SELECT (o - 1)::int AS i) x
ON CONFLICT (project_id, live_dedupe_key) WHERE live_dedupe_key IS NOT NULL DO NOTHING;
SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS c1 \gset
INSERT INTO task_dependencies (child_id, parent_id, require)
SELECT c, p, 'success' FROM unnest(:'child'::uuid[], :'parent'::uuid[]) AS e (c, p);
SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS c2 \gset
\echo ROUND :c0 :c1 :c2
SQL

indexes=$(psql_ -c "SELECT string_agg(indexrelid::regclass::text, ' ' ORDER BY indexrelid::regclass::text) FROM pg_index
                    WHERE indrelid = 'tasks'::regclass AND NOT indisprimary AND NOT indisunique")
triggers=$(psql_ -c "SELECT string_agg(tgname, ' ' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'tasks'::regclass
                     AND NOT tgisinternal AND (tgtype & 4) <> 0")   # the INSERT triggers
variants=(baseline)
for index in $indexes; do variants+=("-$index"); done
for trigger in $triggers; do variants+=("-trigger:$trigger"); done
variants+=("-all-secondary-indexes" "-tasks-foreign-keys" "-edge-foreign-keys" "-edge-trigger:task_dependencies_inserted_within_project"
           "-task_dependencies_parent_idx" baseline)

change_for() { # variant -> SQL run inside the rolled-back transaction before the rounds
    case $1 in
        baseline) ;;
        -all-secondary-indexes) for index in $indexes; do echo "DROP INDEX $index;"; done ;;
        -tasks-foreign-keys) echo "ALTER TABLE tasks DROP CONSTRAINT tasks_project_id_fkey, DROP CONSTRAINT tasks_created_by_fkey, DROP CONSTRAINT tasks_assignee_id_fkey;" ;;
        -edge-foreign-keys) echo "ALTER TABLE task_dependencies DROP CONSTRAINT task_dependencies_child_id_fkey, DROP CONSTRAINT task_dependencies_parent_id_fkey;" ;;
        -edge-trigger:*) echo "ALTER TABLE task_dependencies DISABLE TRIGGER ${1#-edge-trigger:};" ;;
        -trigger:*) echo "ALTER TABLE tasks DISABLE TRIGGER ${1#-trigger:};" ;;
        -*) echo "DROP INDEX ${1#-};" ;;
    esac
}

printf '| piece taken away | tasks insert, CPU ms median (min) | edges insert, CPU ms median (min) |\n| --- | ---: | ---: |\n'
for variant in "${variants[@]}"; do
    [[ -z ${ONLY:-} || " $ONLY " == *" $variant "* ]] || continue
    {
        echo "BEGIN;"
        change_for "$variant"
        for ((r = 0; r < RUNS; r++)); do echo "SELECT uuid_v7() AS batch \\gset"; echo "\\i $WORK/round.sql"; done
        echo "ROLLBACK;"
    } >"$WORK/variant.sql"
    psql_ -f "$WORK/variant.sql" | awk -v variant="$variant" '
        /^ROUND/ { n++; t[n] = ($3 - $2) / 1e6; e[n] = ($4 - $3) / 1e6 }
        function median(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
        END { printf "| %s | %.1f (%.1f) | %.1f (%.1f) |\n", variant, median(t, n), t[1], median(e, n), e[1] }'
done
