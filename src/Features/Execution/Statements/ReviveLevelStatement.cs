namespace TaskRunner.Features.Execution;

/// <summary>
/// Revive one level: after tasks went back to pending (<c>@reopened</c>: a retry, a restore), the children their failure
/// had cancelled as upstream_failed come back, unless another parent they require to succeed still failed (a child whose
/// last failed parent is revived later is looked at again then). Children waiting on a reopened task through a completion
/// edge wait for it again — those its end released: when a walk had not yet visited all its children (the task is in a
/// walk's frontier), only those up to its cursor, and the walk forgets it. The reopened tasks are locked already, so a
/// batch of that walk that visited them has committed before this statement's snapshot. Answers the revived children
/// (the next level's <c>@reopened</c>).
/// </summary>
internal static class ReviveLevelStatement
{
    public const string Sql = """
        WITH revived AS (
            UPDATE tasks t
            SET status = 'pending', cancel_reason = NULL, ended_at = NULL
            WHERE t.id IN (SELECT d.child_id FROM task_dependencies d WHERE d.parent_id = ANY (@reopened::uuid[]) AND d.require = 'success')
              AND t.status = 'cancelled' AND t.cancel_reason = 'upstream_failed' AND t.deleted_at IS NULL
              AND NOT EXISTS (SELECT FROM task_dependencies f JOIN tasks p ON p.id = f.parent_id
                              WHERE f.child_id = t.id AND f.require = 'success' AND p.status IN ('failed', 'cancelled', 'timed_out'))
            RETURNING t.id
        ),
        waiting_again AS (
            UPDATE tasks c
            SET pending_parents = c.pending_parents + e.edges
            FROM (SELECT d.child_id, count(*)::int AS edges
                  FROM task_dependencies d LEFT JOIN graph_walk_frontier f ON f.task_id = d.parent_id
                  WHERE d.parent_id = ANY (@reopened::uuid[]) AND d.require = 'completion'
                    AND (f.task_id IS NULL OR d.child_id <= f.after_child)
                  GROUP BY d.child_id) e
            WHERE c.id = e.child_id AND c.status IN ('pending', 'paused')
        ),
        unwalked AS (
            DELETE FROM graph_walk_frontier WHERE task_id = ANY (@reopened::uuid[])
        )
        SELECT id FROM revived
        """;
}
