namespace TaskRunner.Features.Execution;

/// <summary>
/// Start: the admitted candidates (locked by <see cref="ClaimStatement"/> or <see cref="DispatchStatement"/>) become
/// running with one more attempt and a new lease, whose fencing token comes from the sequence; their <c>start</c>
/// deliveries carry the parents' results, the lease token (a pushed task's receiver reports and heartbeats with it) and
/// the traceparent of the task's creator (the receiver continues that trace).
/// <para>A claim passes its <c>@leaseSeconds</c>; a push passes none and the lease spans the task's timeout (or
/// <c>@pushLeaseSeconds</c>), so a pushed task's lease never runs out before its timeout. The time the task became ready
/// (created, scheduled, or its last parent ended) feeds the ready→started histogram.</para>
/// <para>Parameters: <c>@ids</c>, <c>@worker</c>, <c>@leaseSeconds</c>, <c>@pushLeaseSeconds</c>, <c>@maxLeaseSeconds</c>.</para>
/// </summary>
internal static class StartStatement
{
    public const string Sql = """
        WITH started AS (
            UPDATE tasks t
            SET status = 'running', started_at = now(), attempt = t.attempt + 1
            WHERE t.id = ANY (@ids::uuid[])
            RETURNING t.id, t.project_id, t.kind, t.title, t.attempt, t.metadata, t.actions, t.timeout_seconds, t.created_at, t.scheduled_at,
                      t.traceparent
        ),
        parents AS (
            SELECT d.child_id,
                   jsonb_agg(jsonb_build_object('task_id', p.id, 'status', p.status, 'output', p.output) ORDER BY p.id) AS parents,
                   max(p.ended_at) AS last_parent_ended_at
            FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id
            WHERE d.child_id = ANY (@ids::uuid[])
            GROUP BY d.child_id
        ),
        leases AS (
            INSERT INTO task_leases (task_id, worker, lease_seconds, expires_at, timeout_at)
            SELECT s.id, @worker, least(w.seconds, @maxLeaseSeconds), now() + make_interval(secs => w.seconds),
                   now() + make_interval(secs => s.timeout_seconds)
            FROM started s
            CROSS JOIN LATERAL (SELECT coalesce(@leaseSeconds::int, s.timeout_seconds, @pushLeaseSeconds) AS seconds) w
            RETURNING task_id, lease_token, expires_at
        ),
        deliveries AS (
            INSERT INTO outbox (id, task_id, trigger, action, payload)
            SELECT uuid_v7(), s.id, 'start', a.action,
                   jsonb_build_object('task_id', s.id, 'project_id', s.project_id, 'kind', s.kind, 'title', s.title,
                                      'attempt', s.attempt, 'metadata', s.metadata, 'parents', coalesce(p.parents, '[]'),
                                      'lease_token', l.lease_token, 'lease_expires_at', l.expires_at, 'traceparent', s.traceparent)
            FROM started s
            JOIN leases l ON l.task_id = s.id
            LEFT JOIN parents p ON p.child_id = s.id
            CROSS JOIN LATERAL jsonb_array_elements(s.actions) AS a (action)
            WHERE a.action->>'trigger' = 'start'
        )
        SELECT l.task_id, l.lease_token, l.expires_at, coalesce(p.parents, '[]')::text AS parents, s.kind,
               greatest(s.created_at, s.scheduled_at, p.last_parent_ended_at) AS ready_at, now() AS started_at, s.traceparent
        FROM leases l
        JOIN started s ON s.id = l.task_id
        LEFT JOIN parents p ON p.child_id = l.task_id
        """;
}
