using System.Diagnostics.Metrics;
using Npgsql;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// One kind of expired row and how to delete a batch of it: <see cref="DeleteBatchSql"/> deletes at most
/// <c>@batchSize</c> rows older than <c>@retentionDays</c> (a statement may ignore the days when the rows carry their own
/// expiry) and returns the count; <see cref="Deleted"/> counts them for /metrics.
/// </summary>
public sealed record RetentionTarget(string Name, string DeleteBatchSql, Counter<long> Deleted);

/// <summary>
/// The retention jobs' shared loop: every <c>interval</c> each target is purged in batches of <c>batchSize</c>, each batch
/// its own short statement, until a batch comes back short — so a large backlog never holds long locks or writes one huge
/// burst of WAL. Every node sweeps; the statements use SKIP LOCKED so nodes never wait on each other.
/// </summary>
/// <remarks>
/// Statements pick ids through a partial or time index and delete through the primary key, as
/// <c>id = ANY (ARRAY(SELECT … LIMIT @batchSize FOR UPDATE SKIP LOCKED))</c>: with <c>IN (SELECT …)</c> the generic plan of
/// the prepared statement joined the batch against a sequential scan of the whole table, on every batch.
/// </remarks>
public abstract partial class RetentionSweep(
    NpgsqlDataSource dataSource, BackgroundFailures failures, string service, TimeProvider clock, ILogger logger, TimeSpan interval,
    int retentionDays, int batchSize)
    : BackgroundService
{
    /// <summary>Lets autovacuum, replicas and other writers keep up between batches.</summary>
    private static readonly TimeSpan PauseBetweenBatches = TimeSpan.FromMilliseconds(100);

    protected abstract IReadOnlyList<RetentionTarget> Targets { get; }

    /// <summary>One sweep over every target. Returns how many rows it deleted in all.</summary>
    public async Task<long> SweepAsync(CancellationToken cancellationToken)
    {
        long total = 0;
        foreach (var target in Targets)
        {
            long deletedOfTarget = 0;
            while (true)
            {
                int deleted;
                await using (var command = dataSource.CreateCommand(target.DeleteBatchSql))
                {
                    command.Parameters.Add(new NpgsqlParameter<int>("retentionDays", retentionDays));
                    command.Parameters.Add(new NpgsqlParameter<int>("batchSize", batchSize));
                    deleted = await command.ExecuteNonQueryAsync(cancellationToken);
                }
                deletedOfTarget += deleted;
                target.Deleted.Add(deleted);
                if (deleted < batchSize)
                    break;
                await Task.Delay(PauseBetweenBatches, clock, cancellationToken);
            }
            if (deletedOfTarget > 0)
                LogSwept(logger, deletedOfTarget, target.Name);
            total += deletedOfTarget;
        }
        return total;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var guard = failures.For(service);
        using var timer = new PeriodicTimer(interval, clock);
        try
        {
            // After a failure, batches already deleted stay deleted; the next sweep carries on where this one stopped.
            do
                await guard.RunAsync(SweepAsync, stoppingToken);
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: the batch in flight was cancelled (rolled back) or committed; either way the tables are consistent.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention deleted {Deleted} {Target}")]
    private static partial void LogSwept(ILogger logger, long deleted, string target);
}
