using TaskRunner.Features.Webhooks;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Tasks;

/// <summary>A dependency edge as clients see it: the parent and what the child requires of it.</summary>
public sealed record TaskDependencyResponse(Guid TaskId, string Require);

/// <summary>
/// The public shape of a task (API.md, "Tasks"). JSON columns travel as raw text from PostgreSQL to the client; the
/// header values of actions are redacted (<see cref="ActionHeaders"/>).
/// <see cref="WaitingOn"/> says why a pending task does not run yet (<see cref="TaskReads.WaitingOnSql"/>). Not sealed: a
/// claimed task is this shape plus its lease (Execution's ClaimedTaskResponse).
/// </summary>
public record TaskResponse(
    Guid Id,
    Guid ProjectId,
    string Title,
    string? Description,
    string Kind,
    string Status,
    int Priority,
    RawJson Metadata,
    int? TimeoutSeconds,
    DateTime? ScheduledAt,
    int MaxRetries,
    int Attempt,
    string? ConcurrencyKey,
    Guid? BatchId,
    string? DedupeKey,
    Guid? AssigneeId,
    RawJson DependsOn,
    RawJson Actions,
    RawJson? Output,
    string? Error,
    string? CancelReason,
    Guid CreatedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? StartedAt,
    DateTime? EndedAt,
    DateTime? DeletedAt,
    RawJson? WaitingOn = null);

/// <summary>A task as read by <see cref="TaskReads.SelectSql"/>; <see cref="Version"/> is its strong ETag.</summary>
internal sealed record TaskRow(
    Guid Id,
    Guid ProjectId,
    string Title,
    string? Description,
    string Kind,
    string Status,
    short Priority,
    string Metadata,
    int? TimeoutSeconds,
    DateTime? ScheduledAt,
    int MaxRetries,
    int Attempt,
    string? ConcurrencyKey,
    Guid? BatchId,
    string? DedupeKey,
    Guid? AssigneeId,
    string DependsOn,
    string Actions,
    string? Output,
    string? Error,
    string? CancelReason,
    Guid CreatedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? StartedAt,
    DateTime? EndedAt,
    DateTime? DeletedAt,
    long Version,
    string? WaitingOn = null)
{
    public TaskResponse ToResponse() => new(
        Id, ProjectId, Title, Description, Kind, Status, Priority, new RawJson(Metadata), TimeoutSeconds, ScheduledAt,
        MaxRetries, Attempt, ConcurrencyKey, BatchId, DedupeKey, AssigneeId, new RawJson(DependsOn), new RawJson(ActionHeaders.RedactActions(Actions)),
        RawJson.From(Output), Error, CancelReason, CreatedBy, CreatedAt, UpdatedAt, StartedAt, EndedAt, DeletedAt,
        RawJson.From(WaitingOn));
}

/// <summary>The one column list every task read uses, so responses are the same shape wherever they come from.</summary>
internal static class TaskReads
{
    /// <summary>
    /// Every column of <see cref="TaskRow"/> for tasks aliased <c>t</c>; append <c>WHERE …</c>. The parents come from the
    /// child's primary-key range of task_dependencies.
    /// </summary>
    public const string SelectSql = """
        SELECT t.id, t.project_id, t.title, t.description, t.kind, t.status, t.priority, t.metadata::text AS metadata,
               t.timeout_seconds, t.scheduled_at, t.max_retries, t.attempt, t.concurrency_key, t.batch_id, t.dedupe_key,
               t.assignee_id,
               coalesce((SELECT jsonb_agg(jsonb_build_object('task_id', d.parent_id, 'require', d.require) ORDER BY d.parent_id)
                         FROM task_dependencies d WHERE d.child_id = t.id), '[]')::text AS depends_on,
               t.actions::text AS actions, t.output::text AS output, t.error, t.cancel_reason, t.created_by, t.created_at,
               t.updated_at, t.started_at, t.ended_at, t.deleted_at, t.version,
        """ + WaitingOnSql + """
         AS waiting_on
        FROM tasks t
        """;

    /// <summary>
    /// Why a task does not run yet, as JSON text (null when it runs, ended, or may start now): <c>"paused"</c>, or for a
    /// pending task the first unmet condition of readiness — <c>{"parents": n}</c>, <c>{"scheduled_at": "…"}</c>, or
    /// <c>{"concurrency_key": "k", "running": n, "max": m}</c> when the key's rule is at its limit (counted through
    /// task_states_running_key_idx, only for a pending task that is otherwise ready).
    /// </summary>
    public const string WaitingOnSql = """
        CASE t.status
            WHEN 'paused' THEN '"paused"'
            WHEN 'pending' THEN CASE
                WHEN t.pending_parents > 0 THEN jsonb_build_object('parents', t.pending_parents)::text
                WHEN t.scheduled_at > now() THEN jsonb_build_object('scheduled_at',
                    to_char(t.scheduled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
                WHEN t.concurrency_key IS NOT NULL THEN (
                    SELECT jsonb_build_object('concurrency_key', r.concurrency_key, 'running', n.running, 'max', r.max_running)::text
                    FROM concurrency_rules r
                    CROSS JOIN LATERAL (SELECT count(*) AS running FROM task_states x
                                        WHERE x.concurrency_key = r.concurrency_key AND x.status = 'running') n
                    WHERE r.concurrency_key = t.concurrency_key AND n.running >= r.max_running)
            END
        END
        """;
}
