using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>A run in a list: its parameters, and how many of its batch's live tasks are in each status.</summary>
public sealed record WorkflowRunSummary(
    Guid Id,
    Guid WorkflowId,
    int Version,
    Guid BatchId,
    RawJson Params,
    Guid CreatedBy,
    DateTime CreatedAt,
    int Total,
    RawJson Counts);

/// <summary>A run as <see cref="ListWorkflowRuns"/> reads it.</summary>
public sealed record WorkflowRunRow(
    Guid Id, Guid WorkflowId, int Version, Guid BatchId, string Params, Guid CreatedBy, DateTime CreatedAt, int Total, string Counts)
{
    public WorkflowRunSummary ToSummary() =>
        new(Id, WorkflowId, Version, BatchId, new RawJson(Params), CreatedBy, CreatedAt, Total, new RawJson(Counts));
}

/// <summary>The query string of GET /workflows/{id}/runs.</summary>
public sealed record ListWorkflowRunsQuery : IListQuery
{
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>GET /workflows/{id}/runs: a workflow's runs, newest first, each with its batch's status counts (every status listed).</summary>
public static class ListWorkflowRuns
{
    private const string ByWorkflow = "r.workflow_id = @workflowId";

    // Counts through tasks_batch_idx, one batch per listed run.
    private const string SelectSql = """
        SELECT r.id, r.workflow_id, r.version, r.batch_id, r.params::text AS params, r.created_by, r.created_at,
               c.total, c.counts
        FROM workflow_runs r
        CROSS JOIN LATERAL (
            SELECT count(*)::int AS total,
                   jsonb_build_object(
                       'pending', count(*) FILTER (WHERE t.status = 'pending'),
                       'paused', count(*) FILTER (WHERE t.status = 'paused'),
                       'running', count(*) FILTER (WHERE t.status = 'running'),
                       'succeeded', count(*) FILTER (WHERE t.status = 'succeeded'),
                       'failed', count(*) FILTER (WHERE t.status = 'failed'),
                       'cancelled', count(*) FILTER (WHERE t.status = 'cancelled'),
                       'timed_out', count(*) FILTER (WHERE t.status = 'timed_out'))::text AS counts
            FROM tasks t
            WHERE t.batch_id = r.batch_id AND t.deleted_at IS NULL) c
        """;

    public static readonly ListDefinition<WorkflowRunRow, WorkflowRunSummary> Definition = new(
        new SortKeys<WorkflowRunRow>("r.id", row => row.Id)
            .Timestamp("created_at", "r.created_at", row => row.CreatedAt)
            .DefaultSort("-created_at"),
        new ResponseFields<WorkflowRunSummary>(AppJsonContext.Default.WorkflowRunSummary));

    public static async Task<Results<ListResult<WorkflowRunSummary>, ProblemHttpResult>> Handle(
        Guid id,
        [AsParameters] ListWorkflowRunsQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var page = paging.Parse(query, Definition, new CursorBinding("workflow_runs").With("workflow_id", id.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var (_, problem) = await WorkflowAccess.FindAsync(connection, null, caller, id, ProjectRoles.Viewer, includeDeleted: true,
            forUpdate: false, cancellationToken);
        if (problem is not null)
            return problem;
        await using var command = connection.CreateCommand();
        var rows = await new FilteredQuery(command).Where(ByWorkflow, "workflowId", id)
            .ReadPageAsync(SelectSql, page.Keyset, Read, cancellationToken);
        return page.Result(rows, row => row.ToSummary());
    }

    private static WorkflowRunRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<Guid>("workflow_id"), row.Get<int>("version"), row.Get<Guid>("batch_id"),
        row.Get<string>("params"), row.Get<Guid>("created_by"), row.Get<DateTime>("created_at"), row.Get<int>("total"),
        row.Get<string>("counts"));
}
