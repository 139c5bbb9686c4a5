#!/usr/bin/env bash
# The creation side of the hot-path layout: one statement inserting 1,000 tasks (the bulk create's shape), 10 times, in
# each database given (run load/hot-path-statements.sh on it first: it creates the bench user and project). Prints the
# median milliseconds, buffers (pg_stat_database) and WAL bytes per 1,000 tasks.
#
# Usage: load/write-cost-statements.sh <postgresql://… URI> [...]
set -euo pipefail
for db in "$@"; do
  echo "== $db"
  psql "$db" -X -q -v ON_ERROR_STOP=1 -P pager=off <<'SQL'
\o /dev/null
CREATE TEMP TABLE t1 (ms float8);
SELECT pg_stat_force_next_flush();
SELECT pg_sleep(1.1);
CREATE TEMP TABLE s0 AS SELECT blks_hit + blks_read AS b, pg_current_wal_lsn() AS lsn FROM pg_stat_database WHERE datname = current_database();
DO $$
DECLARE t0 timestamptz;
BEGIN
  FOR r IN 1..10 LOOP
    t0 := clock_timestamp();
    INSERT INTO tasks (id, project_id, title, description, kind, priority, metadata, created_by)
    SELECT uuid_v7(), '00000000-0000-7000-8000-00000000b002', 'Write cost ' || i || ' build ' || r,
           'Rolls out build ' || i || ' of the service.', 'cd.deploy', 50, jsonb_build_object('build', i),
           '00000000-0000-7000-8000-00000000b001'
    FROM generate_series(1, 1000) AS i;
    INSERT INTO t1 VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END $$;
SELECT pg_stat_force_next_flush();
SELECT pg_sleep(1.1);
\o
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS ms_median_per_1000,
       (SELECT (blks_hit + blks_read - s0.b) / 10 FROM pg_stat_database WHERE datname = current_database()) AS buffers_per_1000,
       ((pg_current_wal_lsn() - s0.lsn) / 10)::bigint AS wal_bytes_per_1000
FROM t1, s0 GROUP BY s0.b, s0.lsn;
SQL
done
