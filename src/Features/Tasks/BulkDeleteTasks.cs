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

public sealed record BulkDeleteTasksRequest([property: ApiRequired] List<Guid>? Ids, bool? Cascade);

/// <summary>
/// DELETE /tasks/bulk: soft-deletes up to <see cref="TasksOptions.MaxBulkItems"/> tasks at once (see
/// <see cref="BulkEditTasks"/> for what each id gets); without <c>cascade</c>, a task with a live dependent outside the
/// set is a conflict.
/// </summary>
public static class BulkDeleteTasks
{
    // Answers the instant, which a cascade's walks stamp on the descendants too.
    private const string SoftDeleteSql = """
        WITH deleted AS (
            UPDATE tasks SET deleted_at = now() WHERE id = ANY (@ids::uuid[]) AND deleted_at IS NULL
        )
        SELECT now()
        """;

    public static async Task<Results<Ok<BulkTaskResultsResponse>, ProblemHttpResult>> Handle(
        [FromBody] BulkDeleteTasksRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<TasksOptions> options,
        IOptions<EngineOptions> engineOptions,
        EngineMetrics metrics,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var ids = BulkEditTasks.ValidateIds(request.Ids, options.Value.MaxBulkItems, errors);
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var (results, walks) = await GraphWalks.AfterCascadesAsync<(List<BulkTaskResult> Results, List<Guid> Walks)>(dataSource,
            async (connection, transaction, cascades) =>
        {
            var (statuses, editable) = await BulkEditTasks.ClassifyAsync(connection, transaction, ids, caller, cancellationToken);
            foreach (var projectId in editable.Select(task => task.ProjectId).Distinct().Order())
                await cascades.WaitForProjectAsync(projectId);
            var deleting = editable.Select(task => task.Id).ToHashSet();
            if (request.Cascade != true)
            {
                // A task stays when a live child stays; keeping it may keep its own parents, hence the fixed point.
                var edges = await TaskGraph.LiveChildrenAsync(connection, transaction, [.. deleting], cancellationToken);
                bool changed;
                do
                {
                    changed = false;
                    foreach (var parent in edges.Where(edge => deleting.Contains(edge.ParentId) && !deleting.Contains(edge.ChildId))
                                 .Select(edge => edge.ParentId).Distinct().ToList())
                    {
                        deleting.Remove(parent);
                        var dependents = edges.Where(edge => edge.ParentId == parent).Select(edge => edge.ChildId);
                        statuses[parent] = new BulkTaskResult(parent, BulkEditTasks.Conflict,
                            "live tasks depend on it: " + string.Join(", ", dependents) + "; include them or use cascade");
                        changed = true;
                    }
                }
                while (changed);
            }
            foreach (var id in deleting)
                statuses[id] = new BulkTaskResult(id, BulkEditTasks.Deleted);
            if (deleting.Count == 0)
                return (ids.Select(id => statuses[id]).ToList(), []);

            var deletedAt = await connection.QuerySingleAsync<DateTime>(SoftDeleteSql, new { ids = PgArray.Of(deleting), cancellationToken }, transaction);
            // With cascade, one delete walk per project from the tasks deleted there, all at the same instant (a cascading
            // restore of any of them finds its descendants), sharing the transaction's budget.
            var walking = new List<(GraphWalks.Walk Walk, GraphWalks.Levels Walked)>();
            var budget = engineOptions.Value.GraphWalkBatchSize;
            List<BulkTaskRow> roots = request.Cascade == true ? [.. editable.Where(task => deleting.Contains(task.Id))] : [];
            foreach (var project in roots.GroupBy(task => task.ProjectId).OrderBy(group => group.Key))
            {
                var walk = new GraphWalks.Walk(GraphWalks.Delete, project.Key, deletedAt);
                var walked = await GraphWalks.WalkLevelsAsync(connection, transaction, walk,
                    project.Select(task => new Lifecycle.WalkParent(task.Id, false, Guid.Empty)).OrderBy(parent => parent.Id).ToList(), null,
                    budget, cancellationToken);
                budget -= walked.Locked;
                walking.Add((walk, walked));
            }
            var cascaded = walking.SelectMany(cascade => cascade.Walked.Changed.Select(task => task.Id)).Order().ToList();
            var diff = new JsonObject { ["count"] = deleting.Count + cascaded.Count, ["ids"] = DeleteTask.IdArray(deleting.Order()) };
            if (cascaded.Count > 0)
                // A change, as in a task delete's row and the rows of the batches that continue the walks.
                diff["cascaded_ids"] = new JsonObject { ["from"] = null, ["to"] = DeleteTask.IdArray(cascaded) };
            var auditId = await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("task.bulk_delete", "task", null,
                AuditActor.From(http, caller), diff), cancellationToken);
            var walks = new List<Guid>();
            foreach (var (walk, walked) in walking)
            {
                if (await GraphWalks.StartAsync(connection, transaction, walk with { AuditId = auditId }, walked, engineOptions.Value,
                        cancellationToken) is { } rest)
                    walks.Add(rest);
            }
            return (ids.Select(id => statuses[id]).ToList(), walks);
        }, engineOptions.Value, metrics, cancellationToken);
        foreach (var walk in walks)
            await GraphWalks.FinishAsync(dataSource, walk, engineOptions.Value, metrics, cancellationToken);
        return TypedResults.Ok(new BulkTaskResultsResponse(results));
    }
}
