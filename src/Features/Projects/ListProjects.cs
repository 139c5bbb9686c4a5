using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

/// <summary>The query string of GET /projects, taken as text so every malformed value is reported by name, all at once.</summary>
public sealed record ListProjectsQuery : IListQuery
{
    // Init properties: the request delegate generator does not compile [AsParameters] records with a primary constructor.
    [FromQuery(Name = "q")] public string? Q { get; init; }
    [FromQuery(Name = "include_deleted")] public string? IncludeDeleted { get; init; }
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>
/// The projects the caller may read (enforced in the query), newest first by default or by name, optionally those whose
/// name contains <c>q</c> (case-insensitive), a page at a time with keyset cursors bound to the sort and filters.
/// </summary>
public static class ListProjects
{
    private const int QueryMaxLength = 200;

    private const string SelectSql = """
        SELECT p.id, p.name, p.description, p.created_by, p.created_at, p.updated_at, p.deleted_at, p.version
        FROM projects p
        """;

    // The filters this list accepts (the whitelist FilteredQuery assembles from).
    private const string Readable = ProjectAccess.OnProjectRow;
    private const string LiveAndReadable = "p.deleted_at IS NULL AND " + ProjectAccess.OnProjectRow;
    // Backslash is ILIKE's default escape character; the pattern is built with %, _ and \ escaped (projects_name_trgm_idx).
    private const string NameContains = "p.name ILIKE @namePattern";

    /// <summary>Sorts: created_at (default, newest first) and name (projects_name_idx), the id breaking ties.</summary>
    public static readonly ListDefinition<ProjectRow, ProjectResponse> Definition = new(
        new SortKeys<ProjectRow>("p.id", row => row.Id)
            .Timestamp("created_at", "p.created_at", row => row.CreatedAt)
            .Timestamp("updated_at", "p.updated_at", row => row.UpdatedAt)
            .Text("name", "p.name", row => row.Name)
            .DefaultSort("-created_at"),
        new ResponseFields<ProjectResponse>(AppJsonContext.Default.ProjectResponse));

    public static async Task<Results<ListResult<ProjectResponse>, ProblemHttpResult>> Handle(
        [AsParameters] ListProjectsQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (query.Q is { } q && (q.Length is 0 or > QueryMaxLength || q.Contains('\0', StringComparison.Ordinal)))
            errors.Add("q", $"must be 1 to {QueryMaxLength} characters, without NUL");
        var includeDeleted = ProjectRules.Flag(query.IncludeDeleted, "include_deleted", errors);
        var filters = new CursorBinding("projects")
            .With("q", query.Q)
            .With("include_deleted", includeDeleted ? "true" : null);
        var page = paging.Parse(query, Definition, filters, errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await QueryAsync(connection, caller, query.Q, includeDeleted, page.Keyset, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }

    /// <remarks>Plain Npgsql, as in the audit list: Dapper.AOT does not take SQL that is not a constant.</remarks>
    private static async Task<List<ProjectRow>> QueryAsync(
        NpgsqlConnection connection,
        Caller caller,
        string? q,
        bool includeDeleted,
        KeysetPage<ProjectRow> keyset,
        CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        var filtered = new FilteredQuery(command);
        var (callerId, callerIsAdmin, callerCanWrite, requiredRank) = ProjectAccess.Parameters(caller, ProjectRoles.Viewer);
        filtered.Where(includeDeleted ? Readable : LiveAndReadable, "callerId", callerId)
            .Parameter("callerIsAdmin", callerIsAdmin)
            .Parameter("callerCanWrite", callerCanWrite)
            .Parameter("requiredRank", requiredRank);
        if (q is not null)
            filtered.Where(NameContains, "namePattern", "%" + EscapeLike(q) + "%");
        filtered.Complete(SelectSql, keyset);

        var rows = new List<ProjectRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new ProjectRow(
                reader.GetGuid(0),
                reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetGuid(3),
                reader.GetFieldValue<DateTime>(4),
                reader.GetFieldValue<DateTime>(5),
                reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTime>(6),
                reader.GetInt64(7)));
        }
        return rows;
    }

    /// <summary>The text matched literally inside an ILIKE pattern: the escape character and both wildcards escaped.</summary>
    private static string EscapeLike(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal)
            .Replace("%", "\\%", StringComparison.Ordinal)
            .Replace("_", "\\_", StringComparison.Ordinal);
}
