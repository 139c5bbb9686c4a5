using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>A batch (the tasks one bulk create made): how many of its tasks are in each status, every status listed.</summary>
public sealed record BatchResponse(Guid BatchId, int Total, IReadOnlyDictionary<string, int> Counts);

/// <summary>GET /batches/{id}: counts by status of the batch's live tasks the caller may read (404 when there are none).</summary>
public static class GetBatch
{
    // Through tasks_batch_idx.
    private const string CountsSql = """
        SELECT t.status, count(*)::int AS tasks
        FROM tasks t
        WHERE t.batch_id = @id AND t.deleted_at IS NULL
          AND
        """ + ProjectAccess.OnTaskRow + """

        GROUP BY t.status
        """;

    private static readonly string[] Statuses =
        [TaskRules.Pending, TaskRules.Paused, TaskRules.Running, TaskRules.Succeeded, TaskRules.Failed, TaskRules.Cancelled, TaskRules.TimedOut];

    internal sealed record StatusCount(string Status, int Tasks);

    private static readonly ResponseFields<BatchResponse> Fields = new(AppJsonContext.Default.BatchResponse);

    public static async Task<Results<ResourceResult<BatchResponse>, ProblemHttpResult>> Handle(
        Guid id, [FromQuery(Name = "fields")] string? fields, Caller caller, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var selection = Fields.Parse(fields, errors);
        if (selection is null)
            return errors.ToQueryProblem();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var response = await ReadAsync(connection, null, id, caller, cancellationToken);
        return response is null ? Problems.NotFound("No such batch.") : selection.Ok(response);
    }

    /// <summary>The batch's counts as the caller sees them, or null when it sees none of its tasks.</summary>
    public static async Task<BatchResponse?> ReadAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid batchId, Caller caller, CancellationToken cancellationToken)
    {
        var counts = (await connection.QueryAsync<StatusCount>(CountsSql,
            ProjectAccess.Bind(caller, ProjectRoles.Viewer).On(batchId, cancellationToken), transaction)).ToDictionary(count => count.Status, count => count.Tasks, StringComparer.Ordinal);
        if (counts.Count == 0)
            return null;
        return new BatchResponse(batchId, counts.Values.Sum(), EveryStatus(counts));
    }

    /// <summary>The counts with every status present (0 for the statuses no task is in).</summary>
    internal static IReadOnlyDictionary<string, int> EveryStatus(Dictionary<string, int> counts) =>
        Statuses.ToDictionary(status => status, status => counts.GetValueOrDefault(status), StringComparer.Ordinal);
}
