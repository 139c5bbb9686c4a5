using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Workflows;

/// <summary>
/// Who may do what with a workflow, by the project rule every slice applies (<see cref="ProjectAccess"/>): project viewers
/// read it and its versions and runs; editors and owners define, version, run and delete it. A workflow the caller may
/// not read does not exist for them (404).
/// </summary>
internal static class WorkflowAccess
{
    private const string FindSql = WorkflowReads.SelectSql + "\nWHERE w.id = @id AND (w.deleted_at IS NULL OR @includeDeleted)";

    private const string LockSql = FindSql + "\nFOR UPDATE OF w";

    // The caller's membership in a live project; no row when the project does not exist or is deleted.
    private const string MembershipSql = """
        SELECT p.id, m.role
        FROM projects p
        LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = @callerId
        WHERE p.id = @projectId AND p.deleted_at IS NULL
        """;

    internal sealed record Membership(Guid Id, string? Role);

    /// <summary>Null when the caller may define workflows in the project; else 404 (may not read it) or 403.</summary>
    public static async Task<ProblemHttpResult?> CheckProjectAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Caller caller, Guid projectId, CancellationToken cancellationToken)
    {
        var membership = await connection.QuerySingleOrDefaultAsync<Membership>(MembershipSql,
            new { callerId = caller.UserId, projectId, cancellationToken }, transaction);
        if (membership is null || !ProjectAccess.Allows(caller, membership.Role, ProjectRoles.Viewer))
            return Problems.NotFound("No such project.");
        return ProjectAccess.Allows(caller, membership.Role, ProjectRoles.Editor)
            ? null
            : Problems.Forbidden("Defining workflows needs the editor or owner role in the project.");
    }

    /// <summary>
    /// The workflow, when the caller may act on it at <paramref name="required"/> (a project role); else 404 (not readable
    /// by the caller) or 403 (readable, not at that level). <paramref name="forUpdate"/> locks the row for a change.
    /// </summary>
    public static async Task<(WorkflowRow? Row, ProblemHttpResult? Problem)> FindAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Caller caller, Guid id, string required, bool includeDeleted,
        bool forUpdate, CancellationToken cancellationToken)
    {
        // Two calls with constant SQL: Dapper.AOT generates its parameter code per statement text.
        var row = forUpdate
            ? await connection.QuerySingleOrDefaultAsync<WorkflowRow>(LockSql, new { id, includeDeleted, cancellationToken }, transaction)
            : await connection.QuerySingleOrDefaultAsync<WorkflowRow>(FindSql, new { id, includeDeleted, cancellationToken }, transaction);
        if (row is null)
            return (null, Problems.NotFound("No such workflow."));
        var membership = await connection.QuerySingleOrDefaultAsync<Membership>(MembershipSql,
            new { callerId = caller.UserId, projectId = row.ProjectId, cancellationToken }, transaction);
        if (!ProjectAccess.Allows(caller, membership?.Role, ProjectRoles.Viewer))
            return (null, Problems.NotFound("No such workflow."));
        if (!ProjectAccess.Allows(caller, membership?.Role, required))
            return (null, Problems.Forbidden("This needs the editor or owner role in the workflow's project."));
        return (row, null);
    }
}
