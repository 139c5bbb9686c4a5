using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>What happened to one id: updated, deleted, not_found (or not visible), forbidden (read-only) or conflict.</summary>
public sealed record BulkTaskResult(Guid Id, string Status, string? Error = null);

public sealed record BulkTaskResultsResponse(IReadOnlyList<BulkTaskResult> Results);

/// <summary>A requested task the caller may read, with its role in the task's project.</summary>
internal sealed record BulkTaskRow(Guid Id, Guid ProjectId, string? MembershipRole);

/// <summary>
/// What PATCH and DELETE /tasks/bulk (<see cref="BulkUpdateTasks"/>, <see cref="BulkDeleteTasks"/>) share: up to
/// <see cref="TasksOptions.MaxBulkItems"/> tasks in one transaction, with set-based SQL. Each id is reported: tasks the
/// caller cannot read are <c>not_found</c> (never revealed), tasks it may read but not change are <c>forbidden</c>, tasks
/// a rule keeps as they are are <c>conflict</c>; every other one is changed. One audit row describes the whole request.
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

}
