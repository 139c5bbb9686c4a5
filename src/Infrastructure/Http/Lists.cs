using System.Globalization;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// The shape of every list response, <c>{"data":[...],"next_cursor":...,"has_more":...}</c>, as the OpenAPI document
/// describes it; <see cref="ListResult{T}"/> writes it. List it in <see cref="AppJsonContext"/> for each item type.
/// </summary>
public sealed record ListResponse<T>(
    IReadOnlyList<T> Data,
    // Written even when null: clients test next_cursor == null to stop, as API.md promises.
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? NextCursor,
    bool HasMore);

/// <summary>The query parameters every list takes; a list's <c>[AsParameters]</c> query record implements it.</summary>
public interface IListQuery
{
    /// <summary><c>sort</c>: comma-separated keys, <c>-</c> for descending (<c>-priority,created_at</c>).</summary>
    string? Sort { get; }

    /// <summary><c>fields</c>: the comma-separated fields each item carries; all when absent.</summary>
    string? Fields { get; }

    /// <summary><c>limit</c>: the page size.</summary>
    string? Limit { get; }

    /// <summary><c>cursor</c>: the <c>next_cursor</c> of the previous page.</summary>
    string? Cursor { get; }
}

/// <summary>The query of a list that has no filters of its own: only the paging parameters.</summary>
public sealed record PageQuery : IListQuery
{
    // Init properties: the request delegate generator does not compile [AsParameters] records with a primary constructor.
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

/// <summary>
/// What one list offers, declared once as a static field beside its handler: the keys its rows sort by and the fields
/// of its response items.
/// </summary>
public sealed record ListDefinition<TRow, TResponse>(SortKeys<TRow> Sorts, ResponseFields<TResponse> Fields);

/// <summary>
/// The one list mechanism: reads <c>sort</c>, <c>fields</c>, <c>limit</c> and <c>cursor</c> of a list request into a
/// <see cref="PageRequest{TRow, TResponse}"/>, reporting every malformed parameter by name.
/// </summary>
public sealed class ListPaging(CursorCodec cursors, IOptions<ListOptions> options)
{
    /// <summary>
    /// The page <paramref name="query"/> asks for, or null with the reasons in <paramref name="errors"/>.
    /// <paramref name="filters"/> is the list's <see cref="CursorBinding"/> holding every filter's normalised value; the
    /// sort is added to it, so a cursor only continues the query it came from. Call it after validating the filters:
    /// the cursor is only checked when every other parameter is valid, since it can only be judged against a valid query.
    /// </summary>
    public PageRequest<TRow, TResponse>? Parse<TRow, TResponse>(
        IListQuery query, ListDefinition<TRow, TResponse> list, CursorBinding filters, ValidationErrors errors)
    {
        var sort = list.Sorts.Parse(query.Sort, errors);
        var fields = list.Fields.Parse(query.Fields, errors);
        var limit = Lists.Limit(query.Limit, options.Value.MaxLimit, errors);
        if (!errors.IsEmpty || sort is null || fields is null)
            return null;

        var binding = filters.With("sort", sort.Normalized);
        CursorValue[]? after = null;
        if (query.Cursor is not null)
        {
            if (!cursors.TryDecode(query.Cursor, binding, sort.Shape, out var position, out var error) || !sort.Accepts(position))
            {
                errors.Add("cursor", error.Length > 0 ? error : CursorCodec.Invalid);
                return null;
            }
            after = position;
        }
        return new PageRequest<TRow, TResponse>(new KeysetPage<TRow>(sort, after, limit), fields, cursors, binding);
    }
}

/// <summary>
/// One valid list request: <see cref="Keyset"/> for <see cref="FilteredQuery.Complete{TRow}(string, KeysetPage{TRow})"/>,
/// and <see cref="Result"/> to answer with the rows it read.
/// </summary>
public sealed class PageRequest<TRow, TResponse>
{
    private readonly FieldSelection<TResponse> fields;
    private readonly CursorCodec cursors;
    private readonly CursorBinding binding;

    internal PageRequest(KeysetPage<TRow> keyset, FieldSelection<TResponse> fields, CursorCodec cursors, CursorBinding binding)
    {
        Keyset = keyset;
        this.fields = fields;
        this.cursors = cursors;
        this.binding = binding;
    }

    /// <summary>The sort, position and size of the page, for the SQL.</summary>
    public KeysetPage<TRow> Keyset { get; }

    /// <summary>
    /// The response for <paramref name="rows"/>, read with the page's SQL (so at most one row more than the page, which
    /// only says another page follows): the page's items mapped and written with the selected fields, and the cursor
    /// after its last row.
    /// </summary>
    public ListResult<TResponse> Result(IReadOnlyList<TRow> rows, Func<TRow, TResponse> map)
    {
        var limit = Keyset.Limit;
        var items = rows.Take(limit).Select(map).ToList();
        var nextCursor = rows.Count > limit ? cursors.Encode(binding, Keyset.Sort.Position(rows[limit - 1])) : null;
        return new ListResult<TResponse>(items, nextCursor, fields);
    }
}

/// <summary>Paging parameters shared by every list endpoint: the limit and the <c>Link</c> to the next page.</summary>
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

    /// <summary>The same request (path and every other parameter, as sent) with <c>cursor</c> set to the next page's.</summary>
    internal static string NextUrl(HttpRequest request, string nextCursor)
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
