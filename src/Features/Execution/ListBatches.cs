using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>
/// One batch in a list: its project, how many of its live tasks are in each status (every status listed, as in GET
/// /batches/{id}) and when its first task was created.
/// </summary>
public sealed record BatchSummaryResponse(Guid BatchId, Guid ProjectId, int Total, IReadOnlyDictionary<string, int> Counts, DateTime CreatedAt);

/// <summary>The query string of GET /batches, taken as text so every malformed value is named.</summary>
public sealed record ListBatchesQuery : IListQuery
{
    [FromQuery(Name = "project_id")] public string? ProjectId { get; init; }
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>
/// GET /batches?project_id=: the batches of a project the caller may read, newest first (batch ids are UUIDv7, so their
/// order is their creation order), each with its counts by status. Only admins may leave out <c>project_id</c> and list
/// every project's batches. There is no batch table: a batch is the tasks that share a <c>batch_id</c>.
/// </summary>
public static class ListBatches
{
    // One row per batch of the page: DISTINCT over tasks_project_batch_idx (index-only, in batch order within the project)
    // or, for an admin's list of every project, over tasks_batch_idx. The caller's access was settled by the project check.
    private const string BatchIdsSql = "SELECT DISTINCT t.batch_id FROM tasks t";

    private const string InBatches = "t.batch_id IS NOT NULL AND t.deleted_at IS NULL";
    private const string ByProject = "t.project_id = @projectId";

    // The counts of the page's batches, through tasks_batch_idx.
    private const string CountsSql = """
        SELECT t.batch_id, t.project_id, t.status, count(*)::int AS tasks, min(t.created_at) AS created_at
        FROM tasks t
        WHERE t.batch_id = ANY (@batchIds::uuid[]) AND t.deleted_at IS NULL
        GROUP BY t.batch_id, t.project_id, t.status
        """;

    internal sealed record BatchStatusCount(Guid BatchId, Guid ProjectId, string Status, int Tasks, DateTime CreatedAt);

    public static readonly ListDefinition<Guid, BatchSummaryResponse> Definition = new(
        new SortKeys<Guid>("t.batch_id", batchId => batchId).FixedSort("-id"),
        new ResponseFields<BatchSummaryResponse>(AppJsonContext.Default.BatchSummaryResponse));

    public static async Task<Results<ListResult<BatchSummaryResponse>, ProblemHttpResult>> Handle(
        [AsParameters] ListBatchesQuery query, Caller caller, NpgsqlDataSource dataSource, ListPaging paging, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var projectId = QueryParameters.Id(query.ProjectId, "project_id", errors);
        if (query.ProjectId is null && !caller.IsAdmin)
            errors.Add("project_id", "is required (only admins may list the batches of every project)");
        var page = paging.Parse(query, Definition, new CursorBinding("batches").With("project_id", projectId?.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (projectId is { } id)
        {
            // A project the caller may not read is not found, rather than an empty list that confirms it exists.
            if (!await connection.ExecuteScalarAsync<bool>(ProjectAccess.LiveProjectReadableSql,
                    ProjectAccess.Bind(caller, ProjectRoles.Viewer).On(id, cancellationToken)))
                return Problems.NotFound("No such project.");
        }

        List<Guid> batchIds;
        await using (var command = connection.CreateCommand())
        {
            var filtered = new FilteredQuery(command).Where(InBatches);
            if (projectId is { } project)
                filtered.Where(ByProject, "projectId", project);
            batchIds = await filtered.ReadPageAsync(BatchIdsSql, page.Keyset, row => row.Get<Guid>("batch_id"), cancellationToken);
        }

        var counts = batchIds.Count == 0 ? [] : (await connection.QueryAsync<BatchStatusCount>(CountsSql,
            new { batchIds = PgArray.Of(batchIds), cancellationToken })).ToList();
        var summaries = counts.GroupBy(count => count.BatchId).ToDictionary(batch => batch.Key, Summarize);
        // A batch whose last tasks were deleted between the two reads is left out.
        return page.Result(batchIds.Where(summaries.ContainsKey).ToList(), batchId => summaries[batchId]);
    }

    private static BatchSummaryResponse Summarize(IGrouping<Guid, BatchStatusCount> batch)
    {
        var byStatus = batch.ToDictionary(count => count.Status, count => count.Tasks, StringComparer.Ordinal);
        return new BatchSummaryResponse(batch.Key, batch.First().ProjectId, byStatus.Values.Sum(), GetBatch.EveryStatus(byStatus),
            batch.Min(count => count.CreatedAt));
    }
}
