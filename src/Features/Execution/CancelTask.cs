using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>
/// POST /tasks/{id}/cancel: a pending, paused or running task becomes cancelled (<c>requested</c>); its lease is dropped so
/// the worker's next heartbeat answers <c>"cancelled": true</c>; descendants that required its success are cancelled as
/// upstream_failed while completion-edge children proceed.
/// </summary>
public static class CancelTask
{
    public static async Task<Results<Ok<TaskResponse>, ProblemHttpResult>> Handle(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, IOptions<EngineOptions> options, EngineMetrics metrics,
        CancellationToken cancellationToken) =>
        TaskCommand.Answer(http, await ApplyAsync(id, caller, http, dataSource, options.Value, metrics, cancellationToken));

    internal static async Task<TaskCommand.Result> ApplyAsync(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, EngineOptions options, EngineMetrics metrics,
        CancellationToken cancellationToken)
    {
        List<Lifecycle.EndedTask> ended = [];
        Guid? walk = null;
        var result = await TaskCommand.ApplyAsync("cancel", id, Cancellation.AllowedFrom, caller, http, dataSource,
            async (connection, transaction) =>
            {
                var (cancelled, descendants, rest) = await Cancellation.CancelAsync(connection, transaction, [id], "requested", options, cancellationToken);
                ended = [.. cancelled, .. descendants];
                walk = rest;
                return descendants.Count;
            }, cancellationToken);
        foreach (var task in ended)
            metrics.Finished(task.Kind, TaskRules.Cancelled);
        metrics.Propagated("cancelled", Math.Max(0, ended.Count - 1));
        await GraphWalks.FinishAsync(dataSource, walk, options, metrics, cancellationToken);
        return result;
    }
}
