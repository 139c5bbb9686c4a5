using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Infrastructure.Storage;

namespace TaskRunner.Features.Attachments;

/// <summary>
/// GET /attachments/{id}/thumbnail, for anyone who may read the task. It answers 404 with a problem saying why there is
/// none: still being made, impossible (with the reason), or not an image.
/// </summary>
public static class GetAttachmentThumbnail
{
    private const string ThumbnailSizeSql = """
        SELECT size_bytes FROM attachment_blobs WHERE sha256 = @sha256
        """;

    public static async Task<Results<BlobDownload, ProblemHttpResult>> Handle(
        Guid id, Caller caller, NpgsqlDataSource dataSource, IBlobStorage storage, CancellationToken cancellationToken)
    {
        var row = await DownloadAttachment.VisibleAsync(dataSource, id, caller, cancellationToken);
        if (row is null)
            return DownloadAttachment.NotFound();
        return row.ThumbnailStatus switch
        {
            Thumbnails.Ready => new BlobDownload(storage, row.ThumbnailSha256!, await ThumbnailSizeAsync(dataSource, row.ThumbnailSha256!, cancellationToken),
                row.ThumbnailContentType!, ThumbnailName(row)),
            Thumbnails.Pending => Problems.NotFound("The thumbnail is still being made; try again shortly."),
            Thumbnails.Failed => Problems.NotFound("This attachment can have no thumbnail: " + row.ThumbnailError),
            _ => Problems.NotFound("This attachment has no thumbnail: only PNG, JPEG, GIF and WebP images get one."),
        };
    }

    private static async Task<long> ThumbnailSizeAsync(NpgsqlDataSource dataSource, string sha256, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(ThumbnailSizeSql, new { sha256, cancellationToken });
    }

    private static string ThumbnailName(AttachmentRow row) =>
        Path.GetFileNameWithoutExtension(row.Filename) + "-thumbnail" + (row.ThumbnailContentType == ContentTypes.Png ? ".png" : ".jpg");
}
