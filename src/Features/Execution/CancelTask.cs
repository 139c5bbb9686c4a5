using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Tasks;
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
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, EngineMetrics metrics, CancellationToken cancellationToken)
    {
        List<Lifecycle.EndedTask> ended = [];
        var result = await TaskCommand.RunAsync("cancel", id, Cancellation.AllowedFrom, caller, http, dataSource,
            async (connection, transaction) =>
            {
                var (cancelled, descendants) = await Cancellation.CancelAsync(connection, transaction, [id], "requested", cancellationToken);
                ended = [.. cancelled, .. descendants];
                return descendants.Count;
            }, cancellationToken);
        foreach (var task in ended)
            metrics.Finished(task.Kind, TaskRules.Cancelled);
        metrics.Propagated("cancelled", Math.Max(0, ended.Count - 1));
        return result;
    }
}
