using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Features.Projects;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>The query string of GET /projects/{id}/workflows, taken as text so every malformed value is reported by name.</summary>
public sealed record ListWorkflowsQuery : IListQuery
{
    [FromQuery(Name = "include_deleted")] public string? IncludeDeleted { get; init; }
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>GET /projects/{id}/workflows: a project's workflows (anyone who may read it), newest first by default, in keyset pages.</summary>
public static class ListWorkflows
{
    private const string ByProject = "w.project_id = @projectId";
    private const string Live = "w.deleted_at IS NULL";

    public static readonly ListDefinition<WorkflowRow, WorkflowResponse> Definition = new(
        new SortKeys<WorkflowRow>("w.id", row => row.Id)
            .Timestamp("created_at", "w.created_at", row => row.CreatedAt)
            .Text("name", "w.name", row => row.Name)
            .DefaultSort("-created_at"),
        new ResponseFields<WorkflowResponse>(AppJsonContext.Default.WorkflowResponse));

    public static async Task<Results<ListResult<WorkflowResponse>, ProblemHttpResult>> Handle(
        Guid id,
        [AsParameters] ListWorkflowsQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var withDeleted = ProjectRules.Flag(query.IncludeDeleted, "include_deleted", errors);
        var page = paging.Parse(query, Definition,
            new CursorBinding("workflows").With("project_id", id.ToString()).With("include_deleted", withDeleted.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        // A project the caller may not read is not found, rather than an empty list that confirms it exists.
        if (!await connection.ExecuteScalarAsync<bool>(ProjectAccess.LiveProjectReadableSql, access.On(id, cancellationToken)))
            return Problems.NotFound("No such project.");
        await using var command = connection.CreateCommand();
        var filtered = new FilteredQuery(command)
            .Where(ProjectAccess.OnProjectRow, access)
            .Where(ByProject, "projectId", id);
        if (!withDeleted)
            filtered.Where(Live);
        var rows = await filtered.ReadPageAsync(WorkflowReads.SelectSql, page.Keyset, WorkflowReads.Read, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }
}
