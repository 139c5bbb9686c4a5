using Dapper;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
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
/// What the comment use cases (<see cref="ListTaskComments"/>, <see cref="CreateTaskComment"/>,
/// <see cref="DeleteComment"/>) share: the comment's columns and the task's visibility. The comments of a deleted task are
/// out of reach, as the task is.
/// </summary>
public static class TaskComments
{
    public const int MaxBodyLength = 10_000;

    internal const string VisibleTaskSql = """
        SELECT t.project_id FROM tasks t WHERE t.id = @id AND t.deleted_at IS NULL AND
        """ + ProjectAccess.OnTaskRow;

    internal const string SelectSql = """
        SELECT id, task_id, author_id, body, created_at FROM task_comments
        """;

    internal const string LiveOfTask = "task_id = @taskId AND deleted_at IS NULL";

    internal static Task<Guid?> VisibleProjectAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid id, Caller caller, string required, CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, required);
        return connection.QuerySingleOrDefaultAsync<Guid?>(VisibleTaskSql,
            access.On(id, cancellationToken), transaction);
    }

}
