#!/usr/bin/env bash
# The engine's two status changes of a task, alone in one session, on a ready queue of QUEUE tasks: per round, the
# head of the queue (BATCH tasks) is started (status running, attempt + 1) and then ended (succeeded, output), each one
# UPDATE in one transaction, as StartStatement and EndStatement write them (their other CTEs — leases, outbox — are the
# same for every layout and left out). Prints per round: milliseconds, buffers touched (pg_stat_database, every trigger
# and index included), WAL bytes, and how many of the updates of tasks were HOT.
#
# Usage: load/hot-path-statements.sh <connection URI of a migrated, otherwise empty database>
#   QUEUE=50000 BATCH=100 ROUNDS=20
# Compare layouts in the same run: one fresh database per schema version (TaskRunner.Migrations down 23 for the old
# one). Autovacuum is switched off on the bench database's written tables.
set -euo pipefail

DB="${1:?usage: $0 <postgresql://… URI of a migrated database>}"
QUEUE="${QUEUE:-50000}"
BATCH="${BATCH:-100}"
ROUNDS="${ROUNDS:-20}"

psql_() { psql "$DB" -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_ <<SQL
INSERT INTO users (id, email, display_name, password_hash)
VALUES ('00000000-0000-7000-8000-00000000b001', 'hot-path-bench@example.com', 'bench', 'x') ON CONFLICT DO NOTHING;
INSERT INTO projects (id, name, created_by)
VALUES ('00000000-0000-7000-8000-00000000b002', 'hot path bench', '00000000-0000-7000-8000-00000000b001') ON CONFLICT DO NOTHING;
INSERT INTO tasks (id, project_id, title, description, kind, priority, metadata, created_by)
SELECT uuid_v7(), '00000000-0000-7000-8000-00000000b002',
       'Deploy service ' || (i % 500) || ' to region ' || (i % 7) || ' build ' || i,
       'Rolls out build ' || i || ' of the service; checks health, then shifts traffic in steps.',
       'cd.deploy', 50, jsonb_build_object('build', i, 'region', i % 7), '00000000-0000-7000-8000-00000000b001'
FROM generate_series(1, $QUEUE) AS i;
SQL
# Autovacuum and autoanalyze off on the written tables, so their buffers never land in the deltas; one VACUUM ANALYZE first.
for table in tasks task_states events task_title_terms; do
  if [[ $(psql_ -Atc "SELECT to_regclass('$table') IS NOT NULL") == t ]]; then
    psql_ -c "ALTER TABLE $table SET (autovacuum_enabled = false)" -c "VACUUM ANALYZE $table"
  fi
done

# One session: the queue's order is taken once, so each round's head costs the same on every layout; statistics are
# flushed before and after (pg_stat_force_next_flush) and read as deltas over every round.
{
  cat <<SQL
\o /dev/null
CREATE TEMP TABLE queue AS
    SELECT row_number() OVER (ORDER BY priority DESC, created_at, id) AS n, id FROM tasks WHERE status = 'pending';
CREATE INDEX ON queue (n);
CREATE TEMP TABLE head (id uuid PRIMARY KEY);
CREATE TEMP TABLE times (round int, ms float8);
SELECT pg_stat_force_next_flush();
SELECT pg_sleep(1.1);
CREATE TEMP TABLE start AS
    SELECT (SELECT blks_hit + blks_read FROM pg_stat_database WHERE datname = current_database()) AS buffers,
           (SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'tasks') AS upd,
           (SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'tasks') AS hot,
           pg_current_wal_lsn() AS lsn;
SQL
  for round in $(seq 1 "$ROUNDS"); do
    cat <<SQL
TRUNCATE head;
INSERT INTO head SELECT id FROM queue WHERE n > ($round - 1) * $BATCH AND n <= $round * $BATCH;
CREATE TEMP TABLE IF NOT EXISTS mark (at timestamptz);
TRUNCATE mark;
INSERT INTO mark VALUES (clock_timestamp());
UPDATE tasks t SET status = 'running', started_at = now(), attempt = t.attempt + 1 WHERE t.id = ANY (ARRAY(SELECT id FROM head));
UPDATE tasks t SET status = 'succeeded', ended_at = now(), output = '{"ok": true}' WHERE t.id = ANY (ARRAY(SELECT id FROM head));
INSERT INTO times SELECT $round, extract(epoch FROM clock_timestamp() - at) * 1000 FROM mark;
SQL
  done
  cat <<SQL
SELECT pg_stat_force_next_flush();
SELECT pg_sleep(1.1);
\o
SELECT $ROUNDS AS rounds, $BATCH AS batch,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS ms_median,
       round(min(ms)::numeric, 2) AS ms_min,
       (SELECT ((blks_hit + blks_read - s.buffers) / $ROUNDS)::bigint FROM pg_stat_database WHERE datname = current_database()) AS buffers_per_round,
       (SELECT (pg_current_wal_lsn() - s.lsn) / $ROUNDS)::bigint AS wal_bytes_per_round,
       (SELECT n_tup_upd - s.upd FROM pg_stat_user_tables WHERE relname = 'tasks') AS task_updates,
       (SELECT n_tup_hot_upd - s.hot FROM pg_stat_user_tables WHERE relname = 'tasks') AS hot_updates
FROM times, start s
GROUP BY s.buffers, s.lsn, s.upd, s.hot;
SQL
} | psql_ -P pager=off
