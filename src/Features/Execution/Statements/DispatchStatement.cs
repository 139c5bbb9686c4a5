namespace TaskRunner.Features.Execution;

/// <summary>
/// Push dispatch, first step: the head of the ready queue among the pushed tasks (those with a <c>start</c> action),
/// locked, in start order through task_states_ready_idx (readiness checked again on the locked row); no project filter (the system starts them for their owners). Keys
/// whose rule is already full in this snapshot are skipped, as in <see cref="ClaimStatement"/>; admission decides.
/// <para>Parameters: <c>@scan</c>, how many candidates to lock.</para>
/// </summary>
internal static class DispatchStatement
{
    public const string Sql = """
        WITH saturated AS (
            SELECT r.concurrency_key FROM concurrency_rules r
            WHERE r.max_running <= (SELECT count(*) FROM task_states x WHERE x.concurrency_key = r.concurrency_key AND x.status = 'running')
        )
        SELECT t.id, t.concurrency_key
        FROM task_states s
        JOIN tasks t ON t.id = s.task_id
        WHERE s.status = 'pending' AND s.pending_parents = 0 AND s.deleted_at IS NULL
          AND t.status = 'pending' AND t.pending_parents = 0 AND t.deleted_at IS NULL
          AND (t.scheduled_at IS NULL OR t.scheduled_at <= now())
          AND (s.concurrency_key IS NULL OR s.concurrency_key <> ALL (ARRAY(SELECT concurrency_key FROM saturated)))
          AND t.actions @> '[{"trigger": "start"}]'
        ORDER BY s.priority DESC, s.created_at, s.task_id
        LIMIT @scan
        FOR UPDATE OF t SKIP LOCKED
        """;

    /// <summary>Seconds until the earliest pushed task that waits only for its scheduled time (null when none).</summary>
    public const string SecondsToNextDueSql = """
        SELECT extract(epoch FROM min(t.scheduled_at) - now())::float8
        FROM task_states s
        JOIN tasks t ON t.id = s.task_id
        WHERE s.status = 'pending' AND s.pending_parents = 0 AND s.deleted_at IS NULL AND t.scheduled_at > now()
          AND t.actions @> '[{"trigger": "start"}]'
        """;
}
