using System.Diagnostics;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Observability;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>What a pull worker asks for: up to <see cref="Limit"/> ready tasks, optionally of some kinds or one key.</summary>
public sealed record ClaimTasksRequest(
    string[]? Kinds, string? ConcurrencyKey, int? Limit, int? LeaseSeconds, int? WaitSeconds, string? Worker);

/// <summary>A claimed task: the task as every read shows it, plus its lease and its parents' results.</summary>
public sealed record ClaimedTaskResponse : TaskResponse
{
    public ClaimedTaskResponse(TaskResponse task, long leaseToken, DateTime leaseExpiresAt, RawJson parents, string? traceparent)
        : base(task)
    {
        LeaseToken = leaseToken;
        LeaseExpiresAt = leaseExpiresAt;
        Parents = parents;
        Traceparent = traceparent;
    }

    /// <summary>The fencing token: every report about this run must carry it.</summary>
    public long LeaseToken { get; init; }

    public DateTime LeaseExpiresAt { get; init; }

    /// <summary><c>[{task_id, status, output}]</c> of every parent, so a DAG passes data downstream.</summary>
    public RawJson Parents { get; init; }

    /// <summary>
    /// The W3C traceparent of the request that created the task: send it as the <c>traceparent</c> header of the work's
    /// own calls and of the report, so the run joins the DAG's trace.
    /// </summary>
    public string? Traceparent { get; init; }
}

public sealed record ClaimTasksResponse(IReadOnlyList<ClaimedTaskResponse> Tasks);

/// <summary>
/// POST /tasks/claim. One transaction: pick the ready queue's head with FOR UPDATE SKIP LOCKED (claimers never wait for
/// each other's candidates), admit candidates against their keys' limits, mark them running with a fresh lease and
/// fencing token (<see cref="TaskStarts"/>, the same path push dispatch takes). Tasks with a <c>start</c> action are
/// pushed by the leader and never claimed. Expired leases are taken back by the leader's <see cref="Sweeper"/>, which
/// sends them back to the ready queue. With <c>wait_seconds</c> and nothing claimable the call waits for a ready-task
/// notification (or the deadline) and looks again.
/// </summary>
public static class ClaimTasks
{
    public const int MaxLimit = 100;
    public const int MinLeaseSeconds = 5;
    public const int MaxLeaseSeconds = 3600;
    public const int DefaultLeaseSeconds = 300;
    public const int MaxWaitSeconds = 30;
    private const int MaxKinds = 50;

    private const string ReadSql = TaskReads.SelectSql + "\nWHERE t.id = ANY (@ids::uuid[])";

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
                metrics.Started(lease.Kind, (lease.StartedAt - lease.ReadyAt).TotalSeconds, "pull");
            var remaining = deadline - clock.GetUtcNow();
            // A draining node answers at once: the long poll must not hold its shutdown (nor spin on a completed wake-up).
            if (claimed.Count > 0 || remaining <= TimeSpan.Zero || readyTasks.IsClosing)
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

    private static async Task<List<(ClaimedTaskResponse Task, TaskStarts.StartedLease Lease)>> ClaimAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Claim claim, CancellationToken cancellationToken)
    {
        using var span = Tracing.Source.StartActivity("engine.claim");
        var access = ProjectAccess.Bind(claim.Caller, ProjectRoles.Editor);
        var candidates = (await connection.QueryAsync<TaskStarts.Candidate>(ClaimStatement.Sql, new
        {
            kinds = PgArray.Of(claim.Kinds), concurrencyKey = claim.ConcurrencyKey, limit = claim.Limit, scan = claim.Limit * 2,
            access.CallerId, access.CallerIsAdmin, access.CallerCanWrite, access.RequiredRank, cancellationToken,
        }, transaction)).ToList();
        var leases = await TaskStarts.AdmitAndStartAsync(connection, transaction, candidates, claim.Limit, claim.Worker,
            claim.LeaseSeconds, claim.LeaseSeconds, cancellationToken);
        span?.SetTag("taskrunner.tasks_claimed", leases.Count);
        span.Link(leases.Select(lease => lease.Traceparent));
        if (leases.Count == 0)
            return [];

        var ids = leases.Select(lease => lease.TaskId).ToArray();
        var rows = (await connection.QueryAsync<TaskRow>(ReadSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction))
            .ToDictionary(row => row.Id);
        return leases.Select(lease => (new ClaimedTaskResponse(rows[lease.TaskId].ToResponse(), lease.LeaseToken, lease.ExpiresAt,
            new RawJson(lease.Parents), lease.Traceparent), lease)).ToList();
    }
}
