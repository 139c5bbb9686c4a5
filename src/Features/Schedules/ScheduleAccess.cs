using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Schedules;

/// <summary>
/// Who may do what with a schedule, by the project rule every slice applies (<see cref="ProjectAccess"/>): project viewers
/// read it, editors and owners create and change it; a schedule the caller may not read does not exist for them (404).
/// </summary>
internal static class ScheduleAccess
{
    private const string LockSql = ScheduleReads.SelectSql + "\nWHERE s.id = @id\nFOR UPDATE OF s";

    // The caller's membership in a live project; no row when the project does not exist or is deleted.
    private const string MembershipSql = """
        SELECT p.id, m.role
        FROM projects p
        LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = @callerId
        WHERE p.id = @projectId AND p.deleted_at IS NULL
        """;

    private const string AssigneeSql = """
        SELECT EXISTS (SELECT FROM users WHERE id = @assigneeId AND deleted_at IS NULL AND NOT disabled)
        """;

    public sealed record Membership(Guid Id, string? Role);

    /// <summary>Null when the caller may create schedules in the project; else the problem (422 for an unknown project, 403).</summary>
    public static async Task<ProblemHttpResult?> CheckCreateAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Caller caller, Guid projectId, CancellationToken cancellationToken)
    {
        var membership = await connection.QuerySingleOrDefaultAsync<Membership>(MembershipSql,
            new { callerId = caller.UserId, projectId, cancellationToken }, transaction);
        if (membership is null || !ProjectAccess.Allows(caller, membership.Role, ProjectRoles.Viewer))
        {
            var errors = new ValidationErrors();
            errors.Add("project_id", "no such project");
            return errors.ToProblem();
        }
        return ProjectAccess.Allows(caller, membership.Role, ProjectRoles.Editor)
            ? null
            : Problems.Forbidden("Creating schedules needs the editor or owner role in the project.");
    }

    /// <summary>The schedule, locked for a change by the caller; or 404 (not readable by the caller) or 403 (readable, not editable).</summary>
    public static async Task<(ScheduleRow? Row, ProblemHttpResult? Problem)> LockForChangeAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Caller caller, Guid id, CancellationToken cancellationToken)
    {
        var row = await connection.QuerySingleOrDefaultAsync<ScheduleRow>(LockSql, new { id, cancellationToken }, transaction);
        if (row is null)
            return (null, Problems.NotFound("No such schedule."));
        var membership = await connection.QuerySingleOrDefaultAsync<Membership>(MembershipSql,
            new { callerId = caller.UserId, projectId = row.ProjectId, cancellationToken }, transaction);
        if (!ProjectAccess.Allows(caller, membership?.Role, ProjectRoles.Viewer))
            return (null, Problems.NotFound("No such schedule."));
        if (!ProjectAccess.Allows(caller, membership?.Role, ProjectRoles.Editor))
            return (null, Problems.Forbidden("Changing schedules needs the editor or owner role in the project."));
        return (row, null);
    }

    /// <summary>A template's assignee must be an active user, checked when the schedule is saved (at <c>task.assignee_id</c>).</summary>
    public static async Task CheckAssigneeAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid? assigneeId, ValidationErrors errors, CancellationToken cancellationToken)
    {
        if (assigneeId is not null && !await connection.ExecuteScalarAsync<bool>(AssigneeSql, new { assigneeId, cancellationToken }, transaction))
            errors.Add("task.assignee_id", "no such user");
    }
}
