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
/// POST /tasks/{id}/restore: undoes a soft delete (project editors). A task of a deleted project cannot come back alone (409:
/// restore the project, which brings back the tasks deleted with it). A task whose parent is still deleted, or has moved to
/// another project meanwhile, cannot come back either (409 listing them in <c>parents</c>: restore them, or move them back,
/// first): a live dependency never joins two projects. Without <c>cascade=true</c> only this task is restored; with it,
/// also the descendants deleted at the very same instant (by the cascading delete that took it), as far as each one's
/// parents are then live: level after level, in transactions of at most Engine:GraphWalkBatchSize tasks
/// (<see cref="GraphWalks"/>), all done before the answer. A dedupe_key another unfinished task took meanwhile refuses the
/// whole restore (409 listing those tasks in <c>dedupe_holders</c>), checked for every task the cascade reaches before the
/// first level; a task that takes one while the cascade walks wins it: the descendant it clashes with stays deleted, the
/// rest comes back. A restore waits for the cascades still walking in the task's project.
/// </summary>
public static class RestoreTask
{
    private const string RestoreSql = """
        UPDATE tasks SET deleted_at = NULL WHERE id = @id AND deleted_at = @deletedAt
        """;

    // FOR SHARE: the project cannot be deleted while this restore runs (its delete stamps the project's live tasks).
    private const string ProjectDeletedSql = """
        SELECT deleted_at IS NOT NULL FROM projects WHERE id = @projectId FOR SHARE
        """;

    private enum Outcome { Restored, NotFound, ReadOnly, NotDeleted, ProjectDeleted, ParentsBlocking, DedupeKeysTaken }

    public static async Task<Results<Ok<TaskResponse>, ProblemHttpResult>> Handle(
        Guid id,
        [FromQuery(Name = "cascade")] bool? cascade,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<EngineOptions> options,
        EngineMetrics metrics,
        CancellationToken cancellationToken)
    {
        (Outcome Outcome, TaskRow? Row, List<Guid>? Blocking, Guid? Walk) result;
        try
        {
            result = await GraphWalks.AfterCascadesAsync(dataSource, async (connection, transaction, cascades) =>
            {
                var task = await TaskLookup.LockVisibleAsync(connection, transaction, id, caller, cancellationToken);
                if (task is null)
                    return (Outcome.NotFound, null, null, null);
                if (!task.Allows(caller, ProjectRoles.Editor))
                    return (Outcome.ReadOnly, (TaskRow?)null, (List<Guid>?)null, (Guid?)null);
                if (task.Row.DeletedAt is not { } deletedAt)
                    return (Outcome.NotDeleted, null, null, null);
                await cascades.WaitForProjectAsync(task.Row.ProjectId);
                if (await connection.ExecuteScalarAsync<bool>(ProjectDeletedSql, new { projectId = task.Row.ProjectId, cancellationToken }, transaction))
                    return (Outcome.ProjectDeleted, null, null, null);
                var blockingParents = await TaskGraph.BlockingParentsAsync(connection, transaction, [id], cancellationToken);
                if (blockingParents.Count > 0)
                    return (Outcome.ParentsBlocking, null, blockingParents.Select(edge => edge.ParentId).ToList(), null);
                var holders = await TaskGraph.DedupeHoldersAsync(connection, transaction, id, task.Row.ProjectId, deletedAt, cascade == true,
                    cancellationToken);
                if (holders.Count > 0)
                    return (Outcome.DedupeKeysTaken, null, holders, null);

                await connection.ExecuteAsync(RestoreSql, new { id, deletedAt, cancellationToken }, transaction);
                var restoring = new GraphWalks.Walk(GraphWalks.Restore, task.Row.ProjectId, deletedAt);
                var walked = cascade == true
                    ? await GraphWalks.WalkLevelsAsync(connection, transaction, restoring, [new Lifecycle.WalkParent(id, false, Guid.Empty)], null,
                        options.Value, cancellationToken)
                    : null;

                var after = await TaskLookup.ReadAsync(connection, transaction, id, cancellationToken);
                var diff = new AuditDiff().Change("deleted_at", deletedAt, null);
                if (walked is { Changed.Count: > 0 })
                    diff.Change("cascaded_ids", null, DeleteTask.IdArray(walked.Changed.Select(restored => restored.Id).Order()));
                var auditId = await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("task.restore", "task", id.ToString(),
                    AuditActor.From(http, caller), diff.ToJson()), cancellationToken);
                var rest = walked is null ? null
                    : await GraphWalks.StartAsync(connection, transaction, restoring with { AuditId = auditId }, walked, options.Value, cancellationToken);
                return (Outcome.Restored, after, null, rest);
            }, options.Value, metrics, cancellationToken);
        }
        catch (PostgresException e) when (PgErrors.IsUniqueViolation(e, "tasks_dedupe_idx"))
        {
            // A task created at the same moment took one since the check.
            return Problems.Conflict("Another unfinished task in this project took the dedupe_key of a task this restore would bring back; nothing was restored.");
        }

        await GraphWalks.FinishAsync(dataSource, result.Walk, options.Value, metrics, cancellationToken);
        switch (result.Outcome)
        {
            case Outcome.NotFound:
                return TaskProblems.NotFound();
            case Outcome.ReadOnly:
                return TaskProblems.ReadOnly();
            case Outcome.NotDeleted:
                return Problems.Conflict("The task is not deleted.");
            case Outcome.ProjectDeleted:
                return Problems.Conflict("The task's project is deleted: restore the project, which brings back the tasks deleted with it.");
            case Outcome.ParentsBlocking:
                return TaskProblems.ConflictWith(
                    "Tasks this one depends on are deleted or now belong to another project (listed in parents): restore them, or move them back, first.",
                    "parents", result.Blocking!);
            case Outcome.DedupeKeysTaken:
                return TaskProblems.ConflictWith(
                    "Unfinished tasks in this project now hold the dedupe_key of tasks this restore would bring back (listed in dedupe_holders): change or finish them first.",
                    "dedupe_holders", result.Blocking!);
        }
        ETags.Set(http, result.Row!.Version);
        return TypedResults.Ok(result.Row.ToResponse());
    }
}
