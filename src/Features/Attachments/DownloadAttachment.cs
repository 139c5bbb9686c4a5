using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Infrastructure.Storage;

namespace TaskRunner.Features.Attachments;

/// <summary>GET /attachments/{id}/download: the file's bytes, for anyone who may read the task.</summary>
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

    internal static async Task<AttachmentRow?> VisibleAsync(NpgsqlDataSource dataSource, Guid id, Caller caller, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await AttachmentReads.VisibleAsync(connection, null, id, caller, ProjectRoles.Viewer, forUpdate: false, cancellationToken);
    }

    internal static ProblemHttpResult NotFound() => Problems.NotFound("No such attachment.");
}
