using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Storage;

namespace TaskRunner.Features.Attachments;

/// <summary>
/// The one order in which bytes reach their address: the blob's row is inserted or its <c>last_used_at</c> refreshed first
/// (waiting for a purge that holds it), then the bytes are committed. So the purge, which takes only unreferenced blobs
/// unused for a grace period and deletes the bytes before the row, can never remove bytes an upload is about to reference.
/// </summary>
internal static class BlobWrites
{
    private const string TouchSql = """
        INSERT INTO attachment_blobs (sha256, size_bytes) VALUES (@sha256, @sizeBytes)
        ON CONFLICT (sha256) DO UPDATE SET last_used_at = now()
        """;

    public static async Task CommitAsync(
        NpgsqlDataSource dataSource, IBlobUpload upload, string sha256, long sizeBytes, CancellationToken cancellationToken)
    {
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
            await connection.ExecuteAsync(TouchSql, new { sha256, sizeBytes, cancellationToken });
        await upload.CommitAsync(sha256, cancellationToken);
    }

    public static async Task StoreAsync(NpgsqlDataSource dataSource, IBlobStorage storage, string sha256, byte[] bytes, CancellationToken cancellationToken)
    {
        await using var upload = await storage.StartUploadAsync(cancellationToken);
        await upload.WriteAsync(bytes, cancellationToken);
        await CommitAsync(dataSource, upload, sha256, bytes.Length, cancellationToken);
    }
}
