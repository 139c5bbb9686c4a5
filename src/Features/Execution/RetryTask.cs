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
/// POST /tasks/{id}/retry: a failed, timed-out or cancelled task goes back to pending for one more attempt (its attempt
/// count is kept, so automatic retries do not start over), and the descendants its failure had cancelled as
/// upstream_failed come back with it, transitively, their unfinished parents recounted; more than
/// Engine:GraphWalkBatchSize of them in a graph walk that the request finishes before it answers.
/// </summary>
public static class RetryTask
{
    /// <summary>Also reopens a batch's failures (POST /batches/{id}/retry).</summary>
    internal const string ReopenSql = """
        UPDATE tasks
        SET status = 'pending', cancel_reason = NULL, ended_at = NULL, output = NULL, error = NULL, scheduled_at = NULL
        WHERE id = ANY (@ids::uuid[])
        """;

    private static readonly string[] AllowedFrom = [TaskRules.Failed, TaskRules.TimedOut, TaskRules.Cancelled];

    public static async Task<Results<Ok<TaskResponse>, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, IOptions<EngineOptions> options, EngineMetrics metrics,
        CancellationToken cancellationToken) =>
        TaskCommand.Answer(http, await ApplyAsync(id, caller, http, dataSource, options.Value, metrics, cancellationToken));

    internal static async Task<TaskCommand.Result> ApplyAsync(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, EngineOptions options, EngineMetrics metrics,
        CancellationToken cancellationToken)
    {
        var revived = 0;
        Guid? walk = null;
        var result = await TaskCommand.ApplyAsync("retry", id, AllowedFrom, caller, http, dataSource,
            async (connection, transaction) =>
            {
                await connection.ExecuteAsync(ReopenSql, new { ids = PgArray.Of([id]), cancellationToken }, transaction);
                (revived, walk) = await Lifecycle.ReviveAsync(connection, transaction, [id], options, cancellationToken);
                return revived;
            }, cancellationToken);
        metrics.Propagated("revived", revived);
        await GraphWalks.FinishAsync(dataSource, walk, options, metrics, cancellationToken);
        return result;
    }
}
