namespace TaskRunner.Features.Execution;

/// <summary>
/// Push dispatch, first step: the head of the ready queue among the pushed tasks (those with a <c>start</c> action),
/// locked, in start order through tasks_ready_idx; no project filter (the system starts them for their owners). Keys
/// whose rule is already full in this snapshot are skipped, as in <see cref="ClaimStatement"/>; admission decides.
/// <para>Parameters: <c>@scan</c>, how many candidates to lock.</para>
/// </summary>
internal static class DispatchStatement
{
    public const string Sql = """
        WITH saturated AS (
            SELECT r.concurrency_key FROM concurrency_rules r
            WHERE r.max_running <= (SELECT count(*) FROM tasks x WHERE x.concurrency_key = r.concurrency_key AND x.status = 'running')
        )
        SELECT t.id, t.concurrency_key
        FROM tasks t
        WHERE t.status = 'pending' AND t.pending_parents = 0 AND t.deleted_at IS NULL
          AND (t.scheduled_at IS NULL OR t.scheduled_at <= now())
          AND (t.concurrency_key IS NULL OR t.concurrency_key <> ALL (ARRAY(SELECT concurrency_key FROM saturated)))
          AND t.actions @> '[{"trigger": "start"}]'
        ORDER BY t.priority DESC, t.created_at, t.id
        LIMIT @scan
        FOR UPDATE OF t SKIP LOCKED
        """;

    /// <summary>Seconds until the earliest pushed task that waits only for its scheduled time (null when none).</summary>
    public const string SecondsToNextDueSql = """
        SELECT extract(epoch FROM min(t.scheduled_at) - now())::float8
        FROM tasks t
        WHERE t.status = 'pending' AND t.pending_parents = 0 AND t.deleted_at IS NULL AND t.scheduled_at > now()
          AND t.actions @> '[{"trigger": "start"}]'
        """;
}
