namespace TaskRunner.Features.Execution;

/// <summary>
/// End: every way a running task's attempt ends — a report, a timeout, an expired lease — for a batch of tasks the
/// caller has locked. Each row of the arrays ends one task (or, with a retry delay, sends it back to pending for another
/// attempt), drops its lease, records the attempt in <c>task_attempts</c> (its worker from the lease, its outcome the
/// reported status even when retried), and writes the deliveries of the triggers that fire: the one matching the status,
/// and <c>end</c> (retries write none). Propagation to the children is <see cref="PropagateLevelStatement"/>, the next
/// statement of the same batch.
/// <para>Parameters: the parallel arrays <c>@ids</c>, <c>@statuses</c>, <c>@outputs</c>, <c>@errors</c>,
/// <c>@retryDelays</c> (seconds; null ends the task).</para>
/// </summary>
internal static class EndStatement
{
    public const string Sql = """
        WITH reports AS (
            SELECT * FROM unnest(@ids::uuid[], @statuses::text[], @outputs::text[], @errors::text[], @retryDelays::double precision[])
                AS r (id, status, output, error, retry_delay)
        ),
        updated AS (
            UPDATE tasks t
            SET status = CASE WHEN r.retry_delay IS NULL THEN r.status ELSE 'pending' END,
                ended_at = CASE WHEN r.retry_delay IS NULL THEN now() END,
                scheduled_at = CASE WHEN r.retry_delay IS NULL THEN t.scheduled_at ELSE now() + make_interval(secs => r.retry_delay) END,
                output = r.output::jsonb,
                error = r.error
            FROM reports r
            WHERE t.id = r.id
            RETURNING t.id, t.status, t.kind, t.attempt, t.actions, t.output, t.error, t.scheduled_at, t.started_at
        ),
        dropped AS (
            DELETE FROM task_leases l USING reports r WHERE l.task_id = r.id
            RETURNING l.task_id, l.worker
        ),
        attempts AS (
            INSERT INTO task_attempts (task_id, attempt, id, worker, started_at, ended_at, outcome, error)
            SELECT u.id, u.attempt, uuid_v7(), d.worker, u.started_at, now(), r.status, r.error
            FROM updated u
            JOIN reports r ON r.id = u.id
            LEFT JOIN dropped d ON d.task_id = u.id
        ),
        deliveries AS (
            INSERT INTO outbox (id, task_id, trigger, action, payload)
            SELECT uuid_v7(), e.id, a.action->>'trigger', a.action,
                   jsonb_build_object('task_id', e.id, 'kind', e.kind, 'status', e.status, 'attempt', e.attempt,
                                      'output', e.output, 'error', e.error)
            FROM updated e
            CROSS JOIN LATERAL jsonb_array_elements(e.actions) AS a (action)
            WHERE e.status <> 'pending'
              AND a.action->>'trigger' IN ('end', CASE e.status WHEN 'succeeded' THEN 'success' WHEN 'failed' THEN 'failure'
                                                                WHEN 'cancelled' THEN 'cancel' WHEN 'timed_out' THEN 'timeout' END)
        )
        SELECT id, kind, status, scheduled_at FROM updated
        """;
}
