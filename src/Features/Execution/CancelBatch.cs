using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>
/// POST /batches/{id}/cancel: every pending, paused or running task of the batch ends cancelled (<c>batch_cancelled</c>),
/// and the cancel propagates to their descendants, inside the batch or not, as upstream_failed.
/// </summary>
public static class CancelBatch
{
    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, IOptions<EngineOptions> options, EngineMetrics metrics,
        CancellationToken cancellationToken)
    {
        Guid? walk = null;
        var outcome = await BatchCommands.RunAsync("cancel", id, Cancellation.AllowedFrom, caller, http, dataSource, async (connection, transaction, ids) =>
        {
            var (cancelled, descendants, rest) = await Cancellation.CancelAsync(connection, transaction, ids, "batch_cancelled", options.Value, cancellationToken);
            walk = rest;
            return [.. cancelled, .. descendants];
        }, cancellationToken);
        foreach (var task in outcome.Cancelled)
            metrics.Finished(task.Kind, TaskRules.Cancelled);
        metrics.Propagated("cancelled", outcome.Cancelled.Count - outcome.Affected);
        await GraphWalks.FinishAsync(dataSource, walk, options.Value, metrics, cancellationToken);
        return outcome.Problem is { } problem ? problem : TypedResults.Ok(outcome.Batch!);
    }
}
