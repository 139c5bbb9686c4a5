using System.Diagnostics;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>What a pull worker asks for: up to <see cref="Limit"/> ready tasks, optionally of some kinds or one key.</summary>
public sealed record ClaimTasksRequest(
    string[]? Kinds, string? ConcurrencyKey, int? Limit, int? LeaseSeconds, int? WaitSeconds, string? Worker);

/// <summary>A claimed task: the task as every read shows it, plus its lease and its parents' results.</summary>
public sealed record ClaimedTaskResponse : TaskResponse
{
    public ClaimedTaskResponse(TaskResponse task, long leaseToken, DateTime leaseExpiresAt, RawJson parents)
        : base(task)
    {
        LeaseToken = leaseToken;
        LeaseExpiresAt = leaseExpiresAt;
        Parents = parents;
    }

    /// <summary>The fencing token: every report about this run must carry it.</summary>
    public long LeaseToken { get; init; }

    public DateTime LeaseExpiresAt { get; init; }

    /// <summary><c>[{task_id, status, output}]</c> of every parent, so a DAG passes data downstream.</summary>
    public RawJson Parents { get; init; }
}

public sealed record ClaimTasksResponse(IReadOnlyList<ClaimedTaskResponse> Tasks);

/// <summary>
/// POST /tasks/claim. One transaction: take expired leases back (a crashed worker's task runs again while it has retries
/// left), pick the ready queue's head with FOR UPDATE SKIP LOCKED (claimers never wait for each other's candidates), admit
/// candidates against their keys' limits, mark them running with a fresh lease and fencing token, and write their
/// <c>start</c> deliveries. Limits hold across nodes: an admission locks the key's rule row, then counts the key's running
/// tasks in a new snapshot, so it sees every start committed by whoever held the lock before. With <c>wait_seconds</c> and
/// nothing claimable the call waits for a ready-task notification (or the deadline) and looks again.
/// </summary>
public static class ClaimTasks
{
    public const int MaxLimit = 100;
    public const int MinLeaseSeconds = 5;
    public const int MaxLeaseSeconds = 3600;
    public const int DefaultLeaseSeconds = 300;
    public const int MaxWaitSeconds = 30;
    private const int MaxKinds = 50;

    // Running tasks whose lease expired and that have retries left, through task_leases_expires_idx. Locked SKIP LOCKED:
    // a task another transaction is completing or cancelling right now is not ours to take.
    private const string ExpiredSql = """
        SELECT t.id
        FROM task_leases l
        JOIN tasks t ON t.id = l.task_id
        WHERE l.expires_at < now() AND t.status = 'running' AND t.attempt <= t.max_retries AND t.deleted_at IS NULL
          AND (cardinality(@kinds::text[]) = 0 OR t.kind = ANY (@kinds::text[]))
          AND (@concurrencyKey::text IS NULL OR t.concurrency_key = @concurrencyKey)
          AND
        """ + ProjectAccess.OnTaskRow + """

        ORDER BY l.expires_at
        LIMIT @limit
        FOR UPDATE OF t SKIP LOCKED
        """;

    // Re-checked on the lease row itself: a heartbeat that extended the lease a moment ago keeps it.
    private const string DropExpiredSql = """
        DELETE FROM task_leases WHERE task_id = ANY (@ids::uuid[]) AND expires_at < now() RETURNING task_id
        """;

    // The ready queue's head in claim order through tasks_ready_idx. Keys whose rule is already full (in this snapshot)
    // are skipped while walking, so a saturated key does not hide the tasks behind it; admission decides for real.
    private const string CandidatesSql = """
        WITH saturated AS (
            SELECT r.concurrency_key FROM concurrency_rules r
            WHERE r.max_running <= (SELECT count(*) FROM tasks x WHERE x.concurrency_key = r.concurrency_key AND x.status = 'running')
        )
        SELECT t.id, t.concurrency_key
        FROM tasks t
        WHERE t.status = 'pending' AND t.pending_parents = 0 AND t.deleted_at IS NULL
          AND (t.scheduled_at IS NULL OR t.scheduled_at <= now())
          AND (cardinality(@kinds::text[]) = 0 OR t.kind = ANY (@kinds::text[]))
          AND (@concurrencyKey::text IS NULL OR t.concurrency_key = @concurrencyKey)
          AND (t.concurrency_key IS NULL OR t.concurrency_key <> ALL (ARRAY(SELECT concurrency_key FROM saturated)))
          AND
        """ + ProjectAccess.OnTaskRow + """

        ORDER BY t.priority DESC, t.created_at, t.id
        LIMIT @scan
        FOR UPDATE OF t SKIP LOCKED
        """;

    // In key order, so claimers of several keys never deadlock. Held until commit: the next claimer of a key counts after us.
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

    // Start: running, one more attempt, a new lease (its token from the sequence), the start deliveries carrying the parents'
    // results. The time the task became ready (created, scheduled, or its last parent ended) feeds the ready→started histogram.
    private const string StartSql = """
        WITH started AS (
            UPDATE tasks t
            SET status = 'running', started_at = now(), attempt = t.attempt + 1
            WHERE t.id = ANY (@ids::uuid[])
            RETURNING t.id, t.project_id, t.kind, t.title, t.attempt, t.metadata, t.actions, t.timeout_seconds, t.created_at, t.scheduled_at
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
            SELECT s.id, @worker, @leaseSeconds, now() + make_interval(secs => @leaseSeconds),
                   now() + make_interval(secs => s.timeout_seconds)
            FROM started s
            RETURNING task_id, lease_token, expires_at
        ),
        deliveries AS (
            INSERT INTO outbox (id, task_id, trigger, action, payload)
            SELECT uuid_v7(), s.id, 'start', a.action,
                   jsonb_build_object('task_id', s.id, 'project_id', s.project_id, 'kind', s.kind, 'title', s.title,
                                      'attempt', s.attempt, 'metadata', s.metadata, 'parents', coalesce(p.parents, '[]'))
            FROM started s
            LEFT JOIN parents p ON p.child_id = s.id
            CROSS JOIN LATERAL jsonb_array_elements(s.actions) AS a (action)
            WHERE a.action->>'trigger' = 'start'
        )
        SELECT l.task_id, l.lease_token, l.expires_at, coalesce(p.parents, '[]')::text AS parents, s.kind,
               greatest(s.created_at, s.scheduled_at, p.last_parent_ended_at) AS ready_at, now() AS started_at
        FROM leases l
        JOIN started s ON s.id = l.task_id
        LEFT JOIN parents p ON p.child_id = l.task_id
        """;

    private const string ReadSql = TaskReads.SelectSql + "\nWHERE t.id = ANY (@ids::uuid[])";

    internal sealed record Candidate(Guid Id, string? ConcurrencyKey);

    internal sealed record RuleLimit(string ConcurrencyKey, int MaxRunning);

    internal sealed record RunningCount(string ConcurrencyKey, int Running);

    internal sealed record StartedLease(Guid TaskId, long LeaseToken, DateTime ExpiresAt, string Parents, string Kind, DateTime ReadyAt, DateTime StartedAt);

    public static async Task<Results<Ok<ClaimTasksResponse>, ProblemHttpResult>> Handle(
        ClaimTasksRequest request,
        Caller caller,
        NpgsqlDataSource dataSource,
        ReadyTasks readyTasks,
        EngineMetrics metrics,
        TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var limit = request.Limit ?? 1;
        if (limit is < 1 or > MaxLimit)
            errors.Add("limit", $"must be between 1 and {MaxLimit}");
        var leaseSeconds = request.LeaseSeconds ?? DefaultLeaseSeconds;
        if (leaseSeconds is < MinLeaseSeconds or > MaxLeaseSeconds)
            errors.Add("lease_seconds", $"must be between {MinLeaseSeconds} and {MaxLeaseSeconds}");
        var waitSeconds = request.WaitSeconds ?? 0;
        if (waitSeconds is < 0 or > MaxWaitSeconds)
            errors.Add("wait_seconds", $"must be between 0 and {MaxWaitSeconds}");
        var kinds = request.Kinds ?? [];
        if (kinds.Length > MaxKinds)
            errors.Add("kinds", $"must hold at most {MaxKinds} kinds");
        for (var i = 0; i < kinds.Length && i < MaxKinds; i++)
            TaskRules.Kind(errors, $"kinds[{i}]", kinds[i] ?? "");
        TaskRules.Key(errors, "concurrency_key", request.ConcurrencyKey);
        TaskRules.OptionalText(errors, "worker", request.Worker, 200);
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var claim = new Claim(kinds, request.ConcurrencyKey, limit, leaseSeconds, request.Worker, caller);
        var deadline = clock.GetUtcNow().AddSeconds(waitSeconds);
        while (true)
        {
            // Taken before looking, so a task that becomes ready while we look still wakes the wait below.
            var wake = readyTasks.NextWake();
            var started = Stopwatch.GetTimestamp();
            var claimed = await dataSource.InTransactionAsync(
                (connection, transaction) => ClaimAsync(connection, transaction, claim, cancellationToken), cancellationToken);
            metrics.Claimed(Stopwatch.GetElapsedTime(started));
            foreach (var (task, lease) in claimed)
                metrics.Started(lease.Kind, (lease.StartedAt - lease.ReadyAt).TotalSeconds);
            var remaining = deadline - clock.GetUtcNow();
            if (claimed.Count > 0 || remaining <= TimeSpan.Zero)
                return TypedResults.Ok(new ClaimTasksResponse(claimed.Select(pair => pair.Task).ToList()));
            try
            {
                await wake.WaitAsync(remaining, clock, cancellationToken);
            }
            catch (TimeoutException)
            {
                // The deadline passed without a notification; one last look covers scheduled tasks that came due meanwhile.
                deadline = clock.GetUtcNow();
            }
        }
    }

    private sealed record Claim(string[] Kinds, string? ConcurrencyKey, int Limit, int LeaseSeconds, string? Worker, Caller Caller);

    private static async Task<List<(ClaimedTaskResponse Task, StartedLease Lease)>> ClaimAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Claim claim, CancellationToken cancellationToken)
    {
        var (callerId, callerIsAdmin, callerCanWrite, requiredRank) = ProjectAccess.Parameters(claim.Caller, ProjectRoles.Editor);
        var kinds = claim.Kinds;
        var concurrencyKey = claim.ConcurrencyKey;

        var expired = (await connection.QueryAsync<Guid>(ExpiredSql, new
        {
            kinds = PgArray.Of(kinds), concurrencyKey, limit = claim.Limit, callerId, callerIsAdmin, callerCanWrite, requiredRank, cancellationToken,
        }, transaction)).ToArray();
        var ids = expired.Length == 0
            ? []
            : (await connection.QueryAsync<Guid>(DropExpiredSql, new { ids = PgArray.Of(expired), cancellationToken }, transaction)).ToList();

        var wanted = claim.Limit - ids.Count;
        if (wanted > 0)
        {
            // Twice what we want: a key that fills up during admission leaves room for the tasks behind it.
            var candidates = (await connection.QueryAsync<Candidate>(CandidatesSql, new
            {
                kinds = PgArray.Of(kinds), concurrencyKey, scan = wanted * 2, callerId, callerIsAdmin, callerCanWrite, requiredRank, cancellationToken,
            }, transaction)).ToList();
            ids.AddRange(await AdmitAsync(connection, transaction, candidates, wanted, cancellationToken));
        }
        if (ids.Count == 0)
            return [];

        var idArray = ids.ToArray();
        var leases = (await connection.QueryAsync<StartedLease>(StartSql, new
        {
            ids = PgArray.Of(idArray), worker = claim.Worker, leaseSeconds = claim.LeaseSeconds, cancellationToken,
        }, transaction)).ToDictionary(lease => lease.TaskId);
        var rows = (await connection.QueryAsync<TaskRow>(ReadSql, new { ids = PgArray.Of(idArray), cancellationToken }, transaction))
            .ToDictionary(row => row.Id);
        return ids.Select(id => (new ClaimedTaskResponse(rows[id].ToResponse(), leases[id].LeaseToken, leases[id].ExpiresAt,
            new RawJson(leases[id].Parents)), leases[id])).ToList();
    }

    /// <summary>The candidates, in claim order, that their keys' limits let start now.</summary>
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
