using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Audit;

/// <summary>One change to a task as its readers see it: who did what, and the change; no client address or request id.</summary>
public sealed record TaskAuditEntryResponse(
    Guid Id,
    DateTime OccurredAt,
    Guid? ActorUserId,
    Guid? ActorApiKeyId,
    string Action,
    JsonObject? Diff);

/// <summary>
/// GET /tasks/{id}/audit: the audit trail of one task (its entries with resource <c>task</c> and the task's id), newest
/// first, for anyone who may read the task. The whole audit log stays for admins; this is the part a task's readers may
/// see anyway. Changes made in bulk (one entry naming many tasks) are in the admins' log only.
/// </summary>
public static class ListTaskAudit
{
    private static readonly ListDefinition<ListAuditLog.AuditRow, TaskAuditEntryResponse> Definition = new(
        new SortKeys<ListAuditLog.AuditRow>("id", row => row.Id)
            .Timestamp("occurred_at", "occurred_at", row => row.OccurredAt)
            .FixedSort("-occurred_at"),
        new ResponseFields<TaskAuditEntryResponse>(AppJsonContext.Default.TaskAuditEntryResponse));

    public static async Task<Results<ListResult<TaskAuditEntryResponse>, ProblemHttpResult>> Handle(
        Guid id,
        [AsParameters] PageQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var page = paging.Parse(query, Definition, new CursorBinding("task-audit").With("task_id", id.ToString()), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        var readable = await connection.QuerySingleAsync<bool>(ProjectAccess.LiveTaskReadableSql,
            access.On(id, cancellationToken));
        if (!readable)
            return Problems.NotFound("No such task.");

        var rows = await ListAuditLog.QueryAsync(connection, new AuditLogFilter(ResourceType: "task", ResourceId: id.ToString()),
            page.Keyset, cancellationToken);
        return page.Result(rows, row => new TaskAuditEntryResponse(row.Id, row.OccurredAt, row.ActorUserId, row.ActorApiKeyId, row.Action,
            row.Diff is null ? null : JsonNode.Parse(row.Diff)!.AsObject()));
    }
}
