using System.Buffers;
using System.Text;
using System.Text.Json;
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

namespace TaskRunner.Features.Tasks.CreateTasks;

/// <summary>
/// POST /tasks and POST /tasks/bulk: one path for one task or a thousand. Validation reports every error at once; the
/// tasks, their edges and the audit row commit together or not at all. A task whose dedupe key is held by a live,
/// unfinished task of the project is that task (200, <c>Deduplicated: true</c>), decided by a unique index even when two
/// requests race.
/// </summary>
public static class CreateTasks
{
    private const int MaxAttempts = 3;

    private const string ReadExistingSql = TaskReads.SelectSql + "\nWHERE t.id = ANY (@ids::uuid[])";

    public static async Task<Results<Created<TaskResponse>, Ok<TaskResponse>, ProblemHttpResult>> CreateOne(
        CreateTaskRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<TasksOptions> options,
        CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot create tasks.");
        var errors = new ValidationErrors();
        var plan = TaskPlan.Build([request], null, bulk: false, options.Value.ActionDestinations(), errors);
        if (plan is null)
            return errors.ToProblem();

        var outcome = await CreateAsync(dataSource, AuditActor.From(http, caller), caller, plan, batchId: null, alongside: null, cancellationToken);
        if (outcome.Problem is { } problem)
            return problem;
        var task = outcome.Tasks[0];
        ETags.Set(http, task.Deduplicated ? outcome.ExistingVersions[task.Response.Id] : 1);
        if (task.Deduplicated)
        {
            http.Response.Headers["Deduplicated"] = "true";
            return TypedResults.Ok(task.Response);
        }
        return TypedResults.Created($"/api/v1/tasks/{task.Response.Id}", task.Response);
    }

    public static async Task<Results<Created<BulkCreateTasksResponse>, ProblemHttpResult>> CreateMany(
        BulkCreateTasksRequest request,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        IOptions<TasksOptions> options,
        CancellationToken cancellationToken)
    {
        if (!caller.CanWrite)
            return Problems.Forbidden("Viewers cannot create tasks.");
        var errors = new ValidationErrors();
        var max = options.Value.MaxBulkItems;
        if (request.Tasks is not { Length: > 0 } items)
        {
            errors.Add("tasks", "is required and must hold at least one task");
            return errors.ToProblem();
        }
        if (items.Length > max)
        {
            errors.Add("tasks", $"must hold at most {max} tasks (got {items.Length})");
            return errors.ToProblem();
        }
        var plan = TaskPlan.Build(items, request.ProjectId, bulk: true, options.Value.ActionDestinations(), errors);
        if (plan is null)
            return errors.ToProblem();

        var batchId = Ids.New();
        var batch = await CreateBatchAsync(dataSource, AuditActor.From(http, caller), caller, plan, batchId, alongside: null, cancellationToken);
        if (batch.Problem is { } problem)
            return problem;
        http.Response.Headers["X-Batch-ID"] = batchId.ToString();
        return TypedResults.Created($"/api/v1/batches/{batchId}", new BulkCreateTasksResponse(batchId, batch.Tasks, batch.Refs));
    }

    /// <summary>A created batch: its tasks in request order and the id each ref became; or the problem that stopped it.</summary>
    internal sealed record CreatedBatch(ProblemHttpResult? Problem, IReadOnlyList<TaskResponse> Tasks, IReadOnlyDictionary<string, Guid> Refs);

    /// <summary>
    /// Creates planned tasks as one batch, all or none, exactly as POST /tasks/bulk does. <paramref name="alongside"/> runs in
    /// the same transaction once the tasks are in: the rows of whatever made the batch (a workflow run) commit with it.
    /// </summary>
    internal static async Task<CreatedBatch> CreateBatchAsync(
        NpgsqlDataSource dataSource, AuditActor actor, Caller caller, List<PlannedTask> plan, Guid batchId,
        Func<NpgsqlConnection, NpgsqlTransaction, Task>? alongside, CancellationToken cancellationToken) =>
        Batch(await CreateAsync(dataSource, actor, caller, plan, batchId, alongside, cancellationToken));

    /// <summary>
    /// <see cref="CreateBatchAsync"/> inside a transaction the caller already holds (the scheduler's). Only for plans without
    /// dedupe keys: a dedupe race would need the whole transaction run again.
    /// </summary>
    internal static async Task<CreatedBatch> CreateBatchInTransactionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, AuditActor actor, Caller caller, List<PlannedTask> plan, Guid batchId,
        CancellationToken cancellationToken)
    {
        if (plan.Any(task => task.DedupeKey is not null))
            throw new ArgumentException("a plan created inside another transaction cannot carry dedupe keys", nameof(plan));
        return Batch(await CreateInTransactionAsync(connection, transaction, actor, caller, plan, batchId, alongside: null, cancellationToken));
    }

    private static CreatedBatch Batch(Outcome outcome) => new(
        outcome.Problem,
        outcome.Tasks.Select(task => task.Response).ToList(),
        outcome.Tasks.Where(task => task.Ref is not null).ToDictionary(task => task.Ref!, task => task.Response.Id, StringComparer.Ordinal));

    private sealed record CreatedTask(string? Ref, bool Deduplicated, TaskResponse Response);

    private sealed record Outcome(ProblemHttpResult? Problem, List<CreatedTask> Tasks, Dictionary<Guid, long> ExistingVersions);

    /// <summary>Thrown inside the transaction when a concurrent create took a dedupe key after we looked: roll back, look again.</summary>
    private sealed class DedupeRaceException : Exception;

    private static async Task<Outcome> CreateAsync(
        NpgsqlDataSource dataSource, AuditActor actor, Caller caller, List<PlannedTask> plan, Guid? batchId,
        Func<NpgsqlConnection, NpgsqlTransaction, Task>? alongside, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await dataSource.InTransactionAsync(
                    (connection, transaction) => CreateInTransactionAsync(connection, transaction, actor, caller, plan, batchId, alongside, cancellationToken),
                    cancellationToken);
            }
            catch (DedupeRaceException) when (attempt < MaxAttempts)
            {
                foreach (var task in plan)
                    task.Deduplicated = false;
            }
        }
    }

    private static async Task<Outcome> CreateInTransactionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, AuditActor actor, Caller caller, List<PlannedTask> plan,
        Guid? batchId, Func<NpgsqlConnection, NpgsqlTransaction, Task>? alongside, CancellationToken cancellationToken)
    {
        var facts = await TaskStore.ReadFactsAsync(connection, transaction, caller, plan, cancellationToken);
        if (Check(caller, plan, facts) is { } problem)
            return new Outcome(problem, [], []);

        foreach (var task in plan)
            if (task.DedupeKey is { } key && facts.Duplicates.TryGetValue((task.ProjectId, key), out var existing))
            {
                task.Deduplicated = true;
                task.Id = existing.Id;
                task.Status = existing.Status;
            }
        DecideStatuses(plan, facts);

        var inserted = await TaskStore.InsertAsync(connection, transaction, caller, batchId, plan, Audit(actor, plan, batchId), cancellationToken)
            ?? throw new DedupeRaceException();
        if (alongside is not null)
            await alongside(connection, transaction);

        var existingRows = new Dictionary<Guid, TaskRow>();
        var deduplicatedIds = plan.Where(task => task.Deduplicated).Select(task => task.Id).ToArray();
        if (deduplicatedIds.Length > 0)
        {
            var rows = await connection.QueryAsync<TaskRow>(ReadExistingSql, new { ids = PgArray.Of(deduplicatedIds), cancellationToken }, transaction);
            existingRows = rows.ToDictionary(row => row.Id);
        }

        var byIndex = plan.OrderBy(task => task.Index).ToList();
        var responses = byIndex.Select(task => task.Deduplicated
            ? new CreatedTask(task.Ref, true, existingRows[task.Id].ToResponse())
            : new CreatedTask(task.Ref, false, Response(task, inserted[task.Id], byIndex, caller, batchId))).ToList();
        return new Outcome(null, responses, existingRows.ToDictionary(pair => pair.Key, pair => pair.Value.Version));
    }

    /// <summary>The audit record of the creation, if it created anything: one for a batch, one for a single new task.</summary>
    private static AuditEntry? Audit(AuditActor actor, List<PlannedTask> plan, Guid? batchId)
    {
        var created = plan.Count(task => !task.Deduplicated);
        if (batchId is { } batch)
            return new AuditEntry("task.bulk_create", "batch", batch.ToString(), actor,
                new AuditDiff().Change("created", null, created).Change("deduplicated", null, plan.Count - created).ToJson());
        return created == 1
            ? new AuditEntry("task.create", "task", plan[0].Id.ToString(), actor,
                new AuditDiff().Change("title", null, plan[0].Title).Change("project_id", null, plan[0].ProjectId.ToString()).ToJson())
            : null;
    }

    /// <summary>The checks that need the database: projects the caller may edit, parents in the same project, real assignees.</summary>
    private static ProblemHttpResult? Check(Caller caller, List<PlannedTask> plan, TaskStore.Facts facts)
    {
        var errors = new ValidationErrors();
        var forbidden = false;
        foreach (var task in plan)
        {
            var projectField = Field(task.Path, "project_id");
            if (!facts.Memberships.TryGetValue(task.ProjectId, out var role) || !ProjectAccess.Allows(caller, role, ProjectRoles.Viewer))
                errors.Add(projectField, "no such project");
            else if (!ProjectAccess.Allows(caller, role, ProjectRoles.Editor))
                forbidden = true;
            if (task.AssigneeId is { } assignee && !facts.Assignees.Contains(assignee))
                errors.Add(Field(task.Path, "assignee_id"), "no such user");
            foreach (var edge in task.Edges)
            {
                if (edge.ExistingParentId is not { } parentId)
                    continue;
                // A parent of another project is reported like a missing one: its existence is not the caller's business.
                if (!facts.Parents.TryGetValue(parentId, out var parent) || parent.ProjectId != task.ProjectId)
                    errors.Add(edge.Path, "no such task in this project");
                else if (parent.Deleted)
                    errors.Add(edge.Path, "is a deleted task");
            }
        }
        if (!errors.IsEmpty)
            return errors.ToProblem();
        return forbidden ? Problems.Forbidden("Creating tasks needs the editor or owner role in the project.") : null;
    }

    /// <summary>
    /// In dependency order: a task waits for each parent not yet finished as its edge requires; one whose success-edge
    /// parent already failed (or was cancelled or timed out) is cancelled at once as upstream_failed — and so, in turn,
    /// are its own success-edge children in the request.
    /// </summary>
    private static void DecideStatuses(List<PlannedTask> plan, TaskStore.Facts facts)
    {
        var byIndex = new PlannedTask[plan.Count];
        foreach (var task in plan)
            byIndex[task.Index] = task;
        foreach (var task in plan)
        {
            if (task.Deduplicated)
                continue;
            var pending = 0;
            var upstreamFailed = false;
            foreach (var edge in task.Edges)
            {
                var parentStatus = edge.ExistingParentId is { } id ? facts.Parents[id].Status : byIndex[edge.SiblingIndex!.Value].Status;
                var satisfied = edge.Require == TaskRules.RequireSuccess
                    ? parentStatus == TaskRules.Succeeded
                    : TaskRules.IsTerminal(parentStatus);
                if (!satisfied)
                    pending++;
                if (edge.Require == TaskRules.RequireSuccess && TaskRules.IsFailure(parentStatus))
                    upstreamFailed = true;
            }
            task.PendingParents = pending;
            if (upstreamFailed)
            {
                task.Status = TaskRules.Cancelled;
                task.CancelReason = "upstream_failed";
            }
        }
    }

    private static TaskResponse Response(PlannedTask task, TaskStore.Inserted inserted, List<PlannedTask> byIndex, Caller caller, Guid? batchId) => new(
        task.Id, task.ProjectId, task.Title, task.Description, task.Kind, task.Status, task.Priority, new RawJson(inserted.Metadata),
        task.TimeoutSeconds, task.ScheduledAt, task.MaxRetries, Attempt: 0, task.ConcurrencyKey, batchId, task.DedupeKey,
        task.AssigneeId, DependsOnJson(task, byIndex), new RawJson(ActionHeaders.RedactActions(inserted.Actions)), Output: null, Error: null, task.CancelReason,
        caller.UserId, inserted.CreatedAt, inserted.CreatedAt, StartedAt: null,
        EndedAt: task.Status == TaskRules.Cancelled ? inserted.CreatedAt : null, DeletedAt: null,
        WaitingOn: WaitingOn(task, inserted.CreatedAt));

    /// <summary>
    /// What <see cref="TaskReads.WaitingOnSql"/> would say of the new task, for the conditions known here; a concurrency
    /// key at its limit shows from the next read on.
    /// </summary>
    private static RawJson? WaitingOn(PlannedTask task, DateTime now) => task switch
    {
        { Status: not TaskRules.Pending } => null,
        { PendingParents: > 0 } => new RawJson($$"""{"parents": {{task.PendingParents}}}"""),
        { ScheduledAt: { } at } when at > now => new RawJson(
            $$"""{"scheduled_at": "{{at.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture)}}"}"""),
        _ => null,
    };

    /// <summary>The same shape and order (by parent id) as <see cref="TaskReads.SelectSql"/> produces.</summary>
    private static RawJson DependsOnJson(PlannedTask task, List<PlannedTask> byIndex)
    {
        if (task.Edges.Count == 0)
            return new RawJson("[]");
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var (parent, require) in task.Edges
                .Select(edge => (Parent: TaskStore.ParentId(edge, byIndex), edge.Require))
                .OrderBy(edge => edge.Parent.ToString(), StringComparer.Ordinal))
            {
                writer.WriteStartObject();
                writer.WriteString("require", require);
                writer.WriteString("task_id", parent);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        }
        return new RawJson(Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    private static string Field(string path, string field) => path.Length == 0 ? field : path + "." + field;
}
