using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// One kind of expired row and how to delete a batch of it: <see cref="DeleteBatchSql"/> deletes at most
/// <c>@batchSize</c> rows older than <c>@retentionDays</c>, or <c>@retentionSeconds</c> for a job kept for less than a day
/// (a statement may ignore both when the rows carry their own expiry) and returns the count; <see cref="Deleted"/> counts them for /metrics.
/// </summary>
public sealed record RetentionTarget(string Name, string DeleteBatchSql, Counter<long> Deleted);

/// <summary>
/// A retention job as its slice configures it: <see cref="Service"/> names it (in logs and the background-failure metric),
/// every <see cref="Interval"/> its <see cref="Targets"/> are purged of rows older than <see cref="RetentionDays"/>, in
/// batches of <see cref="BatchSize"/>.
/// </summary>
public sealed record RetentionJob(string Service, TimeSpan Interval, int RetentionDays, int BatchSize, IReadOnlyList<RetentionTarget> Targets)
{
    /// <summary>The age past which rows go (<c>@retentionSeconds</c>): <see cref="RetentionDays"/> unless the job says finer.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(RetentionDays);
}

/// <summary>
/// The retention jobs' one loop: every interval each target is purged in batches, each batch its own short statement,
/// until a batch comes back short — so a large backlog never holds long locks or writes one huge burst of WAL. Every node
/// sweeps; the statements use SKIP LOCKED so nodes never wait on each other. A slice adds its job with
/// <see cref="RetentionRegistration.AddRetention{TOptions}"/>.
/// </summary>
/// <remarks>
/// Statements pick ids through a partial or time index and delete through the primary key, as
/// <c>id = ANY (ARRAY(SELECT … LIMIT @batchSize FOR UPDATE SKIP LOCKED))</c>: with <c>IN (SELECT …)</c> the generic plan of
/// the prepared statement joined the batch against a sequential scan of the whole table, on every batch.
/// </remarks>
public sealed partial class RetentionSweep(
    RetentionJob job, NpgsqlDataSource dataSource, BackgroundFailures failures, TimeProvider clock, ILogger<RetentionSweep> logger)
    : BackgroundService
{
    /// <summary>Lets autovacuum, replicas and other writers keep up between batches.</summary>
    private static readonly TimeSpan PauseBetweenBatches = TimeSpan.FromMilliseconds(100);

    /// <summary>The job's name, as its slice gave it.</summary>
    public string Service => job.Service;

    /// <summary>One sweep over every target. Returns how many rows it deleted in all.</summary>
    public async Task<long> SweepAsync(CancellationToken cancellationToken)
    {
        long total = 0;
        foreach (var target in job.Targets)
        {
            long deletedOfTarget = 0;
            while (true)
            {
                int deleted;
                await using (var command = dataSource.CreateCommand(target.DeleteBatchSql))
                {
                    command.Parameters.Add(new NpgsqlParameter<int>("retentionDays", job.RetentionDays));
                    command.Parameters.Add(new NpgsqlParameter<double>("retentionSeconds", job.Retention.TotalSeconds));
                    command.Parameters.Add(new NpgsqlParameter<int>("batchSize", job.BatchSize));
                    deleted = await command.ExecuteNonQueryAsync(cancellationToken);
                }
                deletedOfTarget += deleted;
                target.Deleted.Add(deleted);
                if (deleted < job.BatchSize)
                    break;
                await Task.Delay(PauseBetweenBatches, clock, cancellationToken);
            }
            if (deletedOfTarget > 0)
                LogSwept(logger, deletedOfTarget, target.Name);
            total += deletedOfTarget;
        }
        return total;
    }

    // After a failure, batches already deleted stay deleted; the next sweep carries on where this one stopped.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        failures.RunPeriodicallyAsync(job.Service, job.Interval, SweepAsync, stoppingToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention deleted {Deleted} {Target}")]
    private static partial void LogSwept(ILogger logger, long deleted, string target);
}

public static class RetentionRegistration
{
    /// <summary>Runs the retention job <paramref name="job"/> builds from the slice's options.</summary>
    public static IServiceCollection AddRetention<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions>(
        this IServiceCollection services, Func<TOptions, IMeterFactory, RetentionJob> job)
        where TOptions : class =>
        services.AddRetention((provider, meters) => job(provider.GetRequiredService<IOptions<TOptions>>().Value, meters));

    /// <summary>Runs the retention job <paramref name="job"/> builds, for a job without options of its own.</summary>
    public static IServiceCollection AddRetention(this IServiceCollection services, Func<IMeterFactory, RetentionJob> job) =>
        services.AddRetention((_, meters) => job(meters));

    // One more IHostedService per job, not AddHostedService (which keeps one service per type).
    private static IServiceCollection AddRetention(this IServiceCollection services, Func<IServiceProvider, IMeterFactory, RetentionJob> job) =>
        services.AddSingleton<IHostedService>(provider => new RetentionSweep(
            job(provider, provider.GetRequiredService<IMeterFactory>()),
            provider.GetRequiredService<NpgsqlDataSource>(), provider.GetRequiredService<BackgroundFailures>(),
            provider.GetRequiredService<TimeProvider>(), provider.GetRequiredService<ILogger<RetentionSweep>>()));
}
