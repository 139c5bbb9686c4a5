namespace TaskRunner.Features.Execution;

/// <summary>
/// Revive, last in each transaction: with every revival of the transaction visible, the counters of unfinished parents of
/// the tasks it revived or made wait again (<c>@tasks</c>, locked) as their edges count them — a success edge waits for
/// success, a completion edge for any end (a parent revived in the same level looked ended to the level's statement) —
/// and an edge whose parent's end a propagation walk has not applied yet (the child is after the parent's cursor in a
/// propagation frontier) still counts: that walk will count it down. A count, not an increment, so it is exact however
/// often a task is reached; a separate statement, so its snapshot sees every transaction that changed a parent and then
/// needed the child's lock (held here) to count it.
/// </summary>
internal static class RecountParentsStatement
{
    public const string Sql = """
        UPDATE tasks t SET pending_parents =
            (SELECT count(*)::int FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id
             WHERE d.child_id = t.id
               AND (CASE d.require WHEN 'success' THEN p.status <> 'succeeded'
                                   ELSE p.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out') END
                    OR EXISTS (SELECT FROM graph_walk_frontier f
                               WHERE f.kind = 'propagate' AND f.task_id = p.id AND f.after_child < d.child_id)))
        WHERE t.id = ANY (@tasks::uuid[])
        """;
}
