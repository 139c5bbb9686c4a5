using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Attachments;

public sealed record ListAttachmentsQuery : IListQuery
{
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>GET /tasks/{id}/attachments: the live attachments of a task the caller may read, oldest first, a page at a time.</summary>
public static class ListAttachments
{
    private const string VisibleTaskSql = """
        SELECT t.project_id FROM tasks t WHERE t.id = @id AND t.deleted_at IS NULL AND
        """ + ProjectAccess.OnTaskRow;

    /// <summary>One order, upload time (attachments_task_idx).</summary>
    public static readonly ListDefinition<AttachmentRow, AttachmentResponse> Definition = new(
        new SortKeys<AttachmentRow>("a.id", row => row.Id)
            .Timestamp("created_at", "a.created_at", row => row.CreatedAt)
            .FixedSort("created_at"),
        new ResponseFields<AttachmentResponse>(AppJsonContext.Default.AttachmentResponse));

    public static async Task<Results<ListResult<AttachmentResponse>, ProblemHttpResult>> Handle(
        Guid id,
        [AsParameters] ListAttachmentsQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var page = paging.Parse(query, Definition, new CursorBinding("task-attachments").With("task_id", id.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        if (await connection.QuerySingleOrDefaultAsync<Guid?>(VisibleTaskSql,
                access.On(id, cancellationToken)) is null)
            return Problems.NotFound("No such task.");
        await using var command = connection.CreateCommand();
        var rows = await new FilteredQuery(command).Where("a.task_id = @taskId AND a.deleted_at IS NULL", "taskId", id)
            .ReadPageAsync(AttachmentReads.SelectSql, page.Keyset, AttachmentReads.Read, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }
}
