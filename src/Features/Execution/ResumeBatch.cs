using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>
/// POST /batches/{id}/resume: every paused task of the batch may run again.
/// </summary>
public static class ResumeBatch
{
    private const string ResumeSql = "UPDATE tasks SET status = 'pending' WHERE id = ANY (@ids::uuid[]) AND status = 'paused'";

    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var outcome = await BatchCommands.RunAsync("resume", id, [TaskRules.Paused], caller, http, dataSource, async (connection, transaction, ids) =>
        {
            await connection.ExecuteAsync(ResumeSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction);
            return [];
        }, cancellationToken);
        return outcome.Problem is { } problem ? problem : TypedResults.Ok(outcome.Batch!);
    }
}
