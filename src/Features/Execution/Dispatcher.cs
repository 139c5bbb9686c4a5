using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Cluster;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Execution;

/// <summary>
/// Push dispatch, on the leader: starts the ready tasks that have a <c>start</c> action — in claim order (priority, then
/// age, then id) and under the same concurrency admission as pull claims (<see cref="TaskStarts"/>) — and writes their
/// <c>start</c> deliveries (with the parents' outputs and the lease token the receiver reports with) to the outbox, up to
/// <see cref="EngineOptions.DispatchBatchSize"/> tasks per transaction. Each started task holds a lease (worker
/// <c>push</c>) spanning its timeout, or <see cref="EngineOptions.PushLeaseSeconds"/> without one; the
/// <see cref="Sweeper"/> acts on both deadlines.
/// <para>Wakes on the ready-task notification, at the next due <c>scheduled_at</c> of a pushed task, and at least every
/// <see cref="EngineOptions.DispatchPollSeconds"/>. Two nodes that both believe they lead (briefly, after a partition)
/// still never start a task twice: candidates are locked FOR UPDATE SKIP LOCKED and re-checked as pending.</para>
/// </summary>
public sealed class Dispatcher(
    LeaderElection election, BackgroundFailures failures, NpgsqlDataSource dataSource, ReadyTasks readyTasks, EngineMetrics metrics,
    IOptions<EngineOptions> options) : LeaderOnlyService(election, failures, "dispatcher")
{
    protected override async Task LeadAsync(CancellationToken leadership)
    {
        while (!leadership.IsCancellationRequested)
        {
            // Taken before looking, so a task that becomes ready while we look still wakes the wait below.
            var wake = readyTasks.NextWake();
            var delay = TimeSpan.FromSeconds(options.Value.DispatchPollSeconds);
            var fullBatch = false;
            // A failed iteration has waited its backoff already: look again rather than sleep on a wake-up that may be
            // the very notification of the task that failed.
            if (!await Guard.RunAsync(async cancellationToken =>
                {
                    fullBatch = await DispatchOnceAsync(cancellationToken) == options.Value.DispatchBatchSize;
                    if (!fullBatch)
                        delay = await DelayUntilNextDueAsync(delay, cancellationToken);
                }, leadership))
                continue;
            // A full batch means more may be waiting: look again at once.
            if (fullBatch)
                continue;
            try
            {
                await wake.WaitAsync(delay, leadership);
            }
            catch (TimeoutException)
            {
                // The poll interval or the next due time passed: look again.
            }
        }
    }

    /// <summary>One dispatch transaction; returns how many tasks it started.</summary>
    private async Task<int> DispatchOnceAsync(CancellationToken cancellationToken)
    {
        using var span = Tracing.Source.StartActivity("engine.dispatch");
        var batch = options.Value.DispatchBatchSize;
        var pushLeaseSeconds = options.Value.PushLeaseSeconds;
        var started = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            // Twice what we want: a key that fills up during admission leaves room for the tasks behind it.
            var candidates = (await connection.QueryAsync<TaskStarts.Candidate>(DispatchStatement.Sql, new { scan = batch * 2, cancellationToken }, transaction)).ToList();
            return await TaskStarts.AdmitAndStartAsync(connection, transaction, candidates, batch, TaskStarts.PushWorker,
                leaseSeconds: null, pushLeaseSeconds, cancellationToken);
        }, cancellationToken);
        span?.SetTag("taskrunner.tasks_started", started.Count);
        span.Link(started.Select(lease => lease.Traceparent));
        if (started.Count > 0)
            metrics.Dispatched();
        foreach (var lease in started)
            metrics.Started(lease.Kind, (lease.StartedAt - lease.ReadyAt).TotalSeconds, "push");
        return started.Count;
    }

    private async Task<TimeSpan> DelayUntilNextDueAsync(TimeSpan poll, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var seconds = await connection.ExecuteScalarAsync<double?>(DispatchStatement.SecondsToNextDueSql, new { cancellationToken });
        // A little after the due time, so the task is due by the database's clock when we look.
        return seconds is { } due && due < poll.TotalSeconds ? TimeSpan.FromSeconds(Math.Max(0, due) + 0.01) : poll;
    }
}
