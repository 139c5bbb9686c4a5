using Dapper;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

/// <summary>A task read for a write, locked, with the caller's role in its project (null: not a member).</summary>
internal sealed record LockedTask(TaskRow Row, string? MembershipRole)
{
    public bool Allows(Caller caller, string required) => ProjectAccess.Allows(caller, MembershipRole, required);
}

/// <summary>
/// The reads every task write starts from. A task the caller may not read does not exist for it (404); one it may read but
/// not change is a 403. Both decisions use <see cref="ProjectAccess"/>: the SQL form filters, the C# form decides.
/// </summary>
internal static class TaskLookup
{
    /// <summary>A task the caller may read, deleted or not, locked against concurrent writes until the transaction ends.</summary>
    private const string LockVisibleSql = TaskReads.SelectSql + """

        WHERE t.id = @id AND
        """ + ProjectAccess.OnTaskRow + """

        FOR UPDATE OF t
        """;

    private const string MembershipSql = """
        SELECT role FROM project_members WHERE project_id = @projectId AND user_id = @userId
        """;

    private const string ByIdSql = TaskReads.SelectSql + """

        WHERE t.id = @id
        """;

    public static async Task<LockedTask?> LockVisibleAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, Caller caller, CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        var row = await connection.QuerySingleOrDefaultAsync<TaskRow>(LockVisibleSql,
            access.On(id, cancellationToken), transaction);
        if (row is null)
            return null;
        return new LockedTask(row, await MembershipAsync(connection, transaction, caller, row.ProjectId, cancellationToken));
    }

    /// <summary>The caller's role in a project; admins act as owners everywhere, so their membership is not looked up.</summary>
    public static async Task<string?> MembershipAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Caller caller, Guid projectId, CancellationToken cancellationToken) =>
        caller.IsAdmin
            ? ProjectRoles.Owner
            : await connection.QuerySingleOrDefaultAsync<string>(MembershipSql,
                new { projectId, userId = caller.UserId, cancellationToken }, transaction);

    /// <summary>The task as the response shows it, read inside the writing transaction after the change.</summary>
    public static Task<TaskRow> ReadAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, CancellationToken cancellationToken) =>
        connection.QuerySingleAsync<TaskRow>(ByIdSql, new { id, cancellationToken }, transaction);
}

/// <summary>Problems specific to task writes.</summary>
internal static class TaskProblems
{
    public static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult NotFound() => Problems.NotFound("No such task.");

    public static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult ReadOnly() =>
        Problems.Forbidden("You may read this task but not change it: that needs the editor role in its project.");

    /// <summary>A 409 that names the tasks in the way in an extension member, so clients need not parse the detail.</summary>
    public static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult ConflictWith(string detail, string member, IEnumerable<Guid> ids) =>
        TypedResults.Problem(new ProblemDetails
        {
            Status = StatusCodes.Status409Conflict,
            Title = "Conflict",
            Detail = detail,
            Extensions = { [member] = ids.Select(id => id.ToString()).ToArray() },
        });
}
