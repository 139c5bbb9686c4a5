using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>
/// Claim, first step: the head of the ready queue for a pull worker, locked, in start order (priority, then age, then
/// id) through task_states_ready_idx; readiness is checked again on the locked task row, which a concurrent start or end
/// may have changed since the snapshot. Pushed tasks (those with a <c>start</c> action) are the dispatcher's and never claimed.
/// <para>A key whose rule is already full in this snapshot is skipped while walking, so a saturated key does not hide
/// the tasks behind it; admission (<see cref="TaskStarts"/>) decides for real. Twice the limit (<c>@scan</c>) is locked
/// only while a rule exists, so a key that fills up during admission leaves room for the tasks behind it; without rules
/// admission turns nothing away, and every extra candidate would be a row lock written for nothing.</para>
/// <para>Parameters: <c>@kinds</c>, <c>@concurrencyKey</c>, <c>@limit</c>, <c>@scan</c>, and those of
/// <see cref="ProjectAccess.OnTaskRow"/> (the claimer must be allowed to edit the task's project).</para>
/// </summary>
internal static class ClaimStatement
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
          AND NOT t.actions @> '[{"trigger": "start"}]'
          AND (cardinality(@kinds::text[]) = 0 OR t.kind = ANY (@kinds::text[]))
          AND (@concurrencyKey::text IS NULL OR t.concurrency_key = @concurrencyKey)
          AND
        """ + ProjectAccess.OnTaskRow + """

        ORDER BY s.priority DESC, s.created_at, s.task_id
        LIMIT CASE WHEN EXISTS (SELECT FROM concurrency_rules) THEN @scan ELSE @limit END
        FOR UPDATE OF t SKIP LOCKED
        """;
}
