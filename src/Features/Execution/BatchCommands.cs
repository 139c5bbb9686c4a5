using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>
/// What the batch commands (<see cref="CancelBatch"/>, <see cref="PauseBatch"/>, <see cref="ResumeBatch"/>,
/// <see cref="RetryBatch"/>) share: in one transaction, every task of the batch locked, the caller's right to edit each,
/// the transition applied to those in a status it applies to, an audit row, and the batch's counts afterwards. 404 when
/// the caller sees no task of the batch, 403 unless it may edit all of them, 409 when no task of the batch is in a status
/// the command applies to.
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

    internal sealed record Member(Guid Id, string Status, string? Role);

    /// <summary><see cref="Affected"/>: the batch's own tasks the command changed; <see cref="Cancelled"/> adds their descendants.</summary>
    internal sealed record Outcome(ProblemHttpResult? Problem, BatchResponse? Batch, List<Lifecycle.EndedTask> Cancelled, int Affected = 0);

    internal delegate Task<List<Lifecycle.EndedTask>> Transition(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] ids);

    internal static Task<Outcome> RunAsync(
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
