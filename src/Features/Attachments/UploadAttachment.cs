using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Infrastructure.Storage;

namespace TaskRunner.Features.Attachments;

/// <summary>A task as an upload sees it: its project, and the caller's role there (null: not a member).</summary>
internal sealed record UploadTarget(Guid ProjectId, string? Role);

/// <summary>
/// POST /tasks/{id}/attachments (multipart/form-data, field <c>file</c>), for project editors. The file is streamed to
/// storage while it is hashed and counted — never held whole in memory — and its type is decided from its first bytes
/// against the allow-list (415 when not allowed, or when the declared type disagrees). Past the size limit or the
/// project's quota the upload stops at once (413) and what was written is removed; a body cut short is a 400 and leaves
/// nothing either. The row, the project's quota check, the thumbnail job and the audit row commit together.
/// </summary>
public static class UploadAttachment
{
    /// <summary>The form fields besides the file (ignored) may not add up to more than this.</summary>
    /// <summary>The multipart field that carries the file.</summary>
    internal const string FileField = "file";

    private const int MaxOtherFieldBytes = 64 * 1024;

    private const int ChunkSize = 64 * 1024;

    private const string TargetSql = """
        SELECT t.project_id,
               (SELECT m.role FROM project_members m WHERE m.project_id = t.project_id AND m.user_id = @callerId) AS role
        FROM tasks t
        WHERE t.id = @id AND t.deleted_at IS NULL AND
        """ + ProjectAccess.OnTaskRow;

    // FOR SHARE: the task cannot be deleted or moved to another project while the attachment lands on it.
    private const string LockTargetSql = TargetSql + """

        FOR SHARE OF t
        """;

    // FOR NO KEY UPDATE serialises the quota checks of one project without blocking task inserts (their FK takes KEY SHARE).
    private const string LockProjectSql = """
        SELECT id FROM projects WHERE id = @projectId FOR NO KEY UPDATE
        """;

    private const string UsedSql = """
        SELECT coalesce(sum(a.size_bytes), 0)::bigint
        FROM attachments a JOIN tasks t ON t.id = a.task_id
        WHERE t.project_id = @projectId AND a.deleted_at IS NULL
        """;

    private const string InsertSql = """
        INSERT INTO attachments (id, task_id, uploader_id, filename, content_type, size_bytes, sha256, thumbnail_status)
        VALUES (@id, @taskId, @uploaderId, @filename, @contentType, @sizeBytes, @sha256, @thumbnailStatus)
        RETURNING created_at
        """;

    private const string EnqueueThumbnailSql = """
        INSERT INTO thumbnail_jobs (attachment_id) VALUES (@id)
        """;

    private enum Outcome { Created, NotFound, ReadOnly, OverQuota }

    /// <summary>A refusal found while reading the body: the problem to answer and the metric's reason.</summary>
    private sealed record Refusal(ProblemHttpResult Problem, string Reason);

    private sealed record StoredFile(string Filename, string ContentType, long SizeBytes, string Sha256);

    public static async Task<Results<Created<AttachmentResponse>, ProblemHttpResult>> Handle(
        Guid id,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IBlobStorage storage,
        IOptions<AttachmentsOptions> options,
        AttachmentMetrics metrics,
        ThumbnailSignal thumbnails,
        CancellationToken cancellationToken)
    {
        var settings = options.Value;
        // Who may upload is settled before a byte is read, so a stranger's upload never reaches storage.
        var target = await TargetAsync(dataSource, id, caller, cancellationToken);
        if (target is null)
            return Problems.NotFound("No such task.");
        if (!ProjectAccess.Allows(caller, target.Role, ProjectRoles.Editor))
            return Problems.Forbidden("Attaching files needs the editor role in the task's project.");
        if (!MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var mediaType)
            || !mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(mediaType.Boundary) is not { Length: > 0 and <= 70 } boundary)
        {
            metrics.Rejected("malformed");
            return Problems.UnsupportedMediaType("Send the file as multipart/form-data with a boundary, in the field `file`.");
        }
        long used;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
            used = await connection.ExecuteScalarAsync<long>(UsedSql, new { projectId = target.ProjectId, cancellationToken });

        StoredFile stored;
        await using (var upload = await storage.StartUploadAsync(cancellationToken))
        {
            var read = await ReadFileAsync(http, boundary.ToString(), upload, settings, settings.ProjectQuotaBytes - used, cancellationToken);
            if (read.Refusal is { } refusal)
            {
                metrics.Rejected(http.RequestAborted.IsCancellationRequested ? "aborted" : refusal.Reason);
                return refusal.Problem;
            }
            stored = read.File!;
            await BlobWrites.CommitAsync(dataSource, upload, stored.Sha256, stored.SizeBytes, cancellationToken);
        }

        var attachmentId = Ids.New();
        var thumbnailStatus = settings.ThumbnailsEnabled && ContentTypes.IsImage(stored.ContentType) ? Thumbnails.Pending : Thumbnails.None;
        var (outcome, createdAt) = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
            var locked = await connection.QuerySingleOrDefaultAsync<UploadTarget>(LockTargetSql,
                access.On(id, cancellationToken), transaction);
            if (locked is null)
                return (Outcome.NotFound, default(DateTime));
            if (!ProjectAccess.Allows(caller, locked.Role, ProjectRoles.Editor))
                return (Outcome.ReadOnly, default);
            await connection.ExecuteScalarAsync<Guid>(LockProjectSql, new { projectId = locked.ProjectId, cancellationToken }, transaction);
            var usedNow = await connection.ExecuteScalarAsync<long>(UsedSql, new { projectId = locked.ProjectId, cancellationToken }, transaction);
            if (usedNow + stored.SizeBytes > settings.ProjectQuotaBytes)
                return (Outcome.OverQuota, default);
            var created = await connection.ExecuteScalarAsync<DateTime>(InsertSql, new
            {
                id = attachmentId,
                taskId = id,
                uploaderId = caller.UserId,
                filename = stored.Filename,
                contentType = stored.ContentType,
                sizeBytes = stored.SizeBytes,
                sha256 = stored.Sha256,
                thumbnailStatus,
                cancellationToken,
            }, transaction);
            if (thumbnailStatus == Thumbnails.Pending)
                await connection.ExecuteAsync(EnqueueThumbnailSql, new { id = attachmentId, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("attachment.upload", "attachment", attachmentId.ToString(),
                AuditActor.From(http, caller), new JsonObject
                {
                    ["task_id"] = id.ToString(),
                    ["filename"] = stored.Filename,
                    ["content_type"] = stored.ContentType,
                    ["size_bytes"] = stored.SizeBytes,
                    ["sha256"] = stored.Sha256,
                }), cancellationToken);
            return (Outcome.Created, created);
        }, cancellationToken);

        switch (outcome)
        {
            case Outcome.NotFound:
                return Problems.NotFound("No such task.");
            case Outcome.ReadOnly:
                return Problems.Forbidden("Attaching files needs the editor role in the task's project.");
            case Outcome.OverQuota:
                metrics.Rejected("quota");
                return QuotaExceeded(settings);
        }
        metrics.Uploaded(stored.SizeBytes);
        if (thumbnailStatus == Thumbnails.Pending)
            thumbnails.Wake();
        var row = new AttachmentRow(attachmentId, id, target.ProjectId, caller.UserId, stored.Filename, stored.ContentType, stored.SizeBytes,
            stored.Sha256, thumbnailStatus, null, null, null, createdAt);
        return TypedResults.Created($"/api/v1/attachments/{attachmentId}", row.ToResponse());
    }

    private static async Task<UploadTarget?> TargetAsync(NpgsqlDataSource dataSource, Guid id, Caller caller, CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<UploadTarget>(TargetSql,
            access.On(id, cancellationToken));
    }

    /// <summary>
    /// Reads the multipart body to its end, streaming the <c>file</c> field into <paramref name="upload"/>. Either the file
    /// (hashed, counted, typed) or why it was refused.
    /// </summary>
    private static async Task<(StoredFile? File, Refusal? Refusal)> ReadFileAsync(
        HttpContext http, string boundary, IBlobUpload upload, AttachmentsOptions settings, long quotaLeft, CancellationToken cancellationToken)
    {
        var reader = new MultipartReader(boundary, http.Request.Body) { BodyLengthLimit = null };
        StoredFile? file = null;
        long otherFieldBytes = 0;
        try
        {
            while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
            {
                var isFile = ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                    && disposition.IsFileDisposition() && HeaderUtilities.RemoveQuotes(disposition.Name).Equals(FileField, StringComparison.Ordinal);
                if (!isFile || file is not null)
                {
                    otherFieldBytes += await DrainAsync(section.Body, cancellationToken);
                    if (otherFieldBytes > MaxOtherFieldBytes)
                        return (null, new Refusal(Problems.ContentTooLarge("Send only the field `file`: the other fields are too large."), "too_large"));
                    continue;
                }
                var (stored, refusal) = await StreamFileAsync(section, disposition!, upload, settings, quotaLeft, cancellationToken);
                if (refusal is not null)
                    return (null, refusal);
                file = stored;
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            // A body cut short, a client gone, or broken multipart framing.
            return (null, new Refusal(Problems.BadRequest("The multipart body is malformed or ended early: " + e.Message), "malformed"));
        }
        if (file is null)
        {
            var errors = new ValidationErrors();
            errors.Add(FileField, "is required: send the file in the multipart field `file` (with a filename).");
            return (null, new Refusal(errors.ToProblem(), "malformed"));
        }
        return (file, null);
    }

    private static async Task<(StoredFile? File, Refusal? Refusal)> StreamFileAsync(
        MultipartSection section, ContentDispositionHeaderValue disposition, IBlobUpload upload, AttachmentsOptions settings,
        long quotaLeft, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            var headLength = await section.Body.ReadAtLeastAsync(buffer.AsMemory(0, ContentTypes.SniffLength), ContentTypes.SniffLength,
                throwOnEndOfStream: false, cancellationToken);
            if (headLength == 0)
            {
                var errors = new ValidationErrors();
                errors.Add(FileField, "is empty.");
                return (null, new Refusal(errors.ToProblem(), "empty"));
            }
            var detected = ContentTypes.Detect(buffer.AsSpan(0, headLength), wholeFile: headLength < ContentTypes.SniffLength);
            var allowed = settings.AllowedTypeSet();
            if (!allowed.Contains(detected))
                return (null, new Refusal(Problems.UnsupportedMediaType(
                    $"The file's content is {detected}, which may not be uploaded here (allowed: {settings.AllowedTypes})."), "type"));
            var contentType = ContentTypes.Reconcile(detected, section.ContentType);
            if (contentType is null || !allowed.Contains(contentType))
                return (null, new Refusal(Problems.UnsupportedMediaType(
                    $"The file was declared as {section.ContentType} but its content is {detected}."), "type_mismatch"));

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long size = 0;
            var length = headLength;
            while (length > 0)
            {
                size += length;
                if (size > settings.MaxSizeBytes)
                    return (null, new Refusal(Problems.ContentTooLarge(
                        $"The file is larger than the limit of {settings.MaxSizeBytes} bytes."), "too_large"));
                if (size > quotaLeft)
                    return (null, new Refusal(QuotaExceeded(settings), "quota"));
                hash.AppendData(buffer, 0, length);
                await upload.WriteAsync(buffer.AsMemory(0, length), cancellationToken);
                length = await section.Body.ReadAsync(buffer.AsMemory(0, ChunkSize), cancellationToken);
            }
            var filename = FileNames.Normalize(HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).ToString());
            return (new StoredFile(filename, contentType, size, Convert.ToHexStringLower(hash.GetHashAndReset())), null);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<long> DrainAsync(Stream body, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            long total = 0;
            int read;
            while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0 && total <= MaxOtherFieldBytes)
                total += read;
            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static ProblemHttpResult QuotaExceeded(AttachmentsOptions settings) =>
        Problems.ContentTooLarge($"The project's attachments would exceed its quota of {settings.ProjectQuotaBytes} bytes: delete some first.");
}
