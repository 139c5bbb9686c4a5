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

/// <summary>The <c>set</c> of PATCH /tasks/bulk; like <see cref="UpdateTaskRequest"/>, each setter records that the field was sent.</summary>
public sealed class BulkTaskChanges
{
    private readonly HashSet<string> present = new(StringComparer.Ordinal);

    public bool Has(string property) => present.Contains(property);

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEmpty => present.Count == 0;

    public int? Priority { get; set { field = value; present.Add("priority"); } }
    public Guid? AssigneeId { get; set { field = value; present.Add("assignee_id"); } }
    public Guid? ProjectId { get; set { field = value; present.Add("project_id"); } }
    public string? Kind { get; set { field = value; present.Add("kind"); } }
    public string? ConcurrencyKey { get; set { field = value; present.Add("concurrency_key"); } }
    public DateTime? ScheduledAt { get; set { field = value; present.Add("scheduled_at"); } }
    public int? MaxRetries { get; set { field = value; present.Add("max_retries"); } }
    public int? TimeoutSeconds { get; set { field = value; present.Add("timeout_seconds"); } }
}

public sealed record BulkUpdateTasksRequest([property: ApiRequired] List<Guid>? Ids, [property: ApiRequired] BulkTaskChanges? Set);

public sealed record BulkDeleteTasksRequest([property: ApiRequired] List<Guid>? Ids, bool? Cascade);

/// <summary>What happened to one id: updated, deleted, not_found (or not visible), forbidden (read-only) or conflict.</summary>
public sealed record BulkTaskResult(Guid Id, string Status, string? Error = null);

public sealed record BulkTaskResultsResponse(IReadOnlyList<BulkTaskResult> Results);

/// <summary>A requested task the caller may read, with its role in the task's project.</summary>
internal sealed record BulkTaskRow(Guid Id, Guid ProjectId, string? MembershipRole);

/// <summary>
/// PATCH and DELETE /tasks/bulk: up to <see cref="TasksOptions.MaxBulkItems"/> tasks in one transaction, with set-based SQL.
/// Each id is reported: tasks the caller cannot read are <c>not_found</c> (never revealed), tasks it may read but not
/// change are <c>forbidden</c>, tasks a rule keeps as they are are <c>conflict</c>; every other one is changed. One audit
/// row describes the whole request.
/// </summary>
public static class BulkEditTasks
{
    public const string Updated = "updated";
    public const string Deleted = "deleted";
    public const string NotFound = "not_found";
    public const string Forbidden = "forbidden";
    public const string Conflict = "conflict";

    /// <summary>The requested tasks the caller may read, locked in id order (so two bulk requests cannot deadlock).</summary>
    private const string LockVisibleSql = """
        SELECT t.id, t.project_id, m.role AS membership_role
        FROM tasks t
        LEFT JOIN project_members m ON m.project_id = t.project_id AND m.user_id = @callerId
        WHERE t.id = ANY (@ids::uuid[]) AND t.deleted_at IS NULL AND
        """ + ProjectAccess.OnTaskRow + """

        ORDER BY t.id
        FOR UPDATE OF t
        """;

    private const string AssigneeExistsSql = """
        SELECT EXISTS (SELECT FROM users WHERE id = @assigneeId AND deleted_at IS NULL)
        """;

    /// <summary>Tasks with a live edge in either direction: edges never cross projects, so these cannot move.</summary>
    private const string LinkedSql = """
        SELECT d.child_id FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id
        WHERE d.child_id = ANY (@ids::uuid[]) AND p.deleted_at IS NULL
        UNION
        SELECT d.parent_id FROM task_dependencies d JOIN tasks c ON c.id = d.child_id
        WHERE d.parent_id = ANY (@ids::uuid[]) AND c.deleted_at IS NULL
        """;

    /// <summary>Tasks whose dedupe_key an unfinished task of the target project already holds.</summary>
    private const string DedupeClashSql = """
        SELECT t.id FROM tasks t
        WHERE t.id = ANY (@ids::uuid[]) AND t.dedupe_key IS NOT NULL AND t.status IN ('pending', 'paused', 'running')
          AND EXISTS (SELECT FROM tasks o
                      WHERE o.project_id = @projectId AND o.dedupe_key = t.dedupe_key AND o.deleted_at IS NULL
                        AND o.status IN ('pending', 'paused', 'running') AND o.id <> ALL (@ids::uuid[]))
        """;

    private const string UpdateSql = """
        UPDATE tasks SET
            priority = CASE WHEN @setPriority THEN @priority ELSE priority END,
            assignee_id = CASE WHEN @setAssigneeId THEN @assigneeId ELSE assignee_id END,
            project_id = CASE WHEN @setProjectId THEN @projectId ELSE project_id END,
            kind = CASE WHEN @setKind THEN @kind ELSE kind END,
            concurrency_key = CASE WHEN @setConcurrencyKey THEN @concurrencyKey ELSE concurrency_key END,
            scheduled_at = CASE WHEN @setScheduledAt THEN @scheduledAt ELSE scheduled_at END,
            max_retries = CASE WHEN @setMaxRetries THEN @maxRetries ELSE max_retries END,
            timeout_seconds = CASE WHEN @setTimeoutSeconds THEN @timeoutSeconds ELSE timeout_seconds END
        WHERE id = ANY (@ids::uuid[])
        """;

    // Answers the instant, which a cascade's walks stamp on the descendants too.
    private const string SoftDeleteSql = """
        WITH deleted AS (
            UPDATE tasks SET deleted_at = now() WHERE id = ANY (@ids::uuid[]) AND deleted_at IS NULL
        )
        SELECT now()
        """;

    public static async Task<Results<Ok<BulkTaskResultsResponse>, ProblemHttpResult>> Update(
        BulkUpdateTasksRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<TasksOptions> options,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var ids = ValidateIds(request.Ids, options.Value.MaxBulkItems, errors);
        var set = request.Set;
        DateTime? scheduledAt = null;
        if (set is null || set.IsEmpty)
            errors.Add("set", "must set at least one field");
        else
        {
            if (set.Has("priority"))
            {
                TaskEditRules.NotNull(errors, "set.priority", set.Priority is null);
                TaskRules.Priority(errors, "set.priority", set.Priority);
            }
            if (set.Has("project_id"))
                TaskEditRules.NotNull(errors, "set.project_id", set.ProjectId is null);
            if (set.Has("kind"))
            {
                TaskEditRules.NotNull(errors, "set.kind", set.Kind is null);
                TaskRules.Kind(errors, "set.kind", set.Kind);
            }
            if (set.Has("concurrency_key"))
                TaskRules.Key(errors, "set.concurrency_key", set.ConcurrencyKey);
            if (set.Has("scheduled_at"))
                scheduledAt = TaskRules.Timestamp(errors, "set.scheduled_at", set.ScheduledAt);
            if (set.Has("max_retries"))
            {
                TaskEditRules.NotNull(errors, "set.max_retries", set.MaxRetries is null);
                TaskRules.MaxRetriesValue(errors, "set.max_retries", set.MaxRetries);
            }
            if (set.Has("timeout_seconds"))
                TaskRules.TimeoutSeconds(errors, "set.timeout_seconds", set.TimeoutSeconds);
        }
        if (!errors.IsEmpty)
            return errors.ToProblem();
        var changes = set!;

        try
        {
            var results = await dataSource.InTransactionAsync(async (connection, transaction) =>
            {
                if (changes.Has("assignee_id") && changes.AssigneeId is { } assigneeId
                    && !await connection.ExecuteScalarAsync<bool>(AssigneeExistsSql, new { assigneeId, cancellationToken }, transaction))
                    errors.Add("set.assignee_id", "must be the id of an existing user");
                if (changes.ProjectId is { } projectId && changes.Has("project_id"))
                {
                    // Readable at the editor's rank: a live project the caller may edit.
                    if (!await connection.ExecuteScalarAsync<bool>(ProjectAccess.LiveProjectReadableSql,
                            ProjectAccess.Bind(caller, ProjectRoles.Editor).On(projectId, cancellationToken), transaction))
                        errors.Add("set.project_id", "must be a project you may edit");
                }
                if (!errors.IsEmpty)
                    return null;

                var (statuses, editable) = await ClassifyAsync(connection, transaction, ids, caller, cancellationToken);
                if (changes.ProjectId is { } target && changes.Has("project_id") && editable.Count > 0)
                {
                    var moving = editable.Where(task => task.ProjectId != target).Select(task => task.Id).ToArray();
                    var linked = await connection.QueryAsync<Guid>(LinkedSql, new { ids = PgArray.Of(moving), cancellationToken }, transaction);
                    foreach (var id in linked)
                        statuses[id] = new BulkTaskResult(id, Conflict, "has live dependencies; edges cannot cross projects");
                    var clashing = await connection.QueryAsync<Guid>(DedupeClashSql,
                        new { ids = PgArray.Of(moving), projectId = target, cancellationToken }, transaction);
                    foreach (var id in clashing)
                        statuses[id] = new BulkTaskResult(id, Conflict, "an unfinished task of the target project holds its dedupe_key");
                }
                var updating = editable.Select(task => task.Id).Where(id => statuses[id].Status == Updated).ToArray();
                if (updating.Length > 0)
                {
                    await connection.ExecuteAsync(UpdateSql, new
                    {
                        ids = PgArray.Of(updating),
                        setPriority = changes.Has("priority"),
                        priority = changes.Priority,
                        setAssigneeId = changes.Has("assignee_id"),
                        assigneeId = changes.AssigneeId,
                        setProjectId = changes.Has("project_id"),
                        projectId = changes.ProjectId,
                        setKind = changes.Has("kind"),
                        kind = changes.Kind,
                        setConcurrencyKey = changes.Has("concurrency_key"),
                        concurrencyKey = changes.ConcurrencyKey,
                        setScheduledAt = changes.Has("scheduled_at"),
                        scheduledAt,
                        setMaxRetries = changes.Has("max_retries"),
                        maxRetries = changes.MaxRetries,
                        setTimeoutSeconds = changes.Has("timeout_seconds"),
                        timeoutSeconds = changes.TimeoutSeconds,
                        cancellationToken,
                    }, transaction);
                    await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("task.bulk_update", "task", null,
                        AuditActor.From(http, caller), new JsonObject
                        {
                            ["count"] = updating.Length,
                            ["ids"] = DeleteTask.IdArray(updating),
                            ["set"] = SetJson(changes, scheduledAt),
                        }), cancellationToken);
                }
                return ids.Select(id => statuses[id]).ToList();
            }, cancellationToken);
            return results is null ? errors.ToProblem() : TypedResults.Ok(new BulkTaskResultsResponse(results));
        }
        catch (PostgresException e) when (PgErrors.IsUniqueViolation(e, "tasks_dedupe_idx"))
        {
            return Problems.Conflict("Tasks moved together share a dedupe_key; nothing was changed.");
        }
    }

    public static async Task<Results<Ok<BulkTaskResultsResponse>, ProblemHttpResult>> Delete(
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
        var ids = ValidateIds(request.Ids, options.Value.MaxBulkItems, errors);
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var (results, walks) = await GraphWalks.AfterCascadesAsync<(List<BulkTaskResult> Results, List<Guid> Walks)>(dataSource,
            async (connection, transaction, cascades) =>
        {
            var (statuses, editable) = await ClassifyAsync(connection, transaction, ids, caller, cancellationToken);
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
                        statuses[parent] = new BulkTaskResult(parent, Conflict,
                            "live tasks depend on it: " + string.Join(", ", dependents) + "; include them or use cascade");
                        changed = true;
                    }
                }
                while (changed);
            }
            foreach (var id in deleting)
                statuses[id] = new BulkTaskResult(id, Deleted);
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

    /// <summary>The ids of a bulk request: 1 to <paramref name="max"/> of them, none repeated (each repeat named by its index).</summary>
    internal static Guid[] ValidateIds(List<Guid>? ids, int max, ValidationErrors errors)
    {
        if (ids is null || ids.Count == 0 || ids.Count > max)
        {
            errors.Add("ids", $"must list between 1 and {max} task ids");
            return [];
        }
        var seen = new Dictionary<Guid, int>();
        for (var i = 0; i < ids.Count; i++)
        {
            if (!seen.TryAdd(ids[i], i))
                errors.Add($"ids[{i}]", $"repeats ids[{seen[ids[i]]}]");
        }
        return [.. ids];
    }

    /// <summary>
    /// Locks the visible requested tasks and sorts every id: invisible ones <c>not_found</c>, read-only ones
    /// <c>forbidden</c>, the rest provisionally <c>updated</c> and returned as editable.
    /// </summary>
    internal static async Task<(Dictionary<Guid, BulkTaskResult> Statuses, List<BulkTaskRow> Editable)> ClassifyAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] ids, Caller caller, CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        var visible = (await connection.QueryAsync<BulkTaskRow>(LockVisibleSql,
            new { ids = PgArray.Of(ids), access.CallerId, access.CallerIsAdmin, access.CallerCanWrite, access.RequiredRank, cancellationToken }, transaction)).ToList();
        var statuses = ids.ToDictionary(id => id, id => new BulkTaskResult(id, NotFound));
        var editable = new List<BulkTaskRow>();
        foreach (var task in visible)
        {
            if (ProjectAccess.Allows(caller, task.MembershipRole, ProjectRoles.Editor))
            {
                editable.Add(task);
                statuses[task.Id] = new BulkTaskResult(task.Id, Updated);
            }
            else
                statuses[task.Id] = new BulkTaskResult(task.Id, Forbidden, "needs the editor role in the task's project");
        }
        return (statuses, editable);
    }

    private static JsonObject SetJson(BulkTaskChanges set, DateTime? scheduledAt)
    {
        var json = new JsonObject();
        if (set.Has("priority"))
            json["priority"] = set.Priority;
        if (set.Has("assignee_id"))
            json["assignee_id"] = set.AssigneeId;
        if (set.Has("project_id"))
            json["project_id"] = set.ProjectId;
        if (set.Has("kind"))
            json["kind"] = set.Kind;
        if (set.Has("concurrency_key"))
            json["concurrency_key"] = set.ConcurrencyKey;
        if (set.Has("scheduled_at"))
            json["scheduled_at"] = scheduledAt;
        if (set.Has("max_retries"))
            json["max_retries"] = set.MaxRetries;
        if (set.Has("timeout_seconds"))
            json["timeout_seconds"] = set.TimeoutSeconds;
        return json;
    }
}
