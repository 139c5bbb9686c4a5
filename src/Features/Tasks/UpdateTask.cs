using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Webhooks;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>
/// The body of PATCH /tasks/{id}. The JSON source generator calls a property's setter only when the property is in the
/// body, so each setter records its presence: an absent field stays as it is, <c>null</c> clears a nullable one.
/// <c>status</c>, <c>project_id</c> and <c>depends_on</c> are accepted by the reader only to be refused by name.
/// </summary>
public sealed class UpdateTaskRequest
{
    private readonly HashSet<string> present = new(StringComparer.Ordinal);

    /// <summary>Whether the body carried the property (by its JSON name), whatever its value.</summary>
    public bool Has(string property) => present.Contains(property);

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEmpty => present.Count == 0;

    public string? Title { get; set { field = value; present.Add("title"); } }
    public string? Description { get; set { field = value; present.Add("description"); } }
    public string? Kind { get; set { field = value; present.Add("kind"); } }
    public int? Priority { get; set { field = value; present.Add("priority"); } }
    public JsonElement? Metadata { get; set { field = value; present.Add("metadata"); } }
    public int? TimeoutSeconds { get; set { field = value; present.Add("timeout_seconds"); } }
    public DateTime? ScheduledAt { get; set { field = value; present.Add("scheduled_at"); } }
    public int? MaxRetries { get; set { field = value; present.Add("max_retries"); } }
    public string? ConcurrencyKey { get; set { field = value; present.Add("concurrency_key"); } }
    public string? DedupeKey { get; set { field = value; present.Add("dedupe_key"); } }
    public Guid? AssigneeId { get; set { field = value; present.Add("assignee_id"); } }
    public List<ActionRequest?>? Actions { get; set { field = value; present.Add("actions"); } }

    // Read-only here: named so the 422 can say where they are changed instead of only "unknown property".
    public JsonElement? Status { get; set { field = value; present.Add("status"); } }
    public JsonElement? ProjectId { get; set { field = value; present.Add("project_id"); } }
    public JsonElement? DependsOn { get; set { field = value; present.Add("depends_on"); } }
}

/// <summary>Rules of task edits that TaskRules does not hold because only edits need them.</summary>
internal static class TaskEditRules
{
    /// <summary>A field the column cannot hold null for: present with null is an error, not a reset.</summary>
    public static void NotNull(ValidationErrors errors, string path, bool isNull)
    {
        if (isNull)
            errors.Add(path, "cannot be null");
    }
}

/// <summary>
/// PATCH /tasks/{id}: changes the editable fields of a live task. Project editors only; <c>If-Match</c> is checked in the
/// UPDATE itself, so of two writers holding the same ETag exactly one wins. The audit row records each changed field.
/// </summary>
public static class UpdateTask
{
    private const string AssigneeExistsSql = """
        SELECT EXISTS (SELECT FROM users WHERE id = @assigneeId AND deleted_at IS NULL)
        """;

    /// <summary>One constant statement: each field is replaced only when the body carried it (<c>@setX</c>).</summary>
    private const string UpdateSql = """
        UPDATE tasks SET
            title = CASE WHEN @setTitle THEN @title ELSE title END,
            description = CASE WHEN @setDescription THEN @description ELSE description END,
            kind = CASE WHEN @setKind THEN @kind ELSE kind END,
            priority = CASE WHEN @setPriority THEN @priority ELSE priority END,
            metadata = CASE WHEN @setMetadata THEN @metadata::jsonb ELSE metadata END,
            timeout_seconds = CASE WHEN @setTimeoutSeconds THEN @timeoutSeconds ELSE timeout_seconds END,
            scheduled_at = CASE WHEN @setScheduledAt THEN @scheduledAt ELSE scheduled_at END,
            max_retries = CASE WHEN @setMaxRetries THEN @maxRetries ELSE max_retries END,
            concurrency_key = CASE WHEN @setConcurrencyKey THEN @concurrencyKey ELSE concurrency_key END,
            dedupe_key = CASE WHEN @setDedupeKey THEN @dedupeKey ELSE dedupe_key END,
            assignee_id = CASE WHEN @setAssigneeId THEN @assigneeId ELSE assignee_id END,
            actions = CASE WHEN @setActions THEN @actions::jsonb ELSE actions END
        WHERE id = @id AND deleted_at IS NULL AND (@anyVersion OR version = ANY (@versions::bigint[]))
        """;

    private enum Outcome { Updated, NotFound, ReadOnly, PreconditionFailed, UnknownAssignee, Invalid }

    public static async Task<Results<Ok<TaskResponse>, ProblemHttpResult>> Handle(
        Guid id,
        UpdateTaskRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<TasksOptions> options,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var changes = Validate(request, errors, options.Value.ActionDestinations());
        if (!errors.IsEmpty)
            return errors.ToProblem();
        var versions = ETags.IfMatchVersions(http.Request);

        (Outcome Outcome, TaskRow? Row) result;
        try
        {
            result = await dataSource.InTransactionAsync(async (connection, transaction) =>
            {
                var task = await TaskLookup.LockVisibleAsync(connection, transaction, id, caller, cancellationToken);
                if (task is null || task.Row.DeletedAt is not null)
                    return (Outcome.NotFound, null);
                if (!task.Allows(caller, ProjectRoles.Editor))
                    return (Outcome.ReadOnly, null);
                if (request.Has("assignee_id") && request.AssigneeId is { } assigneeId
                    && !await connection.ExecuteScalarAsync<bool>(AssigneeExistsSql, new { assigneeId, cancellationToken }, transaction))
                    return (Outcome.UnknownAssignee, null);
                var actions = changes.Actions is null ? null : ActionHeaders.KeepRedacted(changes.Actions, task.Row.Actions, "actions", errors);
                if (!errors.IsEmpty)
                    return (Outcome.Invalid, null);

                var updated = await connection.ExecuteAsync(UpdateSql, new
                {
                    id,
                    anyVersion = versions is null,
                    versions = PgArray.Of(versions ?? []),
                    setTitle = request.Has("title"),
                    title = changes.Title,
                    setDescription = request.Has("description"),
                    description = request.Description,
                    setKind = request.Has("kind"),
                    kind = request.Kind,
                    setPriority = request.Has("priority"),
                    priority = request.Priority,
                    setMetadata = request.Has("metadata"),
                    metadata = changes.Metadata,
                    setTimeoutSeconds = request.Has("timeout_seconds"),
                    timeoutSeconds = request.TimeoutSeconds,
                    setScheduledAt = request.Has("scheduled_at"),
                    scheduledAt = changes.ScheduledAt,
                    setMaxRetries = request.Has("max_retries"),
                    maxRetries = request.MaxRetries,
                    setConcurrencyKey = request.Has("concurrency_key"),
                    concurrencyKey = request.ConcurrencyKey,
                    setDedupeKey = request.Has("dedupe_key"),
                    dedupeKey = request.DedupeKey,
                    setAssigneeId = request.Has("assignee_id"),
                    assigneeId = request.AssigneeId,
                    setActions = request.Has("actions"),
                    actions,
                    cancellationToken,
                }, transaction);
                // The row is locked and live, so a miss can only be the version.
                if (updated == 0)
                    return (Outcome.PreconditionFailed, null);

                var after = await TaskLookup.ReadAsync(connection, transaction, id, cancellationToken);
                await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("task.update", "task", id.ToString(),
                    AuditActor.From(http, caller), Diff(task.Row, after)), cancellationToken);
                return (Outcome.Updated, (TaskRow?)after);
            }, cancellationToken);
        }
        catch (PostgresException e) when (PgErrors.IsUniqueViolation(e, "tasks_dedupe_idx"))
        {
            return Problems.Conflict("Another unfinished task in this project already has this dedupe_key.");
        }

        switch (result.Outcome)
        {
            case Outcome.NotFound:
                return TaskProblems.NotFound();
            case Outcome.ReadOnly:
                return TaskProblems.ReadOnly();
            case Outcome.PreconditionFailed:
                return ETags.PreconditionFailed();
            case Outcome.Invalid:
                return errors.ToProblem();
            case Outcome.UnknownAssignee:
                errors.Add("assignee_id", "must be the id of an existing user");
                return errors.ToProblem();
        }
        var row = result.Row!;
        ETags.Set(http, row.Version);
        return TypedResults.Ok(row.ToResponse());
    }

    /// <summary>The values a change stores after normalising (trimmed title, JSON text, UTC time).</summary>
    private sealed record TaskChanges(string? Title, string? Metadata, DateTime? ScheduledAt, string? Actions);

    private static TaskChanges Validate(UpdateTaskRequest request, ValidationErrors errors, DestinationPolicy destinations)
    {
        if (request.IsEmpty)
            errors.Add("body", "must set at least one field");
        if (request.Has("status"))
            errors.Add("status", "is read-only here; use the lifecycle commands (/cancel, /pause, /resume, /retry)");
        if (request.Has("project_id"))
            errors.Add("project_id", "is read-only here; move tasks with PATCH /tasks/bulk and set.project_id");
        if (request.Has("depends_on"))
            errors.Add("depends_on", "cannot be changed after creation");

        string? title = null, metadata = null, actions = null;
        DateTime? scheduledAt = null;
        if (request.Has("title"))
        {
            TaskRules.Title(errors, "title", request.Title);
            title = request.Title?.Trim();
        }
        if (request.Has("description"))
            TaskRules.Description(errors, "description", request.Description);
        if (request.Has("kind"))
        {
            TaskEditRules.NotNull(errors, "kind", request.Kind is null);
            TaskRules.Kind(errors, "kind", request.Kind);
        }
        if (request.Has("priority"))
        {
            TaskEditRules.NotNull(errors, "priority", request.Priority is null);
            TaskRules.Priority(errors, "priority", request.Priority);
        }
        if (request.Has("metadata"))
        {
            if (request.Metadata is not { ValueKind: not JsonValueKind.Null })
                errors.Add("metadata", "cannot be null; send {} to clear it");
            else
                metadata = TaskRules.Metadata(errors, "metadata", request.Metadata);
        }
        if (request.Has("timeout_seconds"))
            TaskRules.TimeoutSeconds(errors, "timeout_seconds", request.TimeoutSeconds);
        if (request.Has("scheduled_at"))
            scheduledAt = TaskRules.Timestamp(errors, "scheduled_at", request.ScheduledAt);
        if (request.Has("max_retries"))
        {
            TaskEditRules.NotNull(errors, "max_retries", request.MaxRetries is null);
            TaskRules.MaxRetriesValue(errors, "max_retries", request.MaxRetries);
        }
        if (request.Has("concurrency_key"))
            TaskRules.Key(errors, "concurrency_key", request.ConcurrencyKey);
        if (request.Has("dedupe_key"))
            TaskRules.Key(errors, "dedupe_key", request.DedupeKey);
        if (request.Has("actions"))
        {
            if (request.Actions is null)
                errors.Add("actions", "cannot be null; send [] to remove every action");
            else
                actions = TaskRules.Actions(errors, "actions", request.Actions, destinations);
        }
        return new TaskChanges(title, metadata, scheduledAt, actions);
    }

    private static JsonObject? Diff(TaskRow before, TaskRow after) => new AuditDiff()
        .Change("title", before.Title, after.Title)
        .Change("description", before.Description, after.Description)
        .Change("kind", before.Kind, after.Kind)
        .Change("priority", before.Priority, after.Priority)
        .Change("metadata", JsonNode.Parse(before.Metadata), JsonNode.Parse(after.Metadata))
        .Change("timeout_seconds", before.TimeoutSeconds, after.TimeoutSeconds)
        .Change("scheduled_at", before.ScheduledAt, after.ScheduledAt)
        .Change("max_retries", before.MaxRetries, after.MaxRetries)
        .Change("concurrency_key", before.ConcurrencyKey, after.ConcurrencyKey)
        .Change("dedupe_key", before.DedupeKey, after.DedupeKey)
        .Change("assignee_id", before.AssigneeId, after.AssigneeId)
        .Change("actions", ActionHeaders.RedactActionsNode(JsonNode.Parse(before.Actions)), ActionHeaders.RedactActionsNode(JsonNode.Parse(after.Actions)),
            changed: !JsonNode.DeepEquals(JsonNode.Parse(before.Actions), JsonNode.Parse(after.Actions)))
        .ToJson();
}
