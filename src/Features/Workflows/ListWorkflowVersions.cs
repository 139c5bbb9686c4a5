using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>The query string of GET /workflows/{id}/versions.</summary>
public sealed record ListWorkflowVersionsQuery : IListQuery
{
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>GET /workflows/{id}/versions: every version of a live workflow, newest first, without definitions.</summary>
public static class ListWorkflowVersions
{
    private const string ByWorkflow = "v.workflow_id = @workflowId";

    public static readonly ListDefinition<WorkflowVersionRow, WorkflowVersionSummary> Definition = new(
        new SortKeys<WorkflowVersionRow>("v.id", row => row.Id)
            .Number("number", "v.number", row => row.Number)
            .DefaultSort("-number"),
        new ResponseFields<WorkflowVersionSummary>(AppJsonContext.Default.WorkflowVersionSummary));

    public static async Task<Results<ListResult<WorkflowVersionSummary>, ProblemHttpResult>> Handle(
        Guid id,
        [AsParameters] ListWorkflowVersionsQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var page = paging.Parse(query, Definition, new CursorBinding("workflow_versions").With("workflow_id", id.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var (_, problem) = await WorkflowAccess.FindAsync(connection, null, caller, id, ProjectRoles.Viewer, includeDeleted: false,
            forUpdate: false, cancellationToken);
        if (problem is not null)
            return problem;
        await using var command = connection.CreateCommand();
        var rows = await new FilteredQuery(command).Where(ByWorkflow, "workflowId", id)
            .ReadPageAsync(WorkflowReads.SelectVersionSql, page.Keyset, WorkflowReads.ReadVersion, cancellationToken);
        return page.Result(rows, row => row.ToSummary());
    }
}
