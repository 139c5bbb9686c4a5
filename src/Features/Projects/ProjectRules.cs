using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

/// <summary>A project row locked for a write, with the caller's membership role in it (null: not a member).</summary>
public sealed record LockedProjectRow(
    Guid Id,
    string Name,
    string? Description,
    Guid CreatedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? DeletedAt,
    long Version,
    string? CallerRole)
{
    public ProjectRow ToRow() => new(Id, Name, Description, CreatedBy, CreatedAt, UpdatedAt, DeletedAt, Version);
}

/// <summary>
/// What every project use case shares: the field rules of a project, the query-string flags, and the locked read that
/// starts every write (so that permission, existence and <c>If-Match</c> are decided on the row the write then changes).
/// </summary>
public static class ProjectRules
{
    public const int NameMaxLength = 200;
    public const int DescriptionMaxLength = 10_000;

    /// <summary>
    /// The project if the caller may at least read it (the 404 rule), locked until the transaction ends; every write to a
    /// project or its members takes this lock first, so concurrent writes to one project apply one after the other.
    /// </summary>
    private const string LockSql = """
        SELECT p.id, p.name, p.description, p.created_by, p.created_at, p.updated_at, p.deleted_at, p.version,
               (SELECT m.role FROM project_members m WHERE m.project_id = p.id AND m.user_id = @callerId) AS caller_role
        FROM projects p
        WHERE p.id = @id AND (p.deleted_at IS NULL OR @includeDeleted) AND
        """ + ProjectAccess.OnProjectRow + """

        FOR UPDATE OF p
        """;

    public static Task<LockedProjectRow?> LockAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, Caller caller, bool includeDeleted,
        CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        return connection.QuerySingleOrDefaultAsync<LockedProjectRow>(LockSql,
            new { id, includeDeleted, access.CallerId, access.CallerIsAdmin, access.CallerCanWrite, access.RequiredRank, cancellationToken }, transaction);
    }

    /// <summary>The trimmed name, or null with an error under <c>name</c>.</summary>
    public static string? Name(string? value, ValidationErrors errors)
    {
        var name = value?.Trim();
        return errors.RequireLength("name", name, 1, NameMaxLength) ? name : null;
    }

    /// <summary>The description as sent (null clears it); an error under <c>description</c> when too long or holding NUL.</summary>
    public static void Description(string? value, ValidationErrors errors)
    {
        if (value is null)
            return;
        if (value.Length > DescriptionMaxLength)
            errors.Add("description", $"must be at most {DescriptionMaxLength} characters");
        // PostgreSQL text cannot hold U+0000: refuse it here rather than fail in the database.
        if (value.Contains('\0', StringComparison.Ordinal))
            errors.Add("description", "must not contain NUL characters");
    }

    /// <summary>A boolean query flag: absent is false; <c>true</c>/<c>false</c>; anything else adds an error naming it.</summary>
    public static bool Flag(string? value, string name, ValidationErrors errors)
    {
        switch (value)
        {
            case null or "false":
                return false;
            case "true":
                return true;
            default:
                errors.Add(name, "must be true or false");
                return false;
        }
    }

    /// <summary>Whether the version of a locked row satisfies the request's <c>If-Match</c> (absent or <c>*</c>: any).</summary>
    public static bool Matches(HttpRequest request, long version) =>
        ETags.IfMatchVersions(request) is not { } versions || versions.Contains(version);
}
