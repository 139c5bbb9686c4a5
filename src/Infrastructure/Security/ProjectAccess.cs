using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Roles within one project, and what each allows. Global admins act as owners everywhere; global viewers never write,
/// whatever their project role.
/// </summary>
public static class ProjectRoles
{
    public const string Owner = "owner";
    public const string Editor = "editor";
    public const string Viewer = "viewer";

    public static readonly string[] All = [Owner, Editor, Viewer];

    public static int Rank(string? role) => role switch
    {
        Owner => 3,
        Editor => 2,
        Viewer => 1,
        _ => 0,
    };
}

/// <summary>
/// The access rule every slice applies, in C# for decisions and as SQL for queries, so that a caller can never read or
/// change what it may not: a row the caller may not see is filtered out by the query itself, and the API answers 404.
/// </summary>
public static class ProjectAccess
{
    /// <summary>Whether a caller with this membership role (null: not a member) may act at the required level.</summary>
    public static bool Allows(Caller caller, string? membershipRole, string required)
    {
        if (caller.IsAdmin)
            return true;
        if (ProjectRoles.Rank(required) > ProjectRoles.Rank(ProjectRoles.Viewer) && !caller.CanWrite)
            return false;
        return ProjectRoles.Rank(membershipRole) >= ProjectRoles.Rank(required);
    }

    private const string PredicateStart = """
        (@callerIsAdmin OR ((@callerCanWrite OR @requiredRank <= 1) AND EXISTS (
            SELECT FROM project_members m
            WHERE m.project_id =
        """;

    private const string PredicateEnd = """
         AND m.user_id = @callerId
              AND CASE m.role WHEN 'owner' THEN 3 WHEN 'editor' THEN 2 WHEN 'viewer' THEN 1 ELSE 0 END >= @requiredRank)))
        """;

    /// <summary>
    /// SQL predicate, true when the caller may act at <c>@requiredRank</c> on the project row aliased <c>p</c>
    /// (<c>FROM projects p</c>). Constant text: the column is fixed, every value is a parameter (<see cref="Bind"/>).
    /// </summary>
    public const string OnProjectRow = PredicateStart + " p.id" + PredicateEnd;

    /// <summary>The same rule for a task row aliased <c>t</c> (<c>FROM tasks t</c>), through its <c>project_id</c>.</summary>
    public const string OnTaskRow = PredicateStart + " t.project_id" + PredicateEnd;

    /// <summary>Whether the live project <c>@id</c> is one the caller may read (at the rank asked): a list under a project answers 404 otherwise.</summary>
    public const string LiveProjectReadableSql =
        "SELECT EXISTS (SELECT FROM projects p WHERE p.id = @id AND p.deleted_at IS NULL AND " + OnProjectRow + ")";

    /// <summary>Whether the live task <c>@id</c> is one the caller may read (at the rank asked): a list under a task answers 404 otherwise.</summary>
    public const string LiveTaskReadableSql =
        "SELECT EXISTS (SELECT FROM tasks t WHERE t.id = @id AND t.deleted_at IS NULL AND " + OnTaskRow + ")";

    /// <summary>
    /// The caller's access at the <paramref name="required"/> role, bound once: the values of <c>@callerId</c>,
    /// <c>@callerIsAdmin</c>, <c>@callerCanWrite</c> and <c>@requiredRank</c> that <see cref="OnProjectRow"/> and
    /// <see cref="OnTaskRow"/> read.
    /// </summary>
    public static ProjectAccessBinding Bind(Caller caller, string required) =>
        new(caller.UserId, caller.IsAdmin, caller.CanWrite, ProjectRoles.Rank(required));
}

/// <summary>
/// The four parameters of the access predicates (<see cref="ProjectAccess.Bind"/>), handed on whole: to a
/// <see cref="FilteredQuery"/> (<see cref="FilteredQuery.Where(string, ProjectAccessBinding)"/>), to a command's
/// parameters (<see cref="AddTo"/>), or to a Dapper call as <see cref="On"/>'s args. A Dapper call with other values
/// spreads the four members into its anonymous args object (<c>new { id, limit, access.CallerId, …, cancellationToken }</c>):
/// Dapper.AOT reads only the args type's own members, so a record cannot be extended, and Npgsql matches the names
/// <c>CallerId</c>… to <c>@callerId</c>… regardless of case.
/// </summary>
public sealed record ProjectAccessBinding(Guid CallerId, bool CallerIsAdmin, bool CallerCanWrite, int RequiredRank)
{
    /// <summary>Dapper args for a statement whose only other parameter is <c>@id</c> (the row whose access it checks).</summary>
    public ProjectAccessArgs On(Guid id, CancellationToken cancellationToken) =>
        new(id, CallerId, CallerIsAdmin, CallerCanWrite, RequiredRank, cancellationToken);

    /// <summary>Adds the four parameters to a command or batch command built by hand.</summary>
    public void AddTo(NpgsqlParameterCollection parameters)
    {
        parameters.Add(new NpgsqlParameter<Guid>("callerId", CallerId));
        parameters.Add(new NpgsqlParameter<bool>("callerIsAdmin", CallerIsAdmin));
        parameters.Add(new NpgsqlParameter<bool>("callerCanWrite", CallerCanWrite));
        parameters.Add(new NpgsqlParameter<int>("requiredRank", RequiredRank));
    }
}

/// <summary>
/// The args object of a Dapper call checking one row's access (<see cref="ProjectAccessBinding.On"/>). A record rather
/// than an anonymous object so the access travels whole; Dapper.AOT reads its members at compile time, and the names
/// given here are the SQL's parameter names.
/// </summary>
public sealed record ProjectAccessArgs(
    [property: DbValue(Name = "id")] Guid Id,
    [property: DbValue(Name = "callerId")] Guid CallerId,
    [property: DbValue(Name = "callerIsAdmin")] bool CallerIsAdmin,
    [property: DbValue(Name = "callerCanWrite")] bool CallerCanWrite,
    [property: DbValue(Name = "requiredRank")] int RequiredRank,
    CancellationToken CancellationToken);
