using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// A webhook delivery: <c>pending</c> (waiting for its first try or a retry at <c>next_attempt_at</c>), <c>delivering</c>
/// (a node is sending it), <c>delivered</c>, or <c>dead</c> (its last attempt failed, the receiver answered 410, or the
/// destination was refused). <c>url</c> and <c>method</c> are what it is sent to (for a template, as the template was
/// when the delivery was written). A <c>follow_up</c> delivery names the delivery whose answer matched it in
/// <c>follow_up_of</c>.
/// </summary>
public sealed record DeliveryResponse(
    Guid Id, Guid TaskId, Guid ProjectId, string Trigger, string? Url, string? Method, Guid? TemplateId, string Status, int Attempts,
    DateTime NextAttemptAt, int? LastStatusCode, string? LastError, DateTime CreatedAt, DateTime UpdatedAt, DateTime? DeliveredAt,
    Guid? FollowUpOf);

/// <summary>One attempt: the receiver's status code (null when none came), how long it took, the error, ≤ 1 KiB of the answer.</summary>
public sealed record DeliveryAttemptResponse(
    int Attempt, string Node, DateTime StartedAt, double DurationMs, int? StatusCode, string? Error, string? ResponseExcerpt);

/// <summary>A delivery with every attempt, oldest first.</summary>
public sealed record DeliveryDetailResponse(DeliveryResponse Delivery, IReadOnlyList<DeliveryAttemptResponse> Attempts);

public sealed record DeliveryRow(
    Guid Id, Guid TaskId, Guid ProjectId, string Trigger, string? Url, string? Method, Guid? TemplateId, string Status, int Attempts,
    DateTime NextAttemptAt, int? LastStatusCode, string? LastError, DateTime CreatedAt, DateTime UpdatedAt, DateTime? DeliveredAt,
    Guid? FollowUpOf)
{
    public DeliveryResponse ToResponse() => new(Id, TaskId, ProjectId, Trigger, Url, Method, TemplateId, Status, Attempts, NextAttemptAt,
        LastStatusCode, LastError, CreatedAt, UpdatedAt, DeliveredAt, FollowUpOf);
}

/// <summary>The query string of GET /deliveries and GET /tasks/{id}/deliveries, taken as text so each bad value is named.</summary>
public sealed record ListDeliveriesQuery : IListQuery
{
    [FromQuery(Name = "status")] public string? Status { get; init; }
    [FromQuery(Name = "task_id")] public string? TaskId { get; init; }
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>
/// GET /deliveries (dead letters with <c>status=dead</c>), GET /tasks/{id}/deliveries, GET /deliveries/{id} and
/// POST /deliveries/{id}/redeliver. Only deliveries of live tasks the caller may read exist for it; redelivering needs
/// the editor role in the task's project.
/// </summary>
public static class Deliveries
{
    public static readonly string[] Statuses = ["pending", "delivering", "delivered", "dead"];

    private const string SelectSql = """
        SELECT o.id, o.task_id, t.project_id, o.trigger, o.action->>'url' AS url, o.action->>'method' AS method, o.template_id,
               o.status, o.attempts, o.next_attempt_at, o.last_status_code, o.last_error, o.created_at, o.updated_at, o.delivered_at,
               o.follow_up_of
        FROM outbox o
        JOIN tasks t ON t.id = o.task_id AND t.deleted_at IS NULL
        """;

    private const string ByStatus = "o.status = @status";
    private const string ByTask = "o.task_id = @taskId";

    public static readonly ListDefinition<DeliveryRow, DeliveryResponse> Definition = new(
        new SortKeys<DeliveryRow>("o.id", row => row.Id)
            .Timestamp("created_at", "o.created_at", row => row.CreatedAt)
            .DefaultSort("-created_at"),
        new ResponseFields<DeliveryResponse>(AppJsonContext.Default.DeliveryResponse));

    private const string OneSql = SelectSql + "\nWHERE o.id = @id AND " + ProjectAccess.OnTaskRow;

    private const string AttemptsSql = """
        SELECT attempt, node, started_at, duration_ms, status_code, error, response_excerpt
        FROM delivery_attempts WHERE delivery_id = @id ORDER BY started_at, id
        """;

    public static Task<Results<ListResult<DeliveryResponse>, ProblemHttpResult>> List(
        [AsParameters] ListDeliveriesQuery query, Caller caller, NpgsqlDataSource dataSource, ListPaging paging, CancellationToken cancellationToken) =>
        ListAsync(query, null, caller, dataSource, paging, cancellationToken);

    public static async Task<Results<ListResult<DeliveryResponse>, ProblemHttpResult>> ListOfTask(
        Guid id, [AsParameters] ListDeliveriesQuery query, Caller caller, NpgsqlDataSource dataSource, ListPaging paging, CancellationToken cancellationToken)
    {
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            if (!await connection.ExecuteScalarAsync<bool>(ProjectAccess.LiveTaskReadableSql,
                    ProjectAccess.Bind(caller, ProjectRoles.Viewer).On(id, cancellationToken)))
                return Problems.NotFound("No such task.");
        }
        return await ListAsync(query, id, caller, dataSource, paging, cancellationToken);
    }

    private static async Task<Results<ListResult<DeliveryResponse>, ProblemHttpResult>> ListAsync(
        ListDeliveriesQuery query, Guid? ofTask, Caller caller, NpgsqlDataSource dataSource, ListPaging paging, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (query.Status is { } status && !Statuses.Contains(status))
            errors.Add("status", "must be one of " + string.Join(", ", Statuses));
        var taskId = ofTask ?? QueryParameters.Id(query.TaskId, "task_id", errors);
        var page = paging.Parse(query, Definition,
            new CursorBinding("deliveries").With("status", query.Status).With("task_id", taskId?.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var filtered = new FilteredQuery(command).Where(ProjectAccess.OnTaskRow, ProjectAccess.Bind(caller, ProjectRoles.Viewer));
        if (query.Status is { } wanted)
            filtered.Where(ByStatus, "status", wanted);
        if (taskId is { } task)
            filtered.Where(ByTask, "taskId", task);
        var rows = await filtered.ReadPageAsync(SelectSql, page.Keyset, Read, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }

    private static readonly ResponseFields<DeliveryDetailResponse> DetailFields = new(AppJsonContext.Default.DeliveryDetailResponse);

    public static async Task<Results<ResourceResult<DeliveryDetailResponse>, ProblemHttpResult>> Get(
        Guid id, [FromQuery(Name = "fields")] string? fields, Caller caller, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var selection = DetailFields.Parse(fields, errors);
        if (selection is null)
            return errors.ToQueryProblem();
        return await ReadDetailAsync(id, caller, dataSource, cancellationToken) is { } detail
            ? selection.Ok(detail)
            : Problems.NotFound("No such delivery.");
    }

    /// <summary>The delivery with its attempts, or null when the caller may not read it.</summary>
    private static async Task<DeliveryDetailResponse?> ReadDetailAsync(
        Guid id, Caller caller, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<DeliveryRow>(OneSql,
            ProjectAccess.Bind(caller, ProjectRoles.Viewer).On(id, cancellationToken));
        if (row is null)
            return null;
        var attempts = (await connection.QueryAsync<DeliveryAttemptResponse>(AttemptsSql, new { id, cancellationToken })).ToList();
        return new DeliveryDetailResponse(row.ToResponse(), attempts);
    }

    // Sent again from the first step of the schedule. Re-enabling what a 410 retired is part of asking for it again.
    private const string RedeliverSql = """
        WITH delivery AS (
            UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL, last_status_code = NULL,
                              delivered_at = NULL, updated_at = now()
            WHERE id = @id AND status IN ('dead', 'delivered')
            RETURNING id, task_id, template_id, action->>'url' AS url
        ),
        inline AS (
            DELETE FROM disabled_actions d USING delivery x WHERE x.template_id IS NULL AND d.task_id = x.task_id AND d.url = x.url
        ),
        template AS (
            UPDATE action_templates a SET disabled_at = NULL, disabled_reason = NULL, updated_at = now()
            FROM delivery x WHERE a.id = x.template_id AND a.disabled_at IS NOT NULL
        )
        SELECT count(*)::int FROM delivery
        """;

    private const string LockSql = """
        SELECT o.status, t.project_id FROM outbox o JOIN tasks t ON t.id = o.task_id AND t.deleted_at IS NULL
        WHERE o.id = @id AND
        """ + ProjectAccess.OnTaskRow + """

        FOR UPDATE OF o
        """;

    private const string MembershipSql = "SELECT role FROM project_members WHERE project_id = @projectId AND user_id = @userId";

    internal sealed record LockedDelivery(string Status, Guid ProjectId);

    public static async Task<Results<Ok<DeliveryDetailResponse>, ProblemHttpResult>> Redeliver(
        Guid id, Caller caller, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        var problem = await dataSource.InTransactionAsync<ProblemHttpResult?>(async (connection, transaction) =>
        {
            var locked = await connection.QuerySingleOrDefaultAsync<LockedDelivery>(LockSql, access.On(id, cancellationToken), transaction);
            if (locked is null)
                return Problems.NotFound("No such delivery.");
            var role = caller.IsAdmin ? ProjectRoles.Owner
                : await connection.QuerySingleOrDefaultAsync<string>(MembershipSql, new { projectId = locked.ProjectId, userId = caller.UserId, cancellationToken }, transaction);
            if (!ProjectAccess.Allows(caller, role, ProjectRoles.Editor))
                return Problems.Forbidden("Redelivering needs the editor role in the task's project.");
            if (locked.Status is not ("dead" or "delivered"))
                return Problems.Conflict($"The delivery is {locked.Status}: only dead or delivered deliveries can be sent again.");
            await connection.ExecuteScalarAsync<int>(RedeliverSql, new { id, cancellationToken }, transaction);
            return null;
        }, cancellationToken);
        if (problem is not null)
            return problem;
        return await ReadDetailAsync(id, caller, dataSource, cancellationToken) is { } detail
            ? TypedResults.Ok(detail)
            : Problems.NotFound("No such delivery.");
    }

    private static DeliveryRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<Guid>("task_id"), row.Get<Guid>("project_id"), row.Get<string>("trigger"),
        row.GetOrNull<string>("url"), row.GetOrNull<string>("method"), row.Get<Guid?>("template_id"), row.Get<string>("status"),
        row.Get<int>("attempts"), row.Get<DateTime>("next_attempt_at"), row.Get<int?>("last_status_code"),
        row.GetOrNull<string>("last_error"), row.Get<DateTime>("created_at"), row.Get<DateTime>("updated_at"),
        row.Get<DateTime?>("delivered_at"), row.Get<Guid?>("follow_up_of"));
}
