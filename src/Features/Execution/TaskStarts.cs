using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Features.Execution;

/// <summary>
/// The one way tasks start, shared by pull claims (<see cref="ClaimTasks"/>) and push dispatch (<see cref="Dispatcher"/>):
/// the readiness predicate, admission against concurrency limits, and the start itself (running, attempt, lease and
/// fencing token, <c>start</c> deliveries). The two paths are disjoint by construction: a task whose actions hold a
/// <c>start</c> trigger is pushed by the leader and never claimed; every other task is claimed and never pushed. So
/// nothing starts twice, and a task's start webhook is written exactly once per attempt.
/// <para>Limits hold across both paths and across nodes: an admission locks the key's rule row, then counts the key's
/// running tasks in a new snapshot, so it sees every start committed by whoever held the lock before.</para>
/// </summary>
internal static class TaskStarts
{
    /// <summary>The worker recorded on the lease of a pushed task.</summary>
    public const string PushWorker = "push";

    /// <summary>The lease table's upper bound on the extension a heartbeat grants.</summary>
    private const int MaxLeaseSeconds = 86_400;

    /// <summary>Whether task <c>t</c> is pushed (it has a start action) rather than claimed. jsonb array containment.</summary>
    public const string HasStartActionSql = " t.actions @> '[{\"trigger\": \"start\"}]' ";

    /// <summary>
    /// Opens a candidate query: the keys whose rule is already full in this snapshot, skipped while walking the ready
    /// queue so a saturated key does not hide the tasks behind it; admission decides for real.
    /// </summary>
    public const string SaturatedKeysSql = """
        WITH saturated AS (
            SELECT r.concurrency_key FROM concurrency_rules r
            WHERE r.max_running <= (SELECT count(*) FROM tasks x WHERE x.concurrency_key = r.concurrency_key AND x.status = 'running')
        )
        """;

    /// <summary>Task <c>t</c> may start now, as far as its own row says (the walk of tasks_ready_idx).</summary>
    public const string ReadySql = "\n" + """
        t.status = 'pending' AND t.pending_parents = 0 AND t.deleted_at IS NULL
          AND (t.scheduled_at IS NULL OR t.scheduled_at <= now())
          AND (t.concurrency_key IS NULL OR t.concurrency_key <> ALL (ARRAY(SELECT concurrency_key FROM saturated)))
        """ + "\n";

    // In key order, so starters of several keys never deadlock. Held until commit: the next starter of a key counts after us.
    private const string LockRulesSql = """
        SELECT concurrency_key, max_running FROM concurrency_rules
        WHERE concurrency_key = ANY (@keys::text[])
        ORDER BY concurrency_key
        FOR UPDATE
        """;

    // A separate statement, so a fresh snapshot taken after the rule locks were granted (tasks_running_key_idx).
    private const string CountRunningSql = """
        SELECT concurrency_key, count(*)::int AS running FROM tasks
        WHERE status = 'running' AND concurrency_key = ANY (@keys::text[])
        GROUP BY concurrency_key
        """;

    // Start: running, one more attempt, a new lease (its token from the sequence), the start deliveries carrying the
    // parents' results, the lease token (a pushed task's receiver reports and heartbeats with it) and the traceparent of
    // the task's creator (the receiver continues that trace). A claim passes its
    // lease_seconds; a push passes none and the lease spans the task's timeout (or the configured default), so a pushed
    // task's lease never runs out before its timeout. The time the task became ready (created, scheduled, or its last
    // parent ended) feeds the ready→started histogram.
    private const string StartSql = """
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

    internal sealed record Candidate(Guid Id, string? ConcurrencyKey);

    internal sealed record RuleLimit(string ConcurrencyKey, int MaxRunning);

    internal sealed record RunningCount(string ConcurrencyKey, int Running);

    internal sealed record StartedLease(
        Guid TaskId, long LeaseToken, DateTime ExpiresAt, string Parents, string Kind, DateTime ReadyAt, DateTime StartedAt, string? Traceparent);

    /// <summary>
    /// Admits <paramref name="candidates"/> (locked, in start order) against their keys' limits, up to
    /// <paramref name="wanted"/>, and starts them. Returns the started tasks in start order.
    /// </summary>
    public static async Task<List<StartedLease>> AdmitAndStartAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<Candidate> candidates, int wanted, string? worker,
        int? leaseSeconds, int pushLeaseSeconds, CancellationToken cancellationToken)
    {
        var ids = (await AdmitAsync(connection, transaction, candidates, wanted, cancellationToken)).ToArray();
        if (ids.Length == 0)
            return [];
        var leases = (await connection.QueryAsync<StartedLease>(StartSql, new
        {
            ids = PgArray.Of(ids), worker, leaseSeconds, pushLeaseSeconds, maxLeaseSeconds = MaxLeaseSeconds, cancellationToken,
        }, transaction)).ToDictionary(lease => lease.TaskId);
        return ids.Select(id => leases[id]).ToList();
    }

    /// <summary>The candidates, in start order, that their keys' limits let start now.</summary>
    private static async Task<List<Guid>> AdmitAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<Candidate> candidates, int wanted, CancellationToken cancellationToken)
    {
        var keys = candidates.Where(candidate => candidate.ConcurrencyKey is not null).Select(candidate => candidate.ConcurrencyKey!)
            .Distinct(StringComparer.Ordinal).ToArray();
        var free = new Dictionary<string, int>(StringComparer.Ordinal);
        if (keys.Length > 0)
        {
            var rules = (await connection.QueryAsync<RuleLimit>(LockRulesSql, new { keys = PgArray.Of(keys), cancellationToken }, transaction)).ToList();
            if (rules.Count > 0)
            {
                var ruled = rules.Select(rule => rule.ConcurrencyKey).ToArray();
                var running = (await connection.QueryAsync<RunningCount>(CountRunningSql, new { keys = PgArray.Of(ruled), cancellationToken }, transaction))
                    .ToDictionary(count => count.ConcurrencyKey, count => count.Running, StringComparer.Ordinal);
                foreach (var rule in rules)
                    free[rule.ConcurrencyKey] = rule.MaxRunning - running.GetValueOrDefault(rule.ConcurrencyKey);
            }
        }

        var admitted = new List<Guid>(wanted);
        foreach (var candidate in candidates)
        {
            if (admitted.Count == wanted)
                break;
            if (candidate.ConcurrencyKey is { } key && free.TryGetValue(key, out var slots))
            {
                if (slots <= 0)
                    continue;
                free[key] = slots - 1;
            }
            admitted.Add(candidate.Id);
        }
        return admitted;
    }
}
