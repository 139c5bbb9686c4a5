using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Tasks;

public sealed record SuggestTaskTitlesQuery
{
    [FromQuery(Name = "q")] public string? Q { get; init; }
}

/// <summary>Up to ten titles, distinct ignoring case (one spelling of each), in case-insensitive byte order.</summary>
public sealed record TaskTitleSuggestions(IReadOnlyList<string> Suggestions);

/// <summary>
/// GET /tasks/search/suggest?q=prefix: type-ahead over the titles of the live tasks the caller may read, the titles that
/// start with the prefix (ignoring case). One range scan of tasks_title_prefix_idx, which also holds project_id and the
/// title, so the access rule and the answer come from the index alone; it stops after ten distinct titles.
/// </summary>
public static class SuggestTaskTitles
{
    public const int MaxPrefixLength = 100;
    public const int MaxSuggestions = 10;

    // Written as a range on the indexed expression (not LIKE), so a generic plan of the prepared statement still scans
    // only the prefix's range; U+10FFFF sorts after every character that can follow the prefix in UTF-8 byte order.
    private const string SuggestSql = """
        SELECT DISTINCT ON (lower(t.title) COLLATE "C") t.title
        FROM tasks t
        WHERE t.deleted_at IS NULL
          AND lower(t.title) COLLATE "C" >= lower(@prefix) COLLATE "C"
          AND lower(t.title) COLLATE "C" < (lower(@prefix) || U&'\+10FFFF') COLLATE "C"
        """;

    private const string ReadableSql = "\n  AND " + ProjectAccess.OnTaskRow;

    private const string OrderSql = """

        ORDER BY lower(t.title) COLLATE "C"
        LIMIT @maxSuggestions
        """;

    public static async Task<Results<Ok<TaskTitleSuggestions>, ProblemHttpResult>> Handle(
        [AsParameters] SuggestTaskTitlesQuery query,
        Caller caller,
        NpgsqlDataSource dataSource,
        HttpResponse response,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (query.Q is not { } prefix || prefix.Length is 0 or > MaxPrefixLength || prefix.Contains('\0', StringComparison.Ordinal))
        {
            errors.Add("q", $"must be 1 to {MaxPrefixLength} characters, without NUL");
            return errors.ToQueryProblem();
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.Parameters.Add(new NpgsqlParameter<string>("prefix", prefix));
        command.Parameters.Add(new NpgsqlParameter<int>("maxSuggestions", MaxSuggestions));
        if (caller.IsAdmin)
        {
            command.CommandText = SuggestSql + OrderSql;
        }
        else
        {
            command.CommandText = SuggestSql + ReadableSql + OrderSql;
            ProjectAccess.Bind(caller, ProjectRoles.Viewer).AddTo(command.Parameters);
        }

        var titles = new List<string>(MaxSuggestions);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
                titles.Add(reader.GetString(0));
        }
        // Per caller (access decides the titles), and stale within seconds: a short private cache spares repeated keystrokes.
        response.Headers.CacheControl = "private, max-age=10";
        return TypedResults.Ok(new TaskTitleSuggestions(titles));
    }
}
