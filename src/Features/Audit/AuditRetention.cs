using System.Diagnostics.Metrics;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Audit;

/// <summary>
/// Deletes audit entries older than <see cref="AuditOptions.RetentionDays"/>, every <see cref="AuditOptions.RetentionSweepMinutes"/>,
/// in batches of <see cref="AuditOptions.RetentionBatchSize"/> rows, each its own short statement, so a large backlog never
/// holds long locks or writes one huge burst of WAL. Every node sweeps; SKIP LOCKED keeps them from waiting on each other.
/// </summary>
public sealed partial class AuditRetention : BackgroundService
{
    /// <summary>Lets autovacuum, replicas and other writers keep up between batches.</summary>
    private static readonly TimeSpan PauseBetweenBatches = TimeSpan.FromMilliseconds(100);

    // The oldest expired ids through audit_log_keyset_idx (scanned backwards), then each row through the primary key.
    // "id = ANY(ARRAY(...))" rather than "id IN (SELECT ...)": with IN, the generic plan of the prepared statement joined
    // the batch against a sequential scan of the whole table, on every batch.
    private const string DeleteBatchSql = """
        DELETE FROM audit_log
        WHERE id = ANY (ARRAY(
            SELECT id FROM audit_log
            WHERE occurred_at < now() - make_interval(days => @retentionDays)
            ORDER BY occurred_at
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    private readonly NpgsqlDataSource dataSource;
    private readonly AuditOptions options;
    private readonly TimeProvider clock;
    private readonly ILogger<AuditRetention> logger;
    private readonly Counter<long> deletedRows;

    public AuditRetention(
        NpgsqlDataSource dataSource, IOptions<AuditOptions> options, TimeProvider clock, IMeterFactory meters, ILogger<AuditRetention> logger)
    {
        this.dataSource = dataSource;
        this.options = options.Value;
        this.clock = clock;
        this.logger = logger;
        deletedRows = meters.Create(Telemetry.ServiceName)
            .CreateCounter<long>("taskrunner.audit.retention.deleted", "{entry}", "Audit entries deleted by the retention sweep");
    }

    /// <summary>One sweep: deletes batches until a batch comes back short. Returns how many entries it deleted.</summary>
    public async Task<long> SweepAsync(CancellationToken cancellationToken)
    {
        long total = 0;
        while (true)
        {
            int deleted;
            await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
            {
                deleted = await connection.ExecuteAsync(DeleteBatchSql,
                    new { retentionDays = options.RetentionDays, batchSize = options.RetentionBatchSize, cancellationToken });
            }
            total += deleted;
            deletedRows.Add(deleted);
            if (deleted < options.RetentionBatchSize)
                return total;
            await Task.Delay(PauseBetweenBatches, clock, cancellationToken);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(options.RetentionSweepMinutes), clock);
        try
        {
            do
            {
                try
                {
                    var deleted = await SweepAsync(stoppingToken);
                    if (deleted > 0)
                        LogSwept(logger, deleted, options.RetentionDays);
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException)
                {
                    // Batches already deleted stay deleted; the next sweep carries on where this one stopped.
                    LogSweepFailed(logger, e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: the batch in flight was cancelled (rolled back) or committed; either way the table is consistent.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit retention deleted {Deleted} entries older than {Days} days")]
    private static partial void LogSwept(ILogger logger, long deleted, int days);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Audit retention sweep failed, retrying at the next sweep: {Reason}")]
    private static partial void LogSweepFailed(ILogger logger, string reason);
}
