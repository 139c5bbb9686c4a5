namespace TaskRunner.Features.Execution;

/// <summary>
/// Cancel (a task's or a batch's): the unfinished tasks among <c>@ids</c> end as cancelled for <c>@reason</c>, their
/// leases are dropped (a worker's next heartbeat learns it was cancelled), the attempts of those that were running (they
/// held a lease) are recorded as cancelled in <c>task_attempts</c>, and their <c>cancel</c> and <c>end</c> deliveries are
/// written. Their descendants are <see cref="PropagateLevelStatement"/>'s, after it.
/// </summary>
internal static class CancelStatement
{
    public const string Sql = """
        WITH updated AS (
            UPDATE tasks t
            SET status = 'cancelled', cancel_reason = @reason, ended_at = now()
            WHERE t.id = ANY (@ids::uuid[]) AND t.status IN ('pending', 'paused', 'running')
            RETURNING t.id, t.status, t.kind, t.attempt, t.actions, t.output, t.error, t.started_at
        ),
        dropped AS (
            DELETE FROM task_leases l WHERE l.task_id IN (SELECT id FROM updated)
            RETURNING l.task_id, l.worker
        ),
        attempts AS (
            INSERT INTO task_attempts (task_id, attempt, id, worker, started_at, ended_at, outcome, error)
            SELECT u.id, u.attempt, uuid_v7(), d.worker, u.started_at, now(), 'cancelled', NULL
            FROM updated u
            JOIN dropped d ON d.task_id = u.id
        ),
        deliveries AS (
            INSERT INTO outbox (id, task_id, trigger, action, payload)
            SELECT uuid_v7(), e.id, a.action->>'trigger', a.action,
                   jsonb_build_object('task_id', e.id, 'kind', e.kind, 'status', e.status, 'attempt', e.attempt,
                                      'output', e.output, 'error', e.error)
            FROM updated e
            CROSS JOIN LATERAL jsonb_array_elements(e.actions) AS a (action)
            WHERE a.action->>'trigger' IN ('end', 'cancel')
        )
        SELECT id, kind FROM updated
        """;
}
