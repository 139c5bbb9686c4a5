using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>POST /tasks/{id}/comments: project editors comment on a live task.</summary>
public static class CreateTaskComment
{
    private const string InsertSql = """
        INSERT INTO task_comments (id, task_id, author_id, body) VALUES (@id, @taskId, @authorId, @body)
        RETURNING created_at
        """;

    public static async Task<Results<Created<CommentResponse>, ProblemHttpResult>> Handle(
        Guid id,
        CreateCommentRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        errors.RequireLength("body", request.Body, 1, TaskComments.MaxBodyLength);
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var commentId = Ids.New();
        var body = request.Body!;
        var (outcome, createdAt) = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            // Locked against a concurrent delete of the task, so no comment lands on a task deleted meanwhile.
            var task = await TaskLookup.LockVisibleAsync(connection, transaction, id, caller, cancellationToken);
            if (task is null || task.Row.DeletedAt is not null)
                return (StatusCodes.Status404NotFound, default(DateTime));
            if (!task.Allows(caller, ProjectRoles.Editor))
                return (StatusCodes.Status403Forbidden, default);
            var created = await connection.ExecuteScalarAsync<DateTime>(InsertSql,
                new { id = commentId, taskId = id, authorId = caller.UserId, body, cancellationToken }, transaction);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("comment.create", "comment", commentId.ToString(),
                AuditActor.From(http, caller), new JsonObject { ["task_id"] = id.ToString() }), cancellationToken);
            return (StatusCodes.Status201Created, created);
        }, cancellationToken);

        return outcome switch
        {
            StatusCodes.Status404NotFound => TaskProblems.NotFound(),
            StatusCodes.Status403Forbidden => Problems.Forbidden("Commenting needs the editor role in the task's project."),
            _ => TypedResults.Created($"/api/v1/tasks/{id}/comments",
                new CommentResponse(commentId, id, caller.UserId, body, createdAt)),
        };
    }
}
