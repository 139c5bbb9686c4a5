using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>
/// The frame every lifecycle command on one task shares (cancel, pause, resume, retry): in one transaction, lock the task,
/// answer 404 when the caller may not see it, 403 when it may not edit it, 409 when the command is illegal from its status;
/// else apply the transition, audit it, and answer the task as it is now. <see cref="ApplyAsync"/> is the transaction, shared
/// by the one-task routes and POST /tasks/bulk/{command} (which runs it per id); <see cref="Answer"/> its HTTP answer.
/// </summary>
internal static class TaskCommand
{
    // The task locked against concurrent commands, completions and claims, and the caller's membership in its project.
    private const string LockSql = """
        SELECT t.status, (SELECT m.role FROM project_members m WHERE m.project_id = t.project_id AND m.user_id = @callerId) AS role
        FROM tasks t
        WHERE t.id = @id AND t.deleted_at IS NULL
          AND
        """ + ProjectAccess.OnTaskRow + """

        FOR UPDATE OF t
        """;

    internal sealed record Target(string Status, string? Role);

    /// <summary>Applies the transition to the locked task; returns how many descendants it propagated to.</summary>
    public delegate Task<int> Transition(NpgsqlConnection connection, NpgsqlTransaction transaction);

    public sealed record Result(ProblemHttpResult? Problem, TaskRow? Task, int Propagated);

    public static Task<Result> ApplyAsync(
        string action, Guid id, string[] allowedFrom, Caller caller, HttpContext http, NpgsqlDataSource dataSource,
        Transition transition, CancellationToken cancellationToken) =>
        dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
            var target = await connection.QuerySingleOrDefaultAsync<Target>(LockSql, access.On(id, cancellationToken), transaction);
            if (target is null)
                return new Result(Problems.NotFound("No such task."), null, 0);
            if (!ProjectAccess.Allows(caller, target.Role, ProjectRoles.Editor))
                return new Result(Problems.Forbidden($"Only editors and owners of the project may {action} its tasks."), null, 0);
            if (!allowedFrom.Contains(target.Status))
                return new Result(Problems.Conflict(
                    $"A {target.Status} task cannot be {Past(action)}; only a task that is {string.Join(" or ", allowedFrom)} can."), null, 0);

            var propagated = await transition(connection, transaction);
            var row = await Lifecycle.ReadAsync(connection, transaction, id, cancellationToken);
            await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("task." + action, "task", id.ToString(),
                AuditActor.From(http, caller), Diff(target.Status, row.Status, propagated)), cancellationToken);
            return new Result(null, row, propagated);
        }, cancellationToken);

    /// <summary>The task with its ETag, or the problem that stopped the command.</summary>
    public static Results<Ok<TaskResponse>, ProblemHttpResult> Answer(HttpContext http, Result result)
    {
        if (result.Problem is { } problem)
            return problem;
        ETags.Set(http, result.Task!.Version);
        return TypedResults.Ok(result.Task.ToResponse());
    }

    private static JsonObject? Diff(string from, string to, int propagated)
    {
        var diff = new AuditDiff().Change("status", from, to).ToJson() ?? [];
        if (propagated > 0)
            diff["descendants"] = propagated;
        return diff;
    }

    private static string Past(string action) => action switch
    {
        "cancel" => "cancelled",
        "retry" => "retried",
        _ => action + "d",
    };
}

/// <summary>Cancelling: shared by a task's and a batch's cancel.</summary>
internal static class Cancellation
{
    public static readonly string[] AllowedFrom = [TaskRules.Pending, TaskRules.Paused, TaskRules.Running];

    /// <summary>
    /// Cancels the tasks and, transitively, the descendants that required their success; returns both, and the walk that
    /// continues after commit when the descendants outgrow one transaction (<see cref="GraphWalks.FinishAsync"/>).
    /// </summary>
    public static async Task<(List<Lifecycle.EndedTask> Cancelled, List<Lifecycle.EndedTask> Descendants, Guid? Walk)> CancelAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] ids, string reason, EngineOptions options, CancellationToken cancellationToken)
    {
        var cancelled = (await connection.QueryAsync<Lifecycle.EndedTask>(CancelStatement.Sql, new { ids = PgArray.Of(ids), reason, cancellationToken }, transaction)).ToList();
        var (descendants, walk) = await Lifecycle.PropagateAsync(connection, transaction, cancelled.Select(task => task.Id).ToArray(), options, cancellationToken);
        return (cancelled, descendants, walk);
    }
}
