namespace TaskRunner.Features.Execution;

/// <summary>
/// Revive, last: with every revival of the walk visible, the revived tasks' (<c>@revived</c>) own counters of unfinished
/// parents as their edges count them — a success edge waits for success, a completion edge for any end (a parent revived
/// in the same level looked ended to the level's statement).
/// </summary>
internal static class RecountParentsStatement
{
    public const string Sql = """
        UPDATE tasks t SET pending_parents =
            (SELECT count(*)::int FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id
             WHERE d.child_id = t.id
               AND CASE d.require WHEN 'success' THEN p.status <> 'succeeded'
                                  ELSE p.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out') END)
        WHERE t.id = ANY (@revived::uuid[])
        """;
}
