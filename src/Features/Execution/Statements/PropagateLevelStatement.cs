namespace TaskRunner.Features.Execution;

/// <summary>
/// Propagate one level (or its next part): the one way an end reaches the children, for reports, timeouts, cancels and
/// the graph walks that continue them. Children of failed parents that required their success are cancelled as
/// upstream_failed (with their <c>cancel</c>/<c>end</c> deliveries; they are the next level's failed parents); every other
/// child whose edge the level satisfied counts one parent less. A child with a success edge to a failed parent is never
/// also counted down, so no row is updated twice in the statement.
/// <para>Children through task_dependencies_parent_idx (parent_id, child_id); the child rows through their primary key.
/// The edges are read once, driven from the arrays, and the "blocked by a failed parent" test is one set computed once:
/// right after a bulk create the edges' statistics are stale, and a NOT EXISTS subplan per child then scanned the whole
/// edge table for every candidate (a 10,000-task DAG took 52 s to cancel; now one pass per level).</para>
/// <para>The level's children are locked in id order first (the CTE's rows are locked as they are produced, sorted), and
/// each update joins them, so it only changes rows already locked: two levels racing through shared children (a
/// diamond's bottom, siblings of two parents) wait for each other in one order instead of deadlocking. At most
/// <c>@limit</c> children are locked, the first in id order after each parent's cursor: every edge of a locked child to
/// the level's parents is applied at once, so a later part resuming after the last locked child applies each edge
/// exactly once.</para>
/// <para>Parameters: the parallel arrays <c>@parents</c>, <c>@succeeded</c>, <c>@after</c> (each parent's cursor), and
/// <c>@limit</c>. Answers how many children it locked, the last of them, and one row per cancelled child.</para>
/// </summary>
internal static class PropagateLevelStatement
{
    public const string Sql = """
        WITH edges AS (
            SELECT d.child_id, d.require, p.succeeded
            FROM unnest(@parents::uuid[], @succeeded::boolean[], @after::uuid[]) AS p (id, succeeded, after)
            JOIN task_dependencies d ON d.parent_id = p.id AND d.child_id > p.after
        ),
        blocked AS (
            SELECT DISTINCT e.child_id FROM edges e WHERE NOT e.succeeded AND e.require = 'success'
        ),
        locked AS (
            SELECT t.id
            FROM tasks t
            WHERE t.id IN (SELECT e.child_id FROM edges e)
              AND t.status IN ('pending', 'paused')
            ORDER BY t.id
            LIMIT @limit
            FOR UPDATE OF t
        ),
        doomed AS (
            UPDATE tasks t
            SET status = 'cancelled', cancel_reason = 'upstream_failed', ended_at = now()
            FROM blocked b JOIN locked l ON l.id = b.child_id
            WHERE t.id = b.child_id AND t.status IN ('pending', 'paused')
            RETURNING t.id, t.status, t.kind, t.attempt, t.actions, t.output, t.error
        ),
        released AS (
            UPDATE tasks t
            SET pending_parents = t.pending_parents - c.edges
            FROM (SELECT e.child_id, count(*)::int AS edges FROM edges e
                  WHERE e.succeeded OR e.require = 'completion'
                  GROUP BY e.child_id) c
            JOIN locked l ON l.id = c.child_id
            WHERE t.id = c.child_id AND t.status IN ('pending', 'paused')
              AND t.id NOT IN (SELECT child_id FROM blocked)
            RETURNING t.id
        ),
        deliveries AS (
            INSERT INTO outbox (id, task_id, trigger, action, payload)
            SELECT uuid_v7(), e.id, a.action->>'trigger', a.action,
                   jsonb_build_object('task_id', e.id, 'kind', e.kind, 'status', e.status, 'attempt', e.attempt,
                                      'output', e.output, 'error', e.error)
            FROM doomed e
            CROSS JOIN LATERAL jsonb_array_elements(e.actions) AS a (action)
            WHERE a.action->>'trigger' IN ('end', 'cancel')
        )
        SELECT s.locked, s.last, d.id, d.kind
        FROM (SELECT count(*)::int AS locked, (SELECT l.id FROM locked l ORDER BY l.id DESC LIMIT 1) AS last FROM locked) s
        LEFT JOIN doomed d ON true
        """;
}
