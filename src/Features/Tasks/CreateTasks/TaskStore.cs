using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Observability;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks.CreateTasks;

/// <summary>
/// The database side of creating tasks, written for speed: one round trip checks every project, parent, assignee and
/// dedupe key of the request; one more inserts every task, every edge (set-based, through unnest) and the audit record. Plain Npgsql with
/// typed array parameters: a hot path, and the arrays are what makes it one statement per table.
/// </summary>
internal static class TaskStore
{
    // The caller's membership in each named project, for ProjectAccess.Allows in C# (deleted projects are not found).
    private const string ProjectsSql = """
        SELECT p.id, m.role
        FROM projects p
        LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = @callerId
        WHERE p.id = ANY (@projectIds) AND p.deleted_at IS NULL
        """;

    // FOR SHARE: a parent cannot finish or be deleted until the new edges are committed, so the engine's completion,
    // which decrements the children it can see, never misses a child created in between.
    private const string ParentsSql = """
        SELECT id, project_id, status, deleted_at IS NOT NULL AS deleted
        FROM tasks
        WHERE id = ANY (@parentIds)
        FOR SHARE
        """;

    private const string AssigneesSql = """
        SELECT id FROM users WHERE id = ANY (@assigneeIds) AND deleted_at IS NULL AND NOT disabled
        """;

    // Through tasks_dedupe_idx: the live, unfinished task holding each (project, key) (live_dedupe_key, migration 27).
    private const string DedupeSql = """
        SELECT t.id, t.project_id, t.dedupe_key, t.status
        FROM unnest(@dedupeProjects::uuid[], @dedupeKeys::text[]) AS k (project_id, dedupe_key)
        JOIN tasks t ON t.project_id = k.project_id AND t.live_dedupe_key = k.dedupe_key
        WHERE t.deleted_at IS NULL AND t.status IN ('pending', 'paused', 'running')
        FOR SHARE OF t
        """;

    // ON CONFLICT on the dedupe index: a concurrent request that inserted the same key first makes this insert return
    // fewer rows, and the whole unit runs again to find that task.
    private const string InsertTasksSql = """
        INSERT INTO tasks (id, project_id, title, description, kind, status, priority, metadata, timeout_seconds, scheduled_at,
                           max_retries, concurrency_key, batch_id, dedupe_key, assignee_id, actions, cancel_reason,
                           pending_parents, created_by, ended_at, traceparent)
        SELECT id, project_id, title, description, kind, status, priority, metadata::jsonb, timeout_seconds, scheduled_at,
               max_retries, concurrency_key, @batchId, dedupe_key, assignee_id, actions::jsonb, cancel_reason,
               pending_parents, @createdBy, CASE WHEN status = 'cancelled' THEN now() END, @traceparent
        FROM unnest(@ids::uuid[], @projectIds::uuid[], @titles::text[], @descriptions::text[], @kinds::text[],
                    @statuses::text[], @priorities::smallint[], @metadata::text[], @timeouts::integer[],
                    @scheduledAts::timestamptz[], @maxRetries::integer[], @concurrencyKeys::text[], @dedupeKeys::text[],
                    @assigneeIds::uuid[], @actions::text[], @cancelReasons::text[], @pendingParents::integer[])
             AS n (id, project_id, title, description, kind, status, priority, metadata, timeout_seconds, scheduled_at,
                   max_retries, concurrency_key, dedupe_key, assignee_id, actions, cancel_reason, pending_parents)
        ON CONFLICT (project_id, live_dedupe_key) WHERE live_dedupe_key IS NOT NULL DO NOTHING
        RETURNING id, created_at, metadata::text, actions::text
        """;

    private const string InsertEdgesSql = """
        INSERT INTO task_dependencies (child_id, parent_id, require)
        SELECT * FROM unnest(@childIds::uuid[], @parentIds::uuid[], @requires::text[])
        """;

    public sealed record ExistingParent(Guid Id, Guid ProjectId, string Status, bool Deleted);

    public sealed record ExistingDuplicate(Guid Id, string Status);

    /// <summary>What the database knows about the request's projects, parents, assignees and dedupe keys.</summary>
    public sealed record Facts(
        Dictionary<Guid, string?> Memberships,
        Dictionary<Guid, ExistingParent> Parents,
        HashSet<Guid> Assignees,
        Dictionary<(Guid ProjectId, string Key), ExistingDuplicate> Duplicates);

    /// <summary>The row values PostgreSQL produced for an inserted task.</summary>
    public sealed record Inserted(DateTime CreatedAt, string Metadata, string Actions);

    public static async Task<Facts> ReadFactsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Caller caller, List<PlannedTask> tasks, CancellationToken cancellationToken)
    {
        var projectIds = tasks.Select(task => task.ProjectId).Distinct().ToArray();
        var parentIds = tasks.SelectMany(task => task.Edges).Where(edge => edge.ExistingParentId is not null)
            .Select(edge => edge.ExistingParentId!.Value).Distinct().ToArray();
        var assigneeIds = tasks.Where(task => task.AssigneeId is not null).Select(task => task.AssigneeId!.Value).Distinct().ToArray();
        var deduped = tasks.Where(task => task.DedupeKey is not null).ToList();

        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(Command(ProjectsSql, Parameter("callerId", caller.UserId), Parameter("projectIds", projectIds)));
        batch.BatchCommands.Add(Command(ParentsSql, Parameter("parentIds", parentIds)));
        batch.BatchCommands.Add(Command(AssigneesSql, Parameter("assigneeIds", assigneeIds)));
        batch.BatchCommands.Add(Command(DedupeSql,
            Parameter("dedupeProjects", deduped.Select(task => task.ProjectId).ToArray()),
            Parameter("dedupeKeys", deduped.Select(task => task.DedupeKey!).ToArray())));

        var facts = new Facts([], [], [], []);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            facts.Memberships[reader.GetGuid(0)] = reader.IsDBNull(1) ? null : reader.GetString(1);
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            facts.Parents[reader.GetGuid(0)] = new ExistingParent(reader.GetGuid(0), reader.GetGuid(1), reader.GetString(2), reader.GetBoolean(3));
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            facts.Assignees.Add(reader.GetGuid(0));
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            facts.Duplicates[(reader.GetGuid(1), reader.GetString(2))] = new ExistingDuplicate(reader.GetGuid(0), reader.GetString(3));
        return facts;
    }

    /// <summary>
    /// Inserts the tasks that are not deduplicated, all their edges and <paramref name="audit"/>; null when a concurrent
    /// create took a dedupe key (the caller rolls all of it back). Each task keeps the current span's traceparent: the
    /// creating request's, or the schedule fire's.
    /// </summary>
    public static async Task<Dictionary<Guid, Inserted>?> InsertAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Caller caller, Guid? batchId, List<PlannedTask> tasks,
        AuditEntry? audit, CancellationToken cancellationToken)
    {
        var created = tasks.Where(task => !task.Deduplicated).ToList();
        var byIndex = tasks.OrderBy(task => task.Index).ToList();
        var edges = created.SelectMany(task => task.Edges.Select(edge => (Child: task.Id, Parent: ParentId(edge, byIndex), edge.Require))).ToList();

        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(Command(InsertTasksSql,
            Parameter("batchId", batchId),
            Parameter("createdBy", caller.UserId),
            Parameter("traceparent", Tracing.CurrentTraceparent),
            Parameter("ids", created.Select(task => task.Id).ToArray()),
            Parameter("projectIds", created.Select(task => task.ProjectId).ToArray()),
            Parameter("titles", created.Select(task => task.Title).ToArray()),
            Parameter("descriptions", created.Select(task => task.Description).ToArray()),
            Parameter("kinds", created.Select(task => task.Kind).ToArray()),
            Parameter("statuses", created.Select(task => task.Status).ToArray()),
            Parameter("priorities", created.Select(task => task.Priority).ToArray()),
            Parameter("metadata", created.Select(task => task.Metadata).ToArray()),
            Parameter("timeouts", created.Select(task => task.TimeoutSeconds).ToArray()),
            Parameter("scheduledAts", created.Select(task => task.ScheduledAt).ToArray()),
            Parameter("maxRetries", created.Select(task => task.MaxRetries).ToArray()),
            Parameter("concurrencyKeys", created.Select(task => task.ConcurrencyKey).ToArray()),
            Parameter("dedupeKeys", created.Select(task => task.DedupeKey).ToArray()),
            Parameter("assigneeIds", created.Select(task => task.AssigneeId).ToArray()),
            Parameter("actions", created.Select(task => task.Actions).ToArray()),
            Parameter("cancelReasons", created.Select(task => task.CancelReason).ToArray()),
            Parameter("pendingParents", created.Select(task => task.PendingParents).ToArray())));
        if (edges.Count > 0)
            batch.BatchCommands.Add(Command(InsertEdgesSql,
                Parameter("childIds", edges.Select(edge => edge.Child).ToArray()),
                Parameter("parentIds", edges.Select(edge => edge.Parent).ToArray()),
                Parameter("requires", edges.Select(edge => edge.Require).ToArray())));
        if (audit is not null)
            batch.BatchCommands.Add(AuditWriter.Command(audit));

        var inserted = new Dictionary<Guid, Inserted>(created.Count);
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
                inserted[reader.GetGuid(0)] = new Inserted(reader.GetFieldValue<DateTime>(1), reader.GetString(2), reader.GetString(3));
        }
        return inserted.Count == created.Count ? inserted : null;
    }

    /// <summary>The parent's id; <paramref name="tasksByIndex"/> holds the request's tasks in request order.</summary>
    public static Guid ParentId(PlannedEdge edge, List<PlannedTask> tasksByIndex) =>
        edge.ExistingParentId ?? tasksByIndex[edge.SiblingIndex!.Value].Id;

    private static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    private static NpgsqlParameter<T> Parameter<T>(string name, T value) => new(name, value);
}
