using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>
/// POST /batches/{id}/retry: the batch re-runs from the point of failure. Its failed and timed-out tasks go back to
/// pending and the descendants their failure cancelled as upstream_failed come back with them, waiting on their parents
/// again; what succeeded stays done, and tasks cancelled for another reason stay cancelled.
/// </summary>
public static class RetryBatch
{
    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, IOptions<EngineOptions> options, EngineMetrics metrics,
        CancellationToken cancellationToken)
    {
        var revived = 0;
        Guid? walk = null;
        var outcome = await BatchCommands.RunAsync("retry", id, [TaskRules.Failed, TaskRules.TimedOut], caller, http, dataSource, async (connection, transaction, ids) =>
        {
            await connection.ExecuteAsync(RetryTask.ReopenSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction);
            (revived, walk) = await Lifecycle.ReviveAsync(connection, transaction, ids, options.Value, cancellationToken);
            return [];
        }, cancellationToken);
        metrics.Propagated("revived", revived);
        await GraphWalks.FinishAsync(dataSource, walk, options.Value, metrics, cancellationToken);
        return outcome.Problem is { } problem ? problem : TypedResults.Ok(outcome.Batch!);
    }
}
