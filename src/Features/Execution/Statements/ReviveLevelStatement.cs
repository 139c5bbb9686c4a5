namespace TaskRunner.Features.Execution;

/// <summary>
/// Revive one level (or its next part): after tasks went back to pending (<c>@parents</c>: a retried task, then the tasks
/// each level revived), the children their failure had cancelled as upstream_failed come back, unless another parent they
/// require to succeed still failed (a child whose last failed parent is revived later is looked at again then). Children
/// waiting on a parent through a completion edge wait for it again — those its end released: the children up to the
/// parent's <c>@bound</c>, the cursor of the propagation walk that still carried its failure when the revival took it
/// over (<see cref="AdoptSql"/>), else all. Such a child is not incremented but counted again from its edges at the end of
/// the transaction, under its lock (<see cref="RecountParentsStatement"/>): reached twice — through two parents revived
/// in different batches, by two retries at once, or as a reopened task's completion child — it still waits on each
/// unfinished parent once.
/// <para>Like <see cref="PropagateLevelStatement"/>: the children are locked in id order first, at most <c>@limit</c>,
/// the first after each parent's cursor <c>@after</c>; every edge of a locked child to the level's parents is applied at
/// once. Answers how many children it locked, the last of them, and one row per revived child (<c>revived</c>) or waiting
/// child, both to count again.</para>
/// </summary>
internal static class ReviveLevelStatement
{
    public const string Sql = """
        WITH edges AS (
            SELECT d.child_id, d.require
            FROM unnest(@parents::uuid[], @after::uuid[], @bound::uuid[]) AS p (id, after, bound)
            JOIN task_dependencies d ON d.parent_id = p.id AND d.child_id > p.after
            WHERE d.require = 'success' OR d.child_id <= p.bound
        ),
        locked AS (
            SELECT t.id
            FROM tasks t
            WHERE (t.id IN (SELECT e.child_id FROM edges e WHERE e.require = 'completion') AND t.status IN ('pending', 'paused'))
               OR (t.id IN (SELECT e.child_id FROM edges e WHERE e.require = 'success')
                   AND t.status = 'cancelled' AND t.cancel_reason = 'upstream_failed' AND t.deleted_at IS NULL)
            ORDER BY t.id
            LIMIT @limit
            FOR UPDATE OF t
        ),
        revived AS (
            UPDATE tasks t
            SET status = 'pending', cancel_reason = NULL, ended_at = NULL
            FROM locked l
            WHERE t.id = l.id AND t.status = 'cancelled'
              AND NOT EXISTS (SELECT FROM task_dependencies f JOIN tasks p ON p.id = f.parent_id
                              WHERE f.child_id = t.id AND f.require = 'success' AND p.status IN ('failed', 'cancelled', 'timed_out'))
            RETURNING t.id, t.kind
        ),
        recounted AS (
            SELECT t.id, t.kind FROM locked l JOIN tasks t ON t.id = l.id WHERE t.status IN ('pending', 'paused')
        )
        SELECT s.locked, s.last, r.id, r.kind, r.revived
        FROM (SELECT count(*)::int AS locked, (SELECT l.id FROM locked l ORDER BY l.id DESC LIMIT 1) AS last FROM locked) s
        LEFT JOIN (SELECT id, kind, true AS revived FROM revived UNION ALL SELECT id, kind, false FROM recounted) r ON true
        """;

    /// <summary>
    /// Before their first level, the parents (<c>@ids</c>, locked by the caller, so a propagation batch holding one in its
    /// frontier has committed) leave the propagation walk still carrying their failure: its cursor becomes their bound
    /// (children after it were never released, and now never will be); without one, all were (<c>@visited</c>).
    /// </summary>
    public const string AdoptSql = """
        WITH taken AS (
            DELETE FROM graph_walk_frontier f
            WHERE f.kind = 'propagate' AND f.task_id = ANY (@ids::uuid[])
            RETURNING f.task_id, f.after_child
        )
        SELECT i.id, coalesce(t.after_child, @visited) AS bound
        FROM unnest(@ids::uuid[]) AS i (id) LEFT JOIN taken t ON t.task_id = i.id
        """;
}
