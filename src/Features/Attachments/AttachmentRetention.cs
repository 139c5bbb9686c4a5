using System.Diagnostics.Metrics;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Observability;
using TaskRunner.Infrastructure.Storage;

namespace TaskRunner.Features.Attachments;

/// <summary>
/// Removes for good the attachments soft-deleted more than <see cref="AttachmentsOptions.RetentionDays"/> ago (those of
/// purged tasks go with them by foreign key), every <see cref="AttachmentsOptions.RetentionSweepMinutes"/>, through the shared
/// <see cref="RetentionSweep"/>.
/// </summary>
public static class AttachmentRetention
{
    // Through attachments_deleted_idx.
    private const string DeleteAttachmentsSql = """
        DELETE FROM attachments
        WHERE id = ANY (ARRAY(
            SELECT id FROM attachments
            WHERE deleted_at < now() - make_interval(days => @retentionDays)
            ORDER BY deleted_at
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    public static RetentionJob Job(AttachmentsOptions options, IMeterFactory meters) =>
        new("attachment-retention", TimeSpan.FromMinutes(options.RetentionSweepMinutes), options.RetentionDays, options.RetentionBatchSize,
        [
            new("deleted attachments", DeleteAttachmentsSql,
                meters.Create(Telemetry.ServiceName).CreateCounter<long>("taskrunner.attachments.retention.purged", "{attachment}",
                    "Deleted attachments purged by the retention sweep")),
        ]);
}

/// <summary>
/// Deletes the blobs no attachment or thumbnail references any more (and unused for
/// <see cref="AttachmentsOptions.OrphanGraceMinutes"/>, see <see cref="BlobWrites"/>): the bytes first, then the row, in
/// batches, each batch in one transaction holding its rows, so a crash between the two leaves a row whose bytes are gone
/// and the next sweep finishes it. Also removes uploads abandoned mid-way (a node that died) after a day.
/// </summary>
public sealed partial class BlobPurge(
    NpgsqlDataSource dataSource, IBlobStorage storage, BackgroundFailures failures, IOptions<AttachmentsOptions> options, TimeProvider clock,
    IMeterFactory meters, ILogger<BlobPurge> logger) : BackgroundService
{
    private static readonly TimeSpan AbandonedUploadAge = TimeSpan.FromDays(1);

    private const string SelectSql = """
        SELECT b.sha256 FROM attachment_blobs b
        WHERE b.last_used_at < now() - make_interval(mins => @graceMinutes)
          AND NOT EXISTS (SELECT FROM attachments a WHERE a.sha256 = b.sha256)
          AND NOT EXISTS (SELECT FROM attachments a WHERE a.thumbnail_sha256 = b.sha256)
        ORDER BY b.last_used_at
        LIMIT @batchSize
        FOR UPDATE SKIP LOCKED
        """;

    private const string DeleteSql = """
        DELETE FROM attachment_blobs WHERE sha256 = ANY (@addresses::text[])
        """;

    private readonly Counter<long> purged = meters.Create(Telemetry.ServiceName).CreateCounter<long>(
        "taskrunner.attachments.blobs.purged", "{blob}", "Unreferenced blobs deleted from storage");

    /// <summary>One sweep; returns how many blobs it deleted.</summary>
    public async Task<long> PurgeAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        long total = 0;
        while (true)
        {
            var batch = await dataSource.InTransactionAsync(async (connection, transaction) =>
            {
                var addresses = (await connection.QueryAsync<string>(SelectSql,
                    new { graceMinutes = settings.OrphanGraceMinutes, batchSize = settings.RetentionBatchSize, cancellationToken }, transaction)).ToList();
                foreach (var address in addresses)
                    await storage.DeleteAsync(address, cancellationToken);
                await connection.ExecuteAsync(DeleteSql, new { addresses = PgArray.Of(addresses), cancellationToken }, transaction);
                return addresses.Count;
            }, cancellationToken);
            total += batch;
            purged.Add(batch);
            if (batch < settings.RetentionBatchSize)
                break;
        }
        var abandoned = 0;
        try
        {
            abandoned = await storage.DeleteAbandonedUploadsAsync(clock.GetUtcNow().UtcDateTime - AbandonedUploadAge, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Some S3-compatible stores cannot list multipart uploads: a lifecycle rule must do it there; blobs are unaffected.
            LogAbandonedUploadsFailed(logger, e.Message);
        }
        if (total > 0 || abandoned > 0)
            LogPurged(logger, total, abandoned);
        return total;
    }

    // A batch cut short by shutdown rolls back; bytes it already deleted leave rows the next sweep finishes.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        failures.RunPeriodicallyAsync("blob-purge", TimeSpan.FromMinutes(options.Value.RetentionSweepMinutes), PurgeAsync, stoppingToken);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove abandoned uploads from storage: {Reason}")]
    private static partial void LogAbandonedUploadsFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Purged {Blobs} unreferenced blobs and {Abandoned} abandoned uploads")]
    private static partial void LogPurged(ILogger logger, long blobs, int abandoned);
}
