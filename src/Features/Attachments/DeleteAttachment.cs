using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Attachments;

/// <summary>
/// DELETE /attachments/{id}: a soft delete by a project editor (404 for whoever may not read the task, 403 for a reader).
/// The row is purged after <c>Attachments:RetentionDays</c> and its blob once nothing references it. Attachments of a
/// deleted task are out of reach with it, and come back when it is restored.
/// </summary>
public static class DeleteAttachment
{
    private const string MembershipSql = """
        SELECT role FROM project_members WHERE project_id = @projectId AND user_id = @userId
        """;

    private const string SoftDeleteSql = """
        UPDATE attachments SET deleted_at = now() WHERE id = @id;
        DELETE FROM thumbnail_jobs WHERE attachment_id = @id;
        """;

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var outcome = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var row = await AttachmentReads.VisibleAsync(connection, transaction, id, caller, ProjectRoles.Viewer, forUpdate: true, cancellationToken);
            if (row is null)
                return StatusCodes.Status404NotFound;
            var role = caller.IsAdmin ? ProjectRoles.Owner : await connection.QuerySingleOrDefaultAsync<string>(MembershipSql,
                new { projectId = row.ProjectId, userId = caller.UserId, cancellationToken }, transaction);
            if (!ProjectAccess.Allows(caller, role, ProjectRoles.Editor))
                return StatusCodes.Status403Forbidden;
            await connection.ExecuteAsync(SoftDeleteSql, new { id, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("attachment.delete", "attachment", id.ToString(),
                AuditActor.From(http, caller), new JsonObject
                {
                    ["task_id"] = row.TaskId.ToString(),
                    ["filename"] = row.Filename,
                    ["sha256"] = row.Sha256,
                }), cancellationToken);
            return StatusCodes.Status204NoContent;
        }, cancellationToken);

        return outcome switch
        {
            StatusCodes.Status404NotFound => Problems.NotFound("No such attachment."),
            StatusCodes.Status403Forbidden => Problems.Forbidden("Deleting attachments needs the editor role in the task's project."),
            _ => TypedResults.NoContent(),
        };
    }
}
