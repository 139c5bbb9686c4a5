using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
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

/// <summary>
/// PATCH /tasks/bulk: the same changes to up to <see cref="TasksOptions.MaxBulkItems"/> tasks at once (see
/// <see cref="BulkEditTasks"/> for what each id gets). Moving tasks to another project needs the editor role there too,
/// and keeps tasks that have live edges or whose dedupe_key the target project already holds where they are (conflict).
/// </summary>
public static class BulkUpdateTasks
{
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

    public static async Task<Results<Ok<BulkTaskResultsResponse>, ProblemHttpResult>> Handle(
        BulkUpdateTasksRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<TasksOptions> options,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var ids = BulkEditTasks.ValidateIds(request.Ids, options.Value.MaxBulkItems, errors);
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

                var (statuses, editable) = await BulkEditTasks.ClassifyAsync(connection, transaction, ids, caller, cancellationToken);
                if (changes.ProjectId is { } target && changes.Has("project_id") && editable.Count > 0)
                {
                    var moving = editable.Where(task => task.ProjectId != target).Select(task => task.Id).ToArray();
                    var linked = await connection.QueryAsync<Guid>(LinkedSql, new { ids = PgArray.Of(moving), cancellationToken }, transaction);
                    foreach (var id in linked)
                        statuses[id] = new BulkTaskResult(id, BulkEditTasks.Conflict, "has live dependencies; edges cannot cross projects");
                    var clashing = await connection.QueryAsync<Guid>(DedupeClashSql,
                        new { ids = PgArray.Of(moving), projectId = target, cancellationToken }, transaction);
                    foreach (var id in clashing)
                        statuses[id] = new BulkTaskResult(id, BulkEditTasks.Conflict, "an unfinished task of the target project holds its dedupe_key");
                }
                var updating = editable.Select(task => task.Id).Where(id => statuses[id].Status == BulkEditTasks.Updated).ToArray();
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
