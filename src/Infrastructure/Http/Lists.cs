using System.Globalization;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Extensions;

namespace TaskRunner.Infrastructure.Http;

/// <summary>The shape of every list: one page of items, the cursor of the next page (null on the last) and whether there is one.</summary>
public sealed record ListResponse<T>(
    IReadOnlyList<T> Data,
    // Written even when null: clients test next_cursor == null to stop, as API.md promises.
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? NextCursor,
    bool HasMore);

/// <summary>Paging shared by every list endpoint: the limit parameter, the page cut, and the <c>Link</c> header.</summary>
public static class Lists
{
    public const int DefaultLimit = 50;

    /// <summary>
    /// The page size from the <c>limit</c> parameter: <see cref="DefaultLimit"/> (or <paramref name="maxLimit"/> if lower)
    /// when absent, else an integer from 1 to <paramref name="maxLimit"/>; anything else adds an error naming <c>limit</c>.
    /// </summary>
    public static int Limit(string? value, int maxLimit, ValidationErrors errors)
    {
        if (value is null)
            return Math.Min(DefaultLimit, maxLimit);
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit >= 1 && limit <= maxLimit)
            return limit;
        errors.Add("limit", $"must be an integer from 1 to {maxLimit}");
        return 0;
    }

    /// <summary>
    /// Cuts a page from rows fetched with <c>LIMIT limit + 1</c> (the extra row only says there is more), maps it, and sets the
    /// <c>Link: &lt;...&gt;; rel="next"</c> header with the cursor after the page's last row.
    /// </summary>
    public static ListResponse<TResponse> Page<TRow, TResponse>(
        HttpContext http, IReadOnlyList<TRow> rows, int limit, Func<TRow, TResponse> map, Func<TRow, string> cursorAfter)
    {
        var hasMore = rows.Count > limit;
        var page = rows.Take(limit).Select(map).ToList();
        var nextCursor = hasMore ? cursorAfter(rows[limit - 1]) : null;
        if (nextCursor is not null)
            http.Response.Headers.Link = $"<{NextUrl(http.Request, nextCursor)}>; rel=\"next\"";
        return new ListResponse<TResponse>(page, nextCursor, hasMore);
    }

    /// <summary>The same request (path and every other parameter, as sent) with <c>cursor</c> set to the next page's.</summary>
    private static string NextUrl(HttpRequest request, string nextCursor)
    {
        var query = request.Query
            .Where(parameter => parameter.Key != "cursor")
            .SelectMany(parameter => parameter.Value.Select(value => new KeyValuePair<string, string?>(parameter.Key, value)))
            .Append(new KeyValuePair<string, string?>("cursor", nextCursor));
        return UriHelper.BuildAbsolute(request.Scheme, request.Host, request.PathBase, request.Path, QueryString.Create(query));
    }
}

/// <summary>Parsing of typed query parameters into values or errors named after the parameter, so all are reported at once.</summary>
public static class QueryParameters
{
    private static readonly string[] TimestampFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ssK",
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd",
    ];

    /// <summary>An RFC 3339 timestamp with an offset (<c>2026-01-31T12:00:00.123Z</c>) or a date (midnight UTC), as UTC.</summary>
    public static DateTime? Timestamp(string? value, string name, ValidationErrors errors)
    {
        if (value is null)
            return null;
        if (DateTimeOffset.TryParseExact(value, TimestampFormats, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal, out var parsed))
            return parsed.UtcDateTime;
        errors.Add(name, "must be an RFC 3339 timestamp (2026-01-31T12:00:00Z) or a date (2026-01-31)");
        return null;
    }

    public static Guid? Id(string? value, string name, ValidationErrors errors)
    {
        if (value is null)
            return null;
        if (Guid.TryParse(value, out var id))
            return id;
        errors.Add(name, "must be a UUID");
        return null;
    }
}
