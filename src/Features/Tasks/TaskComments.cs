using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

public sealed record ListCommentsQuery : IListQuery
{
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

public sealed record CreateCommentRequest([property: ApiRequired] string? Body);

public sealed record CommentResponse(Guid Id, Guid TaskId, Guid AuthorId, string Body, DateTime CreatedAt);

public sealed record CommentRow(Guid Id, Guid TaskId, Guid AuthorId, string Body, DateTime CreatedAt)
{
    public CommentResponse ToResponse() => new(Id, TaskId, AuthorId, Body, CreatedAt);
}

/// <summary>A comment read for its deletion: its author, and the project its (live) task belongs to.</summary>
internal sealed record CommentOwnerRow(Guid AuthorId, Guid TaskId, Guid ProjectId);

/// <summary>
/// Comments on a task: read by anyone who may read the task (oldest first, keyset on created_at and id), written by project
/// editors, deleted (softly) by their author while still an editor, by a project owner or by an admin. The comments of a
/// deleted task are out of reach, as the task is.
/// </summary>
public static class TaskComments
{
    public const int MaxBodyLength = 10_000;

    private const string VisibleTaskSql = """
        SELECT t.project_id FROM tasks t WHERE t.id = @id AND t.deleted_at IS NULL AND
        """ + ProjectAccess.OnTaskRow;

    private const string SelectSql = """
        SELECT id, task_id, author_id, body, created_at FROM task_comments
        """;

    private const string LiveOfTask = "task_id = @taskId AND deleted_at IS NULL";

    private const string InsertSql = """
        INSERT INTO task_comments (id, task_id, author_id, body) VALUES (@id, @taskId, @authorId, @body)
        RETURNING created_at
        """;

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

    /// <summary>One order, the conversation's (task_comments_task_idx).</summary>
    public static readonly ListDefinition<CommentRow, CommentResponse> Definition = new(
        new SortKeys<CommentRow>("id", row => row.Id)
            .Timestamp("created_at", "created_at", row => row.CreatedAt)
            .FixedSort("created_at"),
        new ResponseFields<CommentResponse>(AppJsonContext.Default.CommentResponse));

    public static async Task<Results<ListResult<CommentResponse>, ProblemHttpResult>> List(
        Guid id,
        [AsParameters] ListCommentsQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var page = paging.Parse(query, Definition, new CursorBinding("task-comments").With("task_id", id.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (await VisibleProjectAsync(connection, null, id, caller, ProjectRoles.Viewer, cancellationToken) is null)
            return TaskProblems.NotFound();
        await using var command = connection.CreateCommand();
        var rows = await new FilteredQuery(command).Where(LiveOfTask, "taskId", id).ReadPageAsync(SelectSql, page.Keyset, Read, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }

    private static CommentRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<Guid>("task_id"), row.Get<Guid>("author_id"), row.Get<string>("body"), row.Get<DateTime>("created_at"));

    public static async Task<Results<Created<CommentResponse>, ProblemHttpResult>> Create(
        Guid id,
        CreateCommentRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        errors.RequireLength("body", request.Body, 1, MaxBodyLength);
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

    public static async Task<Results<NoContent, ProblemHttpResult>> Delete(
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

    private static Task<Guid?> VisibleProjectAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid id, Caller caller, string required, CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, required);
        return connection.QuerySingleOrDefaultAsync<Guid?>(VisibleTaskSql,
            access.On(id, cancellationToken), transaction);
    }
}
