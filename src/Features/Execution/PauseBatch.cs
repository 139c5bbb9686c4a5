using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>
/// POST /batches/{id}/pause: every pending task of the batch is held back until it is resumed.
/// </summary>
public static class PauseBatch
{
    private const string PauseSql = "UPDATE tasks SET status = 'paused' WHERE id = ANY (@ids::uuid[]) AND status = 'pending'";

    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var outcome = await BatchCommands.RunAsync("pause", id, [TaskRules.Pending], caller, http, dataSource, async (connection, transaction, ids) =>
        {
            await connection.ExecuteAsync(PauseSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction);
            return [];
        }, cancellationToken);
        return outcome.Problem is { } problem ? problem : TypedResults.Ok(outcome.Batch!);
    }
}
