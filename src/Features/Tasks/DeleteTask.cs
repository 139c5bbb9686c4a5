using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Execution;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>
/// DELETE /tasks/{id}: a soft delete by a project editor. Live tasks that depend on it block the delete (409 listing them in
/// <c>dependents</c>) unless <c>cascade=true</c>, which deletes every live descendant with the same <c>deleted_at</c> (so a
/// cascading restore can find them): level after level, in transactions of at most Engine:GraphWalkBatchSize tasks
/// (<see cref="GraphWalks"/>), all done before the answer. <c>permanent=true</c> (admins) removes the rows, comments and
/// edges for good, under the same dependents rule; with <c>cascade=true</c> it walks the same way (a purge walk: each task
/// removed once its children were visited). <c>If-Match</c> is honoured. A delete waits for the delete and restore
/// cascades still walking in the task's project.
/// </summary>
public static class DeleteTask
{
    private const string SoftDeleteSql = """
        UPDATE tasks SET deleted_at = now()
        WHERE id = @id AND deleted_at IS NULL AND (@anyVersion OR version = ANY (@versions::bigint[]))
        RETURNING deleted_at
        """;

    private const string HardDeleteSql = """
        DELETE FROM tasks WHERE id = @id AND (@anyVersion OR version = ANY (@versions::bigint[]))
        """;

    // A permanent delete's cascade stamps the root as a soft delete does (an already deleted root keeps its instant), and
    // walks with the instant of its own transaction.
    private const string PurgeRootSql = """
        UPDATE tasks SET deleted_at = coalesce(deleted_at, now())
        WHERE id = @id AND (@anyVersion OR version = ANY (@versions::bigint[]))
        RETURNING now()
        """;

    private enum Outcome { Deleted, NotFound, ReadOnly, PreconditionFailed, HasDependents }

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        Guid id,
        [FromQuery(Name = "cascade")] bool? cascade,
        [FromQuery(Name = "permanent")] bool? permanent,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<EngineOptions> options,
        EngineMetrics metrics,
        CancellationToken cancellationToken)
    {
        var hard = permanent == true;
        if (hard && !caller.IsAdmin)
            return Problems.Forbidden("Only admins may delete a task permanently.");
        var versions = ETags.IfMatchVersions(http.Request);

        var (outcome, dependents, walk) = await GraphWalks.AfterCascadesAsync(dataSource, async (connection, transaction, cascades) =>
        {
            var task = await TaskLookup.LockVisibleAsync(connection, transaction, id, caller, cancellationToken);
            // A soft-deleted task is gone for a soft delete, but may still be purged for good.
            if (task is null || (task.Row.DeletedAt is not null && !hard))
                return (Outcome.NotFound, (List<Guid>?)null, (Guid?)null);
            if (!task.Allows(caller, ProjectRoles.Editor))
                return (Outcome.ReadOnly, null, null);
            await cascades.WaitForProjectAsync(task.Row.ProjectId);

            if (cascade != true)
            {
                var children = await TaskGraph.LiveChildrenAsync(connection, transaction, [id], cancellationToken);
                if (children.Count > 0)
                    return (Outcome.HasDependents, children.Select(edge => edge.ChildId).ToList(), null);
            }

            var args = new { id, anyVersion = versions is null, versions = PgArray.Of(versions ?? []), cancellationToken };
            var diff = new AuditDiff();
            GraphWalks.Walk? cascading = null;
            if (hard && cascade != true)
            {
                if (await connection.ExecuteAsync(HardDeleteSql, args, transaction) == 0)
                    return (Outcome.PreconditionFailed, null, null);
            }
            else if (hard)
            {
                // Out of every read at once; the walk removes the task when it has visited its children.
                if (await connection.QuerySingleOrDefaultAsync<DateTime?>(PurgeRootSql, args, transaction) is not { } stamp)
                    return (Outcome.PreconditionFailed, null, null);
                cascading = new GraphWalks.Walk(GraphWalks.Purge, task.Row.ProjectId, stamp);
            }
            else
            {
                if (await connection.QuerySingleOrDefaultAsync<DateTime?>(SoftDeleteSql, args, transaction) is not { } deletedAt)
                    return (Outcome.PreconditionFailed, null, null);
                if (cascade == true)
                    cascading = new GraphWalks.Walk(GraphWalks.Delete, task.Row.ProjectId, deletedAt);
                diff.Change("deleted_at", null, deletedAt);
            }
            if (hard)
                diff.Change("permanent", false, true);
            var walked = cascading is null ? null
                : await GraphWalks.WalkLevelsAsync(connection, transaction, cascading, [new Lifecycle.WalkParent(id, false, Guid.Empty)], null,
                    options.Value, cancellationToken);
            if (walked is { Changed.Count: > 0 })
                diff.Change("cascaded_ids", null, IdArray(walked.Changed.Select(descendant => descendant.Id).Order()));
            var auditId = await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("task.delete", "task", id.ToString(),
                AuditActor.From(http, caller), diff.ToJson()), cancellationToken);
            var rest = cascading is null ? null
                : await GraphWalks.StartAsync(connection, transaction, cascading with { AuditId = auditId }, walked!, options.Value, cancellationToken);
            return (Outcome.Deleted, null, rest);
        }, options.Value, metrics, cancellationToken);
        await GraphWalks.FinishAsync(dataSource, walk, options.Value, metrics, cancellationToken);

        return outcome switch
        {
            Outcome.NotFound => TaskProblems.NotFound(),
            Outcome.ReadOnly => TaskProblems.ReadOnly(),
            Outcome.PreconditionFailed => ETags.PreconditionFailed(),
            Outcome.HasDependents => TaskProblems.ConflictWith(
                $"{dependents!.Count} live task(s) depend on this task (listed in dependents): delete them first, or repeat with cascade=true.",
                "dependents", dependents),
            _ => TypedResults.NoContent(),
        };
    }

    internal static JsonArray IdArray(IEnumerable<Guid> ids) => [.. ids.Select(id => (JsonNode)JsonValue.Create(id.ToString()))];
}
