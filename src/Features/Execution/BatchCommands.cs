using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>
/// POST /batches/{id}/cancel|pause|resume|retry: the task commands applied to every task of a batch the command applies to,
/// in one transaction. Cancelling marks them <c>batch_cancelled</c> and propagates to descendants (inside the batch or not)
/// as upstream_failed. Retrying re-runs the batch from the point of failure: its failed and timed-out tasks go back to
/// pending and the descendants their failure cancelled as upstream_failed come back with them, waiting on their parents
/// again; what succeeded stays done, and tasks cancelled for another reason stay cancelled. 404 when the caller sees no task of the batch, 403 unless it may edit all of them, 409 when no task
/// of the batch is in a status the command applies to. Answers the batch's counts afterwards.
/// </summary>
public static class BatchCommands
{
    // Every task of the batch, locked in id order (as completions lock), with the caller's membership in its project.
    private const string LockSql = """
        SELECT t.id, t.status, (SELECT m.role FROM project_members m WHERE m.project_id = t.project_id AND m.user_id = @callerId) AS role
        FROM tasks t
        WHERE t.batch_id = @id AND t.deleted_at IS NULL
          AND
        """ + ProjectAccess.OnTaskRow + """

        ORDER BY t.id
        FOR UPDATE OF t
        """;

    private const string PauseSql = "UPDATE tasks SET status = 'paused' WHERE id = ANY (@ids::uuid[]) AND status = 'pending'";

    private const string ResumeSql = "UPDATE tasks SET status = 'pending' WHERE id = ANY (@ids::uuid[]) AND status = 'paused'";

    internal sealed record Member(Guid Id, string Status, string? Role);

    /// <summary><see cref="Affected"/>: the batch's own tasks the command changed; <see cref="Cancelled"/> adds their descendants.</summary>
    private sealed record Outcome(ProblemHttpResult? Problem, BatchResponse? Batch, List<Lifecycle.EndedTask> Cancelled, int Affected = 0);

    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> Cancel(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, IOptions<EngineOptions> options, EngineMetrics metrics,
        CancellationToken cancellationToken)
    {
        Guid? walk = null;
        var outcome = await RunAsync("cancel", id, Cancellation.AllowedFrom, caller, http, dataSource, async (connection, transaction, ids) =>
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

    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> Pause(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var outcome = await RunAsync("pause", id, [TaskRules.Pending], caller, http, dataSource, async (connection, transaction, ids) =>
        {
            await connection.ExecuteAsync(PauseSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction);
            return [];
        }, cancellationToken);
        return outcome.Problem is { } problem ? problem : TypedResults.Ok(outcome.Batch!);
    }

    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> Resume(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var outcome = await RunAsync("resume", id, [TaskRules.Paused], caller, http, dataSource, async (connection, transaction, ids) =>
        {
            await connection.ExecuteAsync(ResumeSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction);
            return [];
        }, cancellationToken);
        return outcome.Problem is { } problem ? problem : TypedResults.Ok(outcome.Batch!);
    }

    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> Retry(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, IOptions<EngineOptions> options, EngineMetrics metrics,
        CancellationToken cancellationToken)
    {
        var revived = 0;
        Guid? walk = null;
        var outcome = await RunAsync("retry", id, [TaskRules.Failed, TaskRules.TimedOut], caller, http, dataSource, async (connection, transaction, ids) =>
        {
            await connection.ExecuteAsync(RetryTask.ReopenSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction);
            (revived, walk) = await Lifecycle.ReviveAsync(connection, transaction, ids, options.Value, cancellationToken);
            return [];
        }, cancellationToken);
        metrics.Propagated("revived", revived);
        await GraphWalks.FinishAsync(dataSource, walk, options.Value, metrics, cancellationToken);
        return outcome.Problem is { } problem ? problem : TypedResults.Ok(outcome.Batch!);
    }

    private delegate Task<List<Lifecycle.EndedTask>> Transition(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] ids);

    private static Task<Outcome> RunAsync(
        string action, Guid batchId, string[] allowedFrom, Caller caller, HttpContext http, NpgsqlDataSource dataSource,
        Transition transition, CancellationToken cancellationToken) =>
        dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var members = (await connection.QueryAsync<Member>(LockSql,
                ProjectAccess.Bind(caller, ProjectRoles.Viewer).On(batchId, cancellationToken), transaction)).ToList();
            if (members.Count == 0)
                return new Outcome(Problems.NotFound("No such batch."), null, []);
            if (members.Any(member => !ProjectAccess.Allows(caller, member.Role, ProjectRoles.Editor)))
                return new Outcome(Problems.Forbidden($"Only editors and owners of the batch's projects may {action} it."), null, []);
            var ids = members.Where(member => allowedFrom.Contains(member.Status)).Select(member => member.Id).ToArray();
            if (ids.Length == 0)
                return new Outcome(Problems.Conflict(
                    $"No task of the batch can be affected: {action} applies to tasks that are {string.Join(" or ", allowedFrom)}."), null, []);

            var ended = await transition(connection, transaction, ids);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("batch." + action, "batch", batchId.ToString(),
                AuditActor.From(http, caller), new JsonObject { ["tasks"] = ids.Length, ["descendants"] = Math.Max(0, ended.Count - ids.Length) }),
                cancellationToken);
            return new Outcome(null, await GetBatch.ReadAsync(connection, transaction, batchId, caller, cancellationToken), ended, ids.Length);
        }, cancellationToken);
}
