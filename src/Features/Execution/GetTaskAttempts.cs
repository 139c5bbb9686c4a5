using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Execution;

/// <summary>
/// One attempt at a task. <c>worker</c>: a run of the task itself, <c>number</c> its attempt (1 for the first run),
/// <c>outcome</c> <c>running</c>, <c>succeeded</c>, <c>failed</c>, <c>timed_out</c> or <c>cancelled</c> (the reported
/// outcome even when a retry followed), <c>worker</c> the name its claim gave (<c>push</c> for a pushed task).
/// <c>delivery</c>: one try at sending a webhook of the task's actions, <c>number</c> the delivery's own attempt,
/// <c>outcome</c> <c>delivered</c> (a 2xx answer) or <c>failed</c>, with the <c>node</c> that sent it, the receiver's
/// <c>status_code</c> (null when none came), its <c>delivery_id</c> and <c>trigger</c>. <c>ended_at</c> is null while a
/// worker attempt runs.
/// </summary>
public sealed record TaskAttemptResponse(
    string Kind, int Number, DateTime StartedAt, DateTime? EndedAt, string Outcome, string? Error, string? Worker, string? Node,
    int? StatusCode, Guid? DeliveryId, string? Trigger);

public sealed record TaskAttemptRow(
    Guid Id, string Kind, int Number, DateTime StartedAt, DateTime? EndedAt, string Outcome, string? Error, string? Worker, string? Node,
    int? StatusCode, Guid? DeliveryId, string? Trigger)
{
    public TaskAttemptResponse ToResponse() => new(Kind, Number, StartedAt, EndedAt, Outcome, Error, Worker, Node, StatusCode, DeliveryId, Trigger);
}

/// <summary>
/// GET /tasks/{id}/attempts: every attempt of a live task the caller may read, oldest first, paged. Ended worker attempts
/// are the rows the engine writes when an attempt ends (<c>task_attempts</c>, primary key <c>(task_id, attempt)</c>); the
/// running one is read from the task and its lease; delivery attempts are the webhook delivery log
/// (<c>outbox_task_idx</c>, then <c>delivery_attempts_delivery_idx</c>). Attempts that ended before the attempt record
/// existed (schema 33) are not listed.
/// </summary>
public static class GetTaskAttempts
{
    // The running attempt has no row of its own: the task's id stands in as its tie-breaker (unique within this list).
    private const string SelectSql = """
        SELECT a.id, a.kind, a.number, a.started_at, a.ended_at, a.outcome, a.error, a.worker, a.node, a.status_code, a.delivery_id, a.trigger
        FROM (
            SELECT w.id, 'worker' AS kind, w.attempt AS number, w.started_at, w.ended_at, w.outcome, w.error, w.worker,
                   NULL::text AS node, NULL::integer AS status_code, NULL::uuid AS delivery_id, NULL::text AS trigger
            FROM task_attempts w
            WHERE w.task_id = @taskId
            UNION ALL
            SELECT t.id, 'worker', t.attempt, t.started_at, NULL, 'running', NULL, l.worker, NULL, NULL, NULL, NULL
            FROM tasks t
            LEFT JOIN task_leases l ON l.task_id = t.id
            WHERE t.id = @taskId AND t.status = 'running'
            UNION ALL
            SELECT d.id, 'delivery', d.attempt, d.started_at, d.started_at + make_interval(secs => d.duration_ms / 1000),
                   CASE WHEN d.status_code BETWEEN 200 AND 299 THEN 'delivered' ELSE 'failed' END, d.error, NULL, d.node,
                   d.status_code, o.id, o.trigger
            FROM outbox o
            JOIN delivery_attempts d ON d.delivery_id = o.id
            WHERE o.task_id = @taskId
        ) a
        """;

    private static readonly ListDefinition<TaskAttemptRow, TaskAttemptResponse> Definition = new(
        new SortKeys<TaskAttemptRow>("a.id", row => row.Id)
            .Timestamp("started_at", "a.started_at", row => row.StartedAt)
            .FixedSort("started_at"),
        new ResponseFields<TaskAttemptResponse>(AppJsonContext.Default.TaskAttemptResponse));

    public static async Task<Results<ListResult<TaskAttemptResponse>, ProblemHttpResult>> Handle(
        Guid id,
        [AsParameters] PageQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var page = paging.Parse(query, Definition, new CursorBinding("task-attempts").With("task_id", id.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (!await connection.QuerySingleAsync<bool>(ProjectAccess.LiveTaskReadableSql,
                ProjectAccess.Bind(caller, ProjectRoles.Viewer).On(id, cancellationToken)))
            return Problems.NotFound("No such task.");

        await using var command = connection.CreateCommand();
        var rows = await new FilteredQuery(command).Parameter("taskId", id).ReadPageAsync(SelectSql, page.Keyset, Read, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }

    private static TaskAttemptRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<string>("kind"), row.Get<int>("number"), row.Get<DateTime>("started_at"),
        row.Get<DateTime?>("ended_at"), row.Get<string>("outcome"), row.GetOrNull<string>("error"),
        row.GetOrNull<string>("worker"), row.GetOrNull<string>("node"), row.Get<int?>("status_code"),
        row.Get<Guid?>("delivery_id"), row.GetOrNull<string>("trigger"));
}
