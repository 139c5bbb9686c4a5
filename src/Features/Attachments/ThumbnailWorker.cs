using System.Diagnostics;
using System.Security.Cryptography;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Events;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Storage;

namespace TaskRunner.Features.Attachments;

/// <summary>Wakes this node's thumbnail workers when an upload enqueued a job (other nodes' jobs are found by polling).</summary>
public sealed class ThumbnailSignal
{
    private readonly WakeSignal wake = new();

    public void Wake() => wake.Wake();

    /// <summary>Taken before looking for work, so a wake-up while looking is not lost.</summary>
    public Task Next => wake.Next;
}

/// <summary>A claimed job: the attachment, which attempt this is (the fencing token), and the image to read.</summary>
internal sealed record ClaimedThumbnailJob(Guid AttachmentId, int Attempts, string Sha256, long SizeBytes);

internal sealed record StorageFigures(long StoredBytes, long QueueDepth);

/// <summary>
/// The thumbnail queue's workers (<see cref="AttachmentsOptions.ThumbnailWorkers"/> on every node). Each claims one due job
/// with SKIP LOCKED, which moves its <c>run_after</c> to the end of a lease (a worker that dies leaves the job to be taken
/// again), renders it, stores the thumbnail as a blob and records it, fenced by the attempt number. An image that can never
/// have a thumbnail fails at once with its reason; any other failure is retried with backoff up to
/// <see cref="AttachmentsOptions.ThumbnailMaxAttempts"/>, then recorded as failed. The attachment itself is never touched.
/// </summary>
public sealed class ThumbnailWorker(
    NpgsqlDataSource dataSource,
    IBlobStorage storage,
    ThumbnailSignal signal,
    AttachmentMetrics metrics,
    BackgroundFailures failures,
    IOptions<AttachmentsOptions> options) : BackgroundService
{
    private const string ClaimSql = """
        UPDATE thumbnail_jobs j
        SET attempts = j.attempts + 1, run_after = now() + make_interval(secs => @leaseSeconds)
        FROM attachments a
        WHERE a.id = j.attachment_id
          AND j.attachment_id = (SELECT attachment_id FROM thumbnail_jobs WHERE run_after <= now()
                                 ORDER BY run_after LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING j.attachment_id, j.attempts, a.sha256, a.size_bytes
        """;

    private const string ReadySql = """
        WITH done AS (DELETE FROM thumbnail_jobs WHERE attachment_id = @id AND attempts = @attempts RETURNING attachment_id)
        UPDATE attachments SET thumbnail_status = 'ready', thumbnail_sha256 = @sha256, thumbnail_content_type = @contentType
        WHERE id IN (SELECT attachment_id FROM done)
        """;

    private const string FailedSql = """
        WITH done AS (DELETE FROM thumbnail_jobs WHERE attachment_id = @id AND attempts = @attempts RETURNING attachment_id)
        UPDATE attachments SET thumbnail_status = 'failed', thumbnail_error = @error
        WHERE id IN (SELECT attachment_id FROM done)
        """;

    private const string RetrySql = """
        UPDATE thumbnail_jobs SET run_after = now() + make_interval(secs => @delaySeconds), last_error = @error
        WHERE attachment_id = @id AND attempts = @attempts
        """;

    private const string FiguresSql = """
        SELECT (SELECT coalesce(sum(size_bytes), 0)::bigint FROM attachment_blobs) AS stored_bytes,
               (SELECT count(*) FROM thumbnail_jobs) AS queue_depth
        """;

    private const int MaxErrorLength = 500;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.ThumbnailsEnabled)
            return;
        var workers = Enumerable.Range(0, settings.ThumbnailWorkers).Select(_ => WorkAsync(stoppingToken)).ToList();
        workers.Add(RefreshFiguresAsync(stoppingToken));
        await Task.WhenAll(workers);
    }

    /// <summary>Claims and makes one thumbnail after another; polls, or waits to be woken, when the queue is empty.</summary>
    private async Task WorkAsync(CancellationToken stoppingToken)
    {
        var guard = failures.For("thumbnails");
        var poll = TimeSpan.FromMilliseconds(options.Value.ThumbnailPollMilliseconds);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var next = signal.Next;
                var found = false;
                if (!await guard.RunAsync(async cancellationToken => found = await RunOneAsync(cancellationToken), stoppingToken))
                    continue;
                if (!found)
                    await Task.WhenAny(next, Task.Delay(poll, stoppingToken));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: a job in flight keeps its lease and is taken again once it expires.
        }
    }

    /// <summary>One job, if one is due. True when there was one.</summary>
    public async Task<bool> RunOneAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        ClaimedThumbnailJob? job;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
            job = await connection.QuerySingleOrDefaultAsync<ClaimedThumbnailJob>(ClaimSql,
                new { leaseSeconds = settings.ThumbnailLeaseSeconds, cancellationToken });
        if (job is null)
            return false;

        var started = Stopwatch.GetTimestamp();
        try
        {
            var thumbnail = await RenderAsync(job, settings, cancellationToken);
            var sha256 = Convert.ToHexStringLower(SHA256.HashData(thumbnail.Bytes));
            await BlobWrites.StoreAsync(dataSource, storage, sha256, thumbnail.Bytes, cancellationToken);
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await connection.ExecuteAsync(ReadySql,
                new { id = job.AttachmentId, attempts = job.Attempts, sha256, contentType = thumbnail.ContentType, cancellationToken });
            metrics.ThumbnailEnded(Thumbnails.Ready, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        catch (ImpossibleThumbnailException impossible)
        {
            await FailAsync(job, impossible.Message, started, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (job.Attempts >= settings.ThumbnailMaxAttempts)
            {
                await FailAsync(job, $"gave up after {job.Attempts} attempts: {e.Message}", started, cancellationToken);
                return true;
            }
            var delaySeconds = Math.Min(300, 5 * (1 << Math.Min(job.Attempts - 1, 6)));
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await connection.ExecuteAsync(RetrySql,
                new { id = job.AttachmentId, attempts = job.Attempts, delaySeconds, error = Shorten(e.Message), cancellationToken });
            metrics.ThumbnailEnded("retried", Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        return true;
    }

    private async Task<RenderedThumbnail> RenderAsync(ClaimedThumbnailJob job, AttachmentsOptions settings, CancellationToken cancellationToken)
    {
        await using var blob = await storage.OpenReadAsync(job.Sha256, 0, job.SizeBytes, cancellationToken);
        if (blob.CanSeek)
            return ThumbnailRenderer.Render(blob, settings.ThumbnailMaxEdge, settings.ThumbnailMaxPixels);
        // The decoders seek; a remote object is copied to a temporary file first (never whole into memory).
        var path = Path.Combine(Path.GetTempPath(), "taskrunner-thumbnail-" + Guid.NewGuid().ToString("N"));
        await using var copy = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 81_920,
            FileOptions.Asynchronous | FileOptions.DeleteOnClose);
        await blob.CopyToAsync(copy, cancellationToken);
        copy.Position = 0;
        return ThumbnailRenderer.Render(copy, settings.ThumbnailMaxEdge, settings.ThumbnailMaxPixels);
    }

    private async Task FailAsync(ClaimedThumbnailJob job, string reason, long started, CancellationToken cancellationToken)
    {
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
            await connection.ExecuteAsync(FailedSql, new { id = job.AttachmentId, attempts = job.Attempts, error = Shorten(reason), cancellationToken });
        metrics.ThumbnailEnded(Thumbnails.Failed, Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    private Task RefreshFiguresAsync(CancellationToken stoppingToken) =>
        failures.RunPeriodicallyAsync("attachment-figures", TimeSpan.FromMilliseconds(Math.Max(options.Value.ThumbnailPollMilliseconds, 5000)),
            async cancellationToken =>
            {
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                var figures = await connection.QuerySingleAsync<StorageFigures>(FiguresSql, new { cancellationToken });
                metrics.Refreshed(figures.StoredBytes, figures.QueueDepth);
            }, stoppingToken);

    private static string Shorten(string message) => message.Length <= MaxErrorLength ? message : message[..MaxErrorLength];
}
