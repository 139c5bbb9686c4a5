using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Attachments;

/// <summary>An attachment as the API shows it; <c>thumbnail_url</c> only while a thumbnail is made or ready.</summary>
public sealed record AttachmentResponse(
    Guid Id, Guid TaskId, string Filename, string ContentType, long SizeBytes, string Sha256, string? ThumbnailUrl,
    string ThumbnailStatus, Guid UploadedBy, DateTime CreatedAt);

public sealed record AttachmentRow(
    Guid Id, Guid TaskId, Guid ProjectId, Guid UploaderId, string Filename, string ContentType, long SizeBytes, string Sha256,
    string ThumbnailStatus, string? ThumbnailSha256, string? ThumbnailContentType, string? ThumbnailError, DateTime CreatedAt)
{
    public AttachmentResponse ToResponse() => new(Id, TaskId, Filename, ContentType, SizeBytes, Sha256,
        ThumbnailStatus is Thumbnails.Pending or Thumbnails.Ready ? $"/api/v1/attachments/{Id}/thumbnail" : null,
        ThumbnailStatus, UploaderId, CreatedAt);
}

/// <summary>The states of an attachment's thumbnail (<c>attachments.thumbnail_status</c>).</summary>
public static class Thumbnails
{
    public const string None = "none";
    public const string Pending = "pending";
    public const string Ready = "ready";
    public const string Failed = "failed";
}

/// <summary>
/// Attachments as their task's readers see them: a live attachment of a live task the caller may read at the required level;
/// anything else does not exist for the caller (404), so a stranger learns nothing from an id.
/// </summary>
internal static class AttachmentReads
{
    public const string SelectSql = """
        SELECT a.id, a.task_id, t.project_id, a.uploader_id, a.filename, a.content_type, a.size_bytes, a.sha256,
               a.thumbnail_status, a.thumbnail_sha256, a.thumbnail_content_type, a.thumbnail_error, a.created_at
        FROM attachments a JOIN tasks t ON t.id = a.task_id
        """;

    private const string VisibleSql = SelectSql + """

        WHERE a.id = @id AND a.deleted_at IS NULL AND t.deleted_at IS NULL AND
        """ + ProjectAccess.OnTaskRow;

    private const string LockVisibleSql = VisibleSql + """

        FOR UPDATE OF a
        """;

    /// <summary>A row of <see cref="SelectSql"/>.</summary>
    public static AttachmentRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<Guid>("task_id"), row.Get<Guid>("project_id"), row.Get<Guid>("uploader_id"),
        row.Get<string>("filename"), row.Get<string>("content_type"), row.Get<long>("size_bytes"), row.Get<string>("sha256"),
        row.Get<string>("thumbnail_status"), row.GetOrNull<string>("thumbnail_sha256"), row.GetOrNull<string>("thumbnail_content_type"),
        row.GetOrNull<string>("thumbnail_error"), row.Get<DateTime>("created_at"));

    public static Task<AttachmentRow?> VisibleAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid id, Caller caller, string required, bool forUpdate,
        CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, required);
        return forUpdate
            ? connection.QuerySingleOrDefaultAsync<AttachmentRow>(LockVisibleSql,
                access.On(id, cancellationToken), transaction)
            : connection.QuerySingleOrDefaultAsync<AttachmentRow>(VisibleSql,
                access.On(id, cancellationToken), transaction);
    }
}
