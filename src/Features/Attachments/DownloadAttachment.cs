using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Infrastructure.Storage;

namespace TaskRunner.Features.Attachments;

/// <summary>
/// GET /attachments/{id}/download and /thumbnail, for anyone who may read the task. The thumbnail answers 404 with a problem
/// saying why there is none: still being made, impossible (with the reason), or not an image.
/// </summary>
public static class DownloadAttachment
{
    public static async Task<Results<BlobDownload, ProblemHttpResult>> Download(
        Guid id, Caller caller, NpgsqlDataSource dataSource, IBlobStorage storage, CancellationToken cancellationToken)
    {
        var row = await VisibleAsync(dataSource, id, caller, cancellationToken);
        if (row is null)
            return NotFound();
        return new BlobDownload(storage, row.Sha256, row.SizeBytes, row.ContentType, row.Filename);
    }

    public static async Task<Results<BlobDownload, ProblemHttpResult>> Thumbnail(
        Guid id, Caller caller, NpgsqlDataSource dataSource, IBlobStorage storage, CancellationToken cancellationToken)
    {
        var row = await VisibleAsync(dataSource, id, caller, cancellationToken);
        if (row is null)
            return NotFound();
        return row.ThumbnailStatus switch
        {
            Thumbnails.Ready => new BlobDownload(storage, row.ThumbnailSha256!, await ThumbnailSizeAsync(dataSource, row.ThumbnailSha256!, cancellationToken),
                row.ThumbnailContentType!, ThumbnailName(row)),
            Thumbnails.Pending => Problems.NotFound("The thumbnail is still being made; try again shortly."),
            Thumbnails.Failed => Problems.NotFound("This attachment can have no thumbnail: " + row.ThumbnailError),
            _ => Problems.NotFound("This attachment has no thumbnail: only PNG, JPEG, GIF and WebP images get one."),
        };
    }

    private static async Task<AttachmentRow?> VisibleAsync(NpgsqlDataSource dataSource, Guid id, Caller caller, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await AttachmentReads.VisibleAsync(connection, null, id, caller, ProjectRoles.Viewer, forUpdate: false, cancellationToken);
    }

    private const string ThumbnailSizeSql = """
        SELECT size_bytes FROM attachment_blobs WHERE sha256 = @sha256
        """;

    private static async Task<long> ThumbnailSizeAsync(NpgsqlDataSource dataSource, string sha256, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(ThumbnailSizeSql, new { sha256, cancellationToken });
    }

    private static string ThumbnailName(AttachmentRow row) =>
        Path.GetFileNameWithoutExtension(row.Filename) + "-thumbnail" + (row.ThumbnailContentType == ContentTypes.Png ? ".png" : ".jpg");

    private static ProblemHttpResult NotFound() => Problems.NotFound("No such attachment.");
}
