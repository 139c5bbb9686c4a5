using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Cluster;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Execution;

/// <summary>
/// The leader's clock for running tasks, every <see cref="EngineOptions.SweepIntervalSeconds"/>, in transactions of at most
/// <see cref="EngineOptions.SweepBatchSize"/> tasks locked FOR UPDATE SKIP LOCKED (a task being reported right now is
/// left to its report). Every end goes through <see cref="Lifecycle.EndAsync"/>, the path of a failure report.
/// <list type="number">
/// <item><b>Timeouts</b>: a running task past its deadline (<c>timeout_seconds</c> from its start, pushed forward by
/// heartbeats: <c>task_leases.timeout_at</c>) times out. With retries left it goes back to pending with the retry
/// backoff; otherwise it ends <c>timed_out</c>, its success-edge descendants are cancelled as upstream_failed, and its
/// <c>timeout</c>/<c>end</c> deliveries are written.</item>
/// <item><b>Expired leases</b> (the one rule; claims take nothing back themselves): a running task whose lease ran out
/// before its timeout lost its worker. With retries left it goes back to pending at once — ready for the next claim, or
/// push for a pushed task — its attempt counted; otherwise it ends <c>failed</c> (error says the lease expired) with the
/// propagation and deliveries of a failure. The old worker's token no longer matches: its reports get 409.</item>
/// <item><b>Abandoned walks</b>: a propagation walk larger than one transaction whose process stopped continuing it
/// (<see cref="GraphWalks"/>) is finished here.</item>
/// </list>
/// Each sweep also counts the ready queue for <c>taskrunner.engine.ready_queue.depth</c>.
/// </summary>
public sealed class Sweeper(
    LeaderElection election, BackgroundFailures failures, NpgsqlDataSource dataSource, EngineMetrics metrics, IOptions<EngineOptions> options)
    : LeaderOnlyService(election, failures, "sweeper")
{
    public const string TimedOutError = "timed out: no report within the task's timeout_seconds";
    public const string LeaseExpiredError = "lease expired: the worker stopped reporting and heartbeating";

    // A sweep of a long backlog yields to the next one after this many transactions of each kind.
    private const int MaxBatchesPerSweep = 50;

    // Through task_leases_timeout_idx.
    private const string TimedOutSql = """
        SELECT t.id, t.attempt, t.max_retries
        FROM task_leases l
        JOIN tasks t ON t.id = l.task_id
        WHERE l.timeout_at < now() AND t.status = 'running'
        ORDER BY l.timeout_at
        LIMIT @limit
        FOR UPDATE OF t SKIP LOCKED
        """;

    // Re-checked on the lease row itself, locked: a heartbeat that extended the deadline a moment ago keeps the task running.
    // The end deletes the lease (and records its worker with the attempt).
    private const string StillTimedOutSql = "SELECT task_id FROM task_leases WHERE task_id = ANY (@ids::uuid[]) AND timeout_at < now() FOR UPDATE";

    // Through task_leases_expires_idx. A lease expired together with a passed timeout is the timeout's (swept first).
    private const string ExpiredSql = """
        SELECT t.id, t.attempt, t.max_retries
        FROM task_leases l
        JOIN tasks t ON t.id = l.task_id
        WHERE l.expires_at < now() AND (l.timeout_at IS NULL OR l.timeout_at >= now()) AND t.status = 'running'
        ORDER BY l.expires_at
        LIMIT @limit
        FOR UPDATE OF t SKIP LOCKED
        """;

    private const string StillExpiredSql = "SELECT task_id FROM task_leases WHERE task_id = ANY (@ids::uuid[]) AND expires_at < now() FOR UPDATE";

    // The ready queue as claims and dispatch see it (task_states_ready_idx), split by how its tasks start.
    private const string ReadyDepthSql = """
        SELECT count(*) FILTER (WHERE t.actions @> '[{"trigger": "start"}]') AS push,
               count(*) FILTER (WHERE NOT t.actions @> '[{"trigger": "start"}]') AS pull
        FROM task_states s
        JOIN tasks t ON t.id = s.task_id
        WHERE s.status = 'pending' AND s.pending_parents = 0 AND s.deleted_at IS NULL
          AND (t.scheduled_at IS NULL OR t.scheduled_at <= now())
        """;

    internal sealed record RunningTask(Guid Id, int Attempt, int MaxRetries);

    internal sealed record ReadyDepth(long Push, long Pull);

    protected override async Task LeadAsync(CancellationToken leadership)
    {
        var interval = TimeSpan.FromSeconds(options.Value.SweepIntervalSeconds);
        while (!leadership.IsCancellationRequested)
        {
            var swept = await Guard.RunAsync(async cancellationToken =>
            {
                await SweepAsync(cancellationToken);
                await CountReadyQueueAsync(interval, cancellationToken);
            }, leadership);
            // After a failure the backoff has been waited already (and grows while the failure repeats).
            if (swept)
                await Task.Delay(interval, leadership);
        }
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        using var span = Tracing.Source.StartActivity("engine.sweep");
        metrics.SweeperRan();
        var engine = options.Value;
        for (var batch = 0; batch < MaxBatchesPerSweep; batch++)
            if (await EndBatchAsync(timeouts: true, task => task.Attempt <= task.MaxRetries
                    ? new Lifecycle.End(task.Id, TaskRules.TimedOut, null, TimedOutError, Backoff.Seconds(task.Attempt, engine))
                    : new Lifecycle.End(task.Id, TaskRules.TimedOut, null, TimedOutError, null), cancellationToken) < engine.SweepBatchSize)
                break;
        // An expired lease is no failure of the task: a retry runs at once, without backoff.
        for (var batch = 0; batch < MaxBatchesPerSweep; batch++)
            if (await EndBatchAsync(timeouts: false, task =>
                    new Lifecycle.End(task.Id, TaskRules.Failed, null, LeaseExpiredError, task.Attempt <= task.MaxRetries ? 0 : null),
                    cancellationToken) < engine.SweepBatchSize)
                break;
        for (var walk = 0; walk < MaxBatchesPerSweep; walk++)
            if (!await GraphWalks.ResumeAsync(dataSource, MaxBatchesPerSweep, engine, metrics, cancellationToken))
                break;
    }

    /// <summary>
    /// One transaction over passed timeouts (<paramref name="timeouts"/>) or expired leases: lock a batch, keep those whose
    /// lease row still says so, end them. Returns how many were looked at. (Constant SQL at each call: Dapper.AOT needs it.)
    /// </summary>
    private async Task<int> EndBatchAsync(bool timeouts, Func<RunningTask, Lifecycle.End> end, CancellationToken cancellationToken)
    {
        var limit = options.Value.SweepBatchSize;
        var (found, ending) = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var tasks = (timeouts
                ? await connection.QueryAsync<RunningTask>(TimedOutSql, new { limit, cancellationToken }, transaction)
                : await connection.QueryAsync<RunningTask>(ExpiredSql, new { limit, cancellationToken }, transaction)).ToList();
            if (tasks.Count == 0)
                return (0, Lifecycle.Ending.None);
            var ids = PgArray.Of(tasks.Select(task => task.Id).ToArray());
            var due = (timeouts
                ? await connection.QueryAsync<Guid>(StillTimedOutSql, new { ids, cancellationToken }, transaction)
                : await connection.QueryAsync<Guid>(StillExpiredSql, new { ids, cancellationToken }, transaction)).ToHashSet();
            var ends = tasks.Where(task => due.Contains(task.Id)).Select(end).ToList();
            return (tasks.Count, ends.Count == 0 ? Lifecycle.Ending.None : await Lifecycle.EndAsync(connection, transaction, ends, options.Value, cancellationToken));
        }, cancellationToken);
        metrics.Ended(ending);
        await GraphWalks.FinishAsync(dataSource, ending.Walk, options.Value, metrics, cancellationToken);
        metrics.Swept(timeouts ? "timed_out" : "lease_expired", ending);
        return found;
    }

    private async Task CountReadyQueueAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var depth = await connection.QuerySingleAsync<ReadyDepth>(ReadyDepthSql, new { cancellationToken });
        // Valid for a few sweeps: a node that stops leading (and sweeping) stops reporting.
        metrics.ReadyQueue(depth.Push, depth.Pull, interval * 3);
    }
}
