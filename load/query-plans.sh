#!/usr/bin/env bash
# EXPLAIN (ANALYZE, BUFFERS) of every query shape of GET /tasks, /tasks/search and /tasks/search/suggest on a seeded
# database (make seed-1m), as an admin (no access predicate) and as a non-admin member (ProjectAccess.OnTaskRow), first
# page and a deep page (keyset position in the middle of the data). The SQL is what the handlers send (TaskReads.SelectSql,
# FilteredQuery predicates, keyset predicate, ORDER BY, LIMIT 51), with the parameters as literals (custom plans).
#
# Usage: load/query-plans.sh [instance] [database]      (defaults: seed1m taskrunner_1m)
#   FULL=1 prints whole plans; otherwise the node lines and the timing of each.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INSTANCE=${1:-seed1m}
DB=${2:-taskrunner_1m}
psql_db() { "$ROOT/scripts/pg.sh" -i "$INSTANCE" psql -d "$DB" -qtAX "$@"; }

member=$(psql_db -c "SELECT m.user_id FROM project_members m JOIN users u ON u.id = m.user_id AND u.role = 'member'
                     GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
project=$(psql_db -c "SELECT project_id FROM project_members WHERE user_id = '$member' ORDER BY 1 LIMIT 1")
assignee=$(psql_db -c "SELECT assignee_id FROM tasks WHERE assignee_id IS NOT NULL LIMIT 1")
IFS='|' read -r sched sched_id < <(psql_db -c "SELECT scheduled_at, id FROM tasks WHERE scheduled_at IS NOT NULL ORDER BY scheduled_at, id LIMIT 1
                                     OFFSET least(2000, (SELECT count(*) / 2 FROM tasks WHERE scheduled_at IS NOT NULL))")
batch=$(psql_db -c "SELECT batch_id FROM tasks ORDER BY id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM tasks)")
IFS='|' read -r mid_created mid_id mid_title mid_priority mid_updated < <(psql_db -c \
    "SELECT created_at, id, title, priority, updated_at FROM tasks ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET (SELECT count(*) / 2 FROM tasks)")

select_sql="SELECT t.id, t.project_id, t.title, t.description, t.kind, t.status, t.priority, t.metadata::text AS metadata,
       t.timeout_seconds, t.scheduled_at, t.max_retries, t.attempt, t.concurrency_key, t.batch_id, t.dedupe_key, t.assignee_id,
       coalesce((SELECT jsonb_agg(jsonb_build_object('task_id', d.parent_id, 'require', d.require) ORDER BY d.parent_id)
                 FROM task_dependencies d WHERE d.child_id = t.id), '[]')::text AS depends_on,
       t.actions::text AS actions, t.output::text AS output, t.error, t.cancel_reason, t.created_by, t.created_at,
       t.updated_at, t.started_at, t.ended_at, t.deleted_at, t.version
FROM tasks t"
readable="(false OR ((true OR 1 <= 1) AND EXISTS (SELECT FROM project_members m WHERE m.project_id = t.project_id
          AND m.user_id = '$member' AND CASE m.role WHEN 'owner' THEN 3 WHEN 'editor' THEN 2 WHEN 'viewer' THEN 1 ELSE 0 END >= 1)))"

readable_list="t.project_id = ANY(ARRAY(SELECT m.project_id FROM project_members m WHERE m.user_id = '$member'))"

explain() { # <label> <sql>
    printf '\n### %s\n' "$1"
    if [[ ${FULL:-0} == 1 ]]; then
        psql_db -c "EXPLAIN (ANALYZE, BUFFERS) $2"
    else
        local plan
        plan=$(psql_db -c "EXPLAIN (ANALYZE, BUFFERS) $2")
        grep -E -- '->|^[A-Z][a-zA-Z ]+ +\(cost|Index Cond|Rows Removed' <<<"$plan" | grep -v 'never executed' | head -12 || true
        grep -m1 -E 'Buffers: shared' <<<"$plan" || true
        grep -E 'Execution Time' <<<"$plan"
    fi
}

# The same under "bitmap scans only" (SET LOCAL in a transaction), as ListTasks and SearchTasks run a full-text count and,
# when the count is small, the list itself (TaskFilters.CountMatchesAsync).
explain_bitmap() { # <label> <sql>
    printf '\n### %s\n' "$1"
    local plan
    plan=$(psql_db -c "BEGIN" -c "SET LOCAL enable_seqscan = off" -c "SET LOCAL enable_indexscan = off" \
        -c "EXPLAIN (ANALYZE, BUFFERS) $2" -c "COMMIT")
    if [[ ${FULL:-0} == 1 ]]; then echo "$plan"; return; fi
    grep -E -- '->|^[A-Z][a-zA-Z ]+ +\(cost|Index Cond|Rows Removed' <<<"$plan" | grep -v 'never executed' | head -12 || true
    grep -m1 -E 'Buffers: shared' <<<"$plan" || true
    grep -E 'Execution Time' <<<"$plan"
}

list() { # <label> <predicates (after WHERE)> <order by>
    explain "$1" "$select_sql WHERE $2 ORDER BY $3 LIMIT 51"
}

for who in admin member; do
    if [[ $who == admin ]]; then access="true"; search_access="true"; else access="$readable"; search_access="$readable_list"; fi
    live="$access AND t.deleted_at IS NULL"
    list "$who: GET /tasks (default -created_at), first page" "$live" "t.created_at DESC, t.id DESC"
    list "$who: GET /tasks, deep page (cursor at the middle row)" "$live AND (t.created_at, t.id) < ('$mid_created', '$mid_id')" "t.created_at DESC, t.id DESC"
    list "$who: sort=updated_at" "$live" "t.updated_at ASC, t.id ASC"
    list "$who: sort=-updated_at, deep" "$live AND (t.updated_at, t.id) < ('$mid_updated', '$mid_id')" "t.updated_at DESC, t.id DESC"
    list "$who: sort=-priority" "$live" "t.priority DESC, t.id DESC"
    list "$who: sort=-priority,created_at (mixed), deep" "$live AND t.priority <= $mid_priority AND ((t.priority < $mid_priority) OR (t.priority = $mid_priority AND t.created_at > '$mid_created') OR (t.priority = $mid_priority AND t.created_at = '$mid_created' AND t.id > '$mid_id'))" "t.priority DESC, t.created_at ASC, t.id ASC"
    list "$who: sort=title, deep" "$live AND t.title >= '$mid_title' AND (t.title, t.id) > ('$mid_title', '$mid_id')" "t.title ASC, t.id ASC"
    list "$who: sort=status" "$live" "t.status ASC, t.id ASC"
    list "$who: sort=scheduled_at (nulls last)" "$live" "t.scheduled_at ASC NULLS LAST, t.id ASC"
    list "$who: sort=-scheduled_at (nulls last)" "$live" "t.scheduled_at DESC NULLS LAST, t.id DESC"
    list "$who: sort=scheduled_at, deep in the values" "$live AND ((t.scheduled_at > '$sched' OR t.scheduled_at IS NULL) OR (t.scheduled_at = '$sched' AND t.id > '$sched_id'))" "t.scheduled_at ASC NULLS LAST, t.id ASC"
    list "$who: sort=scheduled_at, deep in the nulls" "$live AND (t.scheduled_at IS NULL AND t.id > '$mid_id')" "t.scheduled_at ASC NULLS LAST, t.id ASC"
    list "$who: status=running" "$live AND t.status = ANY('{running}')" "t.created_at DESC, t.id DESC"
    list "$who: status=pending,running" "$live AND t.status = ANY('{pending,running}')" "t.created_at DESC, t.id DESC"
    list "$who: kind=cd.deploy" "$live AND t.kind = 'cd.deploy'" "t.created_at DESC, t.id DESC"
    list "$who: project_id" "$live AND t.project_id = '$project'" "t.created_at DESC, t.id DESC"
    # The operator's cross-project lists: one filter, sorted by urgency or by time (tasks_kind_priority_created_idx, 20).
    list "$who: kind=cd.deploy&sort=-priority,created_at" "$live AND t.kind = 'cd.deploy'" "t.priority DESC, t.created_at ASC, t.id ASC"
    list "$who: status=succeeded&sort=-priority,created_at" "$live AND t.status = ANY('{succeeded}')" "t.priority DESC, t.created_at ASC, t.id ASC"
    list "$who: status=running&sort=-priority,created_at" "$live AND t.status = ANY('{running}')" "t.priority DESC, t.created_at ASC, t.id ASC"
    list "$who: status=succeeded (default order)" "$live AND t.status = ANY('{succeeded}')" "t.created_at DESC, t.id DESC"
    list "$who: concurrency_key&sort=-priority,created_at" "$live AND t.concurrency_key = 'deploy-pool-3'" "t.priority DESC, t.created_at ASC, t.id ASC"
    list "$who: batch_id" "$live AND t.batch_id = '$batch'" "t.created_at DESC, t.id DESC"
    list "$who: assignee_id" "$live AND t.assignee_id = '$assignee'" "t.created_at DESC, t.id DESC"
    list "$who: concurrency_key" "$live AND t.concurrency_key = 'deploy-pool-3'" "t.created_at DESC, t.id DESC"
    list "$who: priority_min=95" "$live AND t.priority >= 95" "t.created_at DESC, t.id DESC"
    list "$who: created_after/before (one week)" "$live AND t.created_at > now() - interval '60 days' AND t.created_at < now() - interval '53 days'" "t.created_at DESC, t.id DESC"
    list "$who: updated_after (last day)" "$live AND t.updated_at > now() - interval '1 day'" "t.created_at DESC, t.id DESC"
    list "$who: scheduled_after" "$live AND t.scheduled_at > now()" "t.created_at DESC, t.id DESC"
    list "$who: include_deleted=true" "$access" "t.created_at DESC, t.id DESC"
    explain_bitmap "$who: q= count through the GIN index (deploy, capped at 1000)" \
        "SELECT count(*) FROM (SELECT FROM tasks t WHERE $search_access AND t.deleted_at IS NULL AND t.search_vector @@ websearch_to_tsquery('english', 'deploy') LIMIT 1000) matches"
    list "$who: q=deploy (many matches: list order, sort index)" "$live AND t.search_vector @@ websearch_to_tsquery('english', 'deploy')" "t.created_at DESC, t.id DESC"
    explain_bitmap "$who: q=delpoy (few matches: bitmap scans, then sort)" "$select_sql WHERE $search_access AND t.deleted_at IS NULL
        AND t.search_vector @@ websearch_to_tsquery('english', 'delpoy') ORDER BY t.created_at DESC, t.id DESC LIMIT 51"

    rank="round(ts_rank_cd(t.search_vector, \$q\$'deploy' & 'granit'\$q\$::tsquery) * 1000000)::bigint"
    explain "$who: GET /tasks/search?q=deploy granite, first page" "WITH page AS MATERIALIZED (
        SELECT t.id, $rank AS rank_key FROM tasks t
        WHERE $search_access AND t.deleted_at IS NULL AND t.search_vector @@ \$q\$'deploy' & 'granit'\$q\$::tsquery
        ORDER BY $rank DESC, t.id DESC LIMIT 51)
      SELECT page.rank_key, ts_headline('english', task.title, \$q\$'deploy' & 'granit'\$q\$::tsquery), task.*
      FROM page CROSS JOIN LATERAL ($select_sql WHERE t.id = page.id) task ORDER BY page.rank_key DESC, page.id DESC"
    rank1="round(ts_rank_cd(t.search_vector, \$q\$'deploy'\$q\$::tsquery) * 1000000)::bigint"
    explain "$who: GET /tasks/search?q=deploy (one word in 6 % of all titles), first page" "SELECT t.id, $rank1 AS rank_key FROM tasks t
        WHERE $search_access AND t.deleted_at IS NULL AND t.search_vector @@ \$q\$'deploy'\$q\$::tsquery ORDER BY $rank1 DESC, t.id DESC LIMIT 51"
    explain_bitmap "$who: search count for the typo decision (exact, LIMIT 10)" \
        "SELECT count(*) FROM (SELECT FROM tasks t WHERE $search_access AND t.deleted_at IS NULL AND t.search_vector @@ \$q\$'delpoy'\$q\$::tsquery LIMIT 10) matches"
    explain "$who: suggest q=deploy gr" "SELECT DISTINCT ON (lower(t.title) COLLATE \"C\") t.title FROM tasks t
        WHERE t.deleted_at IS NULL AND lower(t.title) COLLATE \"C\" >= lower('Deploy Gr') COLLATE \"C\"
          AND lower(t.title) COLLATE \"C\" < (lower('Deploy Gr') || U&'\\+10FFFF') COLLATE \"C\" AND $access
        ORDER BY lower(t.title) COLLATE \"C\" LIMIT 10"
    explain "$who: suggest q=d (widest prefix)" "SELECT DISTINCT ON (lower(t.title) COLLATE \"C\") t.title FROM tasks t
        WHERE t.deleted_at IS NULL AND lower(t.title) COLLATE \"C\" >= lower('d') COLLATE \"C\"
          AND lower(t.title) COLLATE \"C\" < (lower('d') || U&'\\+10FFFF') COLLATE \"C\" AND $access
        ORDER BY lower(t.title) COLLATE \"C\" LIMIT 10"
done
explain "typo correction (vocabulary, GiST KNN)" "SELECT w.word, c.term FROM unnest('{delpoy,granit}'::text[]) AS w (word)
    CROSS JOIN LATERAL (SELECT v.term FROM task_title_terms v ORDER BY v.term <-> w.word LIMIT 1) c
    WHERE NOT EXISTS (SELECT FROM task_title_terms k WHERE k.term = w.word) AND similarity(c.term, w.word) >= 0.25"
