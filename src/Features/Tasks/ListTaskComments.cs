using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>GET /tasks/{id}/comments: a task's comments for anyone who may read it, oldest first (keyset on created_at and id).</summary>
public static class ListTaskComments
{
    /// <summary>One order, the conversation's (task_comments_task_idx).</summary>
    public static readonly ListDefinition<CommentRow, CommentResponse> Definition = new(
        new SortKeys<CommentRow>("id", row => row.Id)
            .Timestamp("created_at", "created_at", row => row.CreatedAt)
            .FixedSort("created_at"),
        new ResponseFields<CommentResponse>(AppJsonContext.Default.CommentResponse));

    public static async Task<Results<ListResult<CommentResponse>, ProblemHttpResult>> Handle(
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
        if (await TaskComments.VisibleProjectAsync(connection, null, id, caller, ProjectRoles.Viewer, cancellationToken) is null)
            return TaskProblems.NotFound();
        await using var command = connection.CreateCommand();
        var rows = await new FilteredQuery(command).Where(TaskComments.LiveOfTask, "taskId", id).ReadPageAsync(TaskComments.SelectSql, page.Keyset, Read, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }

    private static CommentRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<Guid>("task_id"), row.Get<Guid>("author_id"), row.Get<string>("body"), row.Get<DateTime>("created_at"));
}
