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
        var filtered = new FilteredQuery(command)
            .Where(includeDeleted ? Readable : LiveAndReadable, ProjectAccess.Bind(caller, ProjectRoles.Viewer));
        if (q is not null)
            filtered.Where(NameContains, "namePattern", "%" + EscapeLike(q) + "%");
        return await filtered.ReadPageAsync(SelectSql, keyset, Read, cancellationToken);
    }

    private static ProjectRow Read(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<string>("name"), row.GetOrNull<string>("description"), row.Get<Guid>("created_by"),
        row.Get<DateTime>("created_at"), row.Get<DateTime>("updated_at"), row.Get<DateTime?>("deleted_at"), row.Get<long>("version"));

    /// <summary>The text matched literally inside an ILIKE pattern: the escape character and both wildcards escaped.</summary>
    private static string EscapeLike(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal)
            .Replace("%", "\\%", StringComparison.Ordinal)
            .Replace("_", "\\_", StringComparison.Ordinal);
}
