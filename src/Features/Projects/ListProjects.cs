using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Projects;

/// <summary>The query string of GET /projects, taken as text so every malformed value is reported by name, all at once.</summary>
public sealed record ListProjectsQuery
{
    // Init properties: the request delegate generator does not compile [AsParameters] records with a primary constructor.
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "q")] public string? Q { get; init; }
    [FromQuery(Name = "include_deleted")] public string? IncludeDeleted { get; init; }
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

    /// <summary>One whitelisted sort: its name in the query string, its keyset predicate and its order.</summary>
    private sealed record SortOrder(string Name, CursorValueKind KeyKind, string After, string Order);

    private static readonly SortOrder[] Sorts =
    [
        new("-created_at", CursorValueKind.Timestamp, "(p.created_at, p.id) < (@afterKey, @afterId)",
            "ORDER BY p.created_at DESC, p.id DESC LIMIT @limit"),
        new("created_at", CursorValueKind.Timestamp, "(p.created_at, p.id) > (@afterKey, @afterId)",
            "ORDER BY p.created_at, p.id LIMIT @limit"),
        new("name", CursorValueKind.Text, "(p.name, p.id) > (@afterKey, @afterId)",
            "ORDER BY p.name, p.id LIMIT @limit"),
        new("-name", CursorValueKind.Text, "(p.name, p.id) < (@afterKey, @afterId)",
            "ORDER BY p.name DESC, p.id DESC LIMIT @limit"),
    ];

    public static async Task<Results<Ok<ListResponse<ProjectResponse>>, ProblemHttpResult>> Handle(
        [AsParameters] ListProjectsQuery query,
        Caller caller,
        HttpContext http,
        NpgsqlDataSource dataSource,
        CursorCodec cursors,
        IOptions<ListOptions> lists,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var sort = Array.Find(Sorts, candidate => candidate.Name == (query.Sort ?? "-created_at"));
        if (sort is null)
            errors.Add("sort", "must be one of " + string.Join(", ", Sorts.Select(candidate => candidate.Name)));
        if (query.Q is { } q && (q.Length is 0 or > QueryMaxLength || q.Contains('\0', StringComparison.Ordinal)))
            errors.Add("q", $"must be 1 to {QueryMaxLength} characters, without NUL");
        var includeDeleted = ProjectRules.Flag(query.IncludeDeleted, "include_deleted", errors);
        var limit = Lists.Limit(query.Limit, lists.Value.MaxLimit, errors);
        if (!errors.IsEmpty)
            return errors.ToQueryProblem();

        var binding = new CursorBinding("projects")
            .With("sort", sort!.Name)
            .With("q", query.Q)
            .With("include_deleted", includeDeleted ? "true" : null);
        (CursorValue Key, Guid Id)? after = null;
        if (query.Cursor is not null)
        {
            if (!cursors.TryDecode(query.Cursor, binding, [sort.KeyKind, CursorValueKind.Id], out var values, out var error))
            {
                errors.Add("cursor", error);
                return errors.ToQueryProblem();
            }
            after = (values[0], values[1].AsId());
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await QueryAsync(connection, caller, sort, query.Q, includeDeleted, after, limit + 1, cancellationToken);
        return TypedResults.Ok(Lists.Page(http, rows, limit, row => row.ToResponse(),
            row => cursors.Encode(binding,
                sort.KeyKind == CursorValueKind.Text ? CursorValue.Of(row.Name) : CursorValue.Of(row.CreatedAt),
                CursorValue.Of(row.Id))));
    }

    /// <remarks>Plain Npgsql, as in the audit list: Dapper.AOT does not take SQL that is not a constant.</remarks>
    private static async Task<List<ProjectRow>> QueryAsync(
        NpgsqlConnection connection,
        Caller caller,
        SortOrder sort,
        string? q,
        bool includeDeleted,
        (CursorValue Key, Guid Id)? after,
        int limit,
        CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        var filtered = new FilteredQuery(command);
        var (callerId, callerIsAdmin, callerCanWrite, requiredRank) = ProjectAccess.Parameters(caller, ProjectRoles.Viewer);
        filtered.Where(includeDeleted ? Readable : LiveAndReadable, "callerId", callerId)
            .Parameter("callerIsAdmin", callerIsAdmin)
            .Parameter("callerCanWrite", callerCanWrite)
            .Parameter("requiredRank", requiredRank)
            .Parameter("limit", limit);
        if (q is not null)
            filtered.Where(NameContains, "namePattern", "%" + EscapeLike(q) + "%");
        if (after is { } position)
        {
            if (position.Key.Kind == CursorValueKind.Text)
                filtered.Where(sort.After, "afterKey", position.Key.AsText());
            else
                filtered.Where(sort.After, "afterKey", position.Key.AsTimestamp());
            filtered.Parameter("afterId", position.Id);
        }
        filtered.Complete(SelectSql, sort.Order);

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
