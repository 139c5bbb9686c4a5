using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>DELETE /comments/{id}: a soft delete, by the comment's author while still an editor, a project owner or an admin.</summary>
public static class DeleteComment
{
    private const string CommentOwnerSql = """
        SELECT c.author_id, c.task_id, t.project_id
        FROM task_comments c JOIN tasks t ON t.id = c.task_id
        WHERE c.id = @id AND c.deleted_at IS NULL AND t.deleted_at IS NULL AND
        """ + ProjectAccess.OnTaskRow + """

        FOR UPDATE OF c
        """;

    private const string SoftDeleteSql = """
        UPDATE task_comments SET deleted_at = now() WHERE id = @id
        """;

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        Guid id,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        var outcome = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
            var comment = await connection.QuerySingleOrDefaultAsync<CommentOwnerRow>(CommentOwnerSql,
                access.On(id, cancellationToken), transaction);
            if (comment is null)
                return StatusCodes.Status404NotFound;
            var role = await TaskLookup.MembershipAsync(connection, transaction, caller, comment.ProjectId, cancellationToken);
            var mayDelete = ProjectAccess.Allows(caller, role, ProjectRoles.Owner)
                || (comment.AuthorId == caller.UserId && ProjectAccess.Allows(caller, role, ProjectRoles.Editor));
            if (!mayDelete)
                return StatusCodes.Status403Forbidden;
            await connection.ExecuteAsync(SoftDeleteSql, new { id, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("comment.delete", "comment", id.ToString(),
                AuditActor.From(http, caller), new JsonObject { ["task_id"] = comment.TaskId.ToString() }), cancellationToken);
            return StatusCodes.Status204NoContent;
        }, cancellationToken);

        return outcome switch
        {
            StatusCodes.Status404NotFound => Problems.NotFound("No such comment."),
            StatusCodes.Status403Forbidden => Problems.Forbidden(
                "Only the comment's author (while an editor), a project owner or an admin may delete it."),
            _ => TypedResults.NoContent(),
        };
    }
}
