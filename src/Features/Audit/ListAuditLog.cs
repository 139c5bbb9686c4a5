using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Audit;

/// <summary>The query string of GET /audit-log, taken as text so every malformed value is reported by name, all at once.</summary>
public sealed record ListAuditLogQuery : IListQuery
{
    // Init properties rather than a primary constructor: the request delegate generator (10.0) emits typeof(string?) for
    // the constructor lookup of an [AsParameters] record, which does not compile.
    [FromQuery(Name = "user_id")] public string? UserId { get; init; }
    [FromQuery(Name = "action")] public string? Action { get; init; }
    [FromQuery(Name = "resource_type")] public string? ResourceType { get; init; }
    [FromQuery(Name = "resource_id")] public string? ResourceId { get; init; }
    [FromQuery(Name = "from")] public string? From { get; init; }
    [FromQuery(Name = "to")] public string? To { get; init; }
    [FromQuery(Name = "sort")] public string? Sort { get; init; }
    [FromQuery(Name = "fields")] public string? Fields { get; init; }
    [FromQuery(Name = "cursor")] public string? Cursor { get; init; }
    [FromQuery(Name = "limit")] public string? Limit { get; init; }
}

public sealed record AuditEntryResponse(
    Guid Id,
    DateTime OccurredAt,
    Guid? ActorUserId,
    Guid? ActorApiKeyId,
    string Action,
    string ResourceType,
    string? ResourceId,
    string? Ip,
    string? RequestId,
    JsonObject? Diff);

/// <summary>The validated filters; <see cref="From"/> is inclusive, <see cref="To"/> exclusive.</summary>
public sealed record AuditLogFilter(
    Guid? UserId = null,
    string? Action = null,
    string? ResourceType = null,
    string? ResourceId = null,
    DateTime? From = null,
    DateTime? To = null);

/// <summary>
/// Admins read the audit trail newest first, filtered by actor, action, resource and time, a page at a time with keyset
/// cursors (stable under concurrent inserts, and as fast on page 1000 as on page 1).
/// </summary>
public static partial class ListAuditLog
{
    public sealed record AuditRow(
        Guid Id,
        DateTime OccurredAt,
        Guid? ActorUserId,
        Guid? ActorApiKeyId,
        string Action,
        string ResourceType,
        string? ResourceId,
        string? Ip,
        string? RequestId,
        string? Diff)
    {
        public AuditEntryResponse ToResponse() => new(
            Id, OccurredAt, ActorUserId, ActorApiKeyId, Action, ResourceType, ResourceId, Ip, RequestId,
            Diff is null ? null : JsonNode.Parse(Diff)!.AsObject());
    }

    internal const string SelectSql = """
        SELECT id, occurred_at, actor_user_id, actor_api_key_id, action, resource_type, resource_id,
               host(ip) AS ip, request_id, diff::text AS diff
        FROM audit_log
        """;

    // The filters this list accepts (the whitelist FilteredQuery assembles from); the index each uses is in migration 4.
    private const string ByUser = "actor_user_id = @userId";
    private const string ByAction = "action = @action";
    private const string ByResourceType = "resource_type = @resourceType";
    private const string ByResourceId = "resource_id = @resourceId";
    private const string FromTime = "occurred_at >= @from";
    private const string ToTime = "occurred_at < @to";

    /// <summary>Newest first only: every filter's index ends in (occurred_at DESC, id DESC), so any other order would scan.</summary>
    public static readonly ListDefinition<AuditRow, AuditEntryResponse> Definition = new(
        new SortKeys<AuditRow>("id", row => row.Id)
            .Timestamp("occurred_at", "occurred_at", row => row.OccurredAt)
            .FixedSort("-occurred_at"),
        new ResponseFields<AuditEntryResponse>(AppJsonContext.Default.AuditEntryResponse));

    [GeneratedRegex("^[a-z_]+(\\.[a-z_]+)+$")]
    private static partial Regex ActionFormat();

    [GeneratedRegex("^[a-z_]+$")]
    private static partial Regex ResourceTypeFormat();

    public static async Task<Results<ListResult<AuditEntryResponse>, ProblemHttpResult>> Handle(
        [AsParameters] ListAuditLogQuery query,
        NpgsqlDataSource dataSource,
        ListPaging paging,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var filter = ParseFilter(query, errors);
        var page = paging.Parse(query, Definition, Binding(filter), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await QueryAsync(connection, filter, page.Keyset, cancellationToken);
        return page.Result(rows, row => row.ToResponse());
    }

    /// <summary>The filters of <paramref name="query"/>; every malformed one is added to <paramref name="errors"/>.</summary>
    internal static AuditLogFilter ParseFilter(ListAuditLogQuery query, ValidationErrors errors)
    {
        var filter = new AuditLogFilter(
            QueryParameters.Id(query.UserId, "user_id", errors),
            Matching(query.Action, "action", ActionFormat(), "must look like task.delete", errors),
            Matching(query.ResourceType, "resource_type", ResourceTypeFormat(), "must be lower-case letters and underscores", errors),
            query.ResourceId,
            QueryParameters.Timestamp(query.From, "from", errors),
            QueryParameters.Timestamp(query.To, "to", errors));
        if (query.ResourceId is { Length: 0 or > 200 })
            errors.Add("resource_id", "must be between 1 and 200 characters");
        if (filter is { From: { } from, To: { } to } && to <= from)
            errors.Add("to", "must be later than from");
        return filter;
    }

    /// <summary>The entries matching <paramref name="filter"/> on <paramref name="page"/> (and one more if another page follows).</summary>
    /// <remarks>
    /// Plain Npgsql rather than Dapper.AOT: for SQL that is not a constant, Dapper.AOT 1.1.0 generates code that does not
    /// compile once the cancellation token travels in the args object. Only the parameters of present filters are sent.
    /// </remarks>
    public static async Task<List<AuditRow>> QueryAsync(
        NpgsqlConnection connection, AuditLogFilter filter, KeysetPage<AuditRow> page, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        return await ApplyFilter(new FilteredQuery(command), filter).ReadPageAsync(SelectSql, page, ReadRow, cancellationToken);
    }

    /// <summary>Every present filter as its whitelisted predicate, its value a parameter.</summary>
    internal static FilteredQuery ApplyFilter(FilteredQuery query, AuditLogFilter filter)
    {
        if (filter.UserId is { } userId)
            query.Where(ByUser, "userId", userId);
        if (filter.Action is { } action)
            query.Where(ByAction, "action", action);
        if (filter.ResourceType is { } resourceType)
            query.Where(ByResourceType, "resourceType", resourceType);
        if (filter.ResourceId is { } resourceId)
            query.Where(ByResourceId, "resourceId", resourceId);
        if (filter.From is { } from)
            query.Where(FromTime, "from", from);
        if (filter.To is { } to)
            query.Where(ToTime, "to", to);
        return query;
    }

    /// <summary>One row of <see cref="SelectSql"/>.</summary>
    internal static AuditRow ReadRow(NamedRow row) => new(
        row.Get<Guid>("id"), row.Get<DateTime>("occurred_at"), row.Get<Guid?>("actor_user_id"), row.Get<Guid?>("actor_api_key_id"),
        row.Get<string>("action"), row.Get<string>("resource_type"), row.GetOrNull<string>("resource_id"),
        row.GetOrNull<string>("ip"), row.GetOrNull<string>("request_id"), row.GetOrNull<string>("diff"));

    /// <summary>A cursor continues only the query it came from: the same (normalised) filters; the mechanism adds the sort.</summary>
    private static CursorBinding Binding(AuditLogFilter filter) => new CursorBinding("audit-log")
        .With("user_id", filter.UserId?.ToString())
        .With("action", filter.Action)
        .With("resource_type", filter.ResourceType)
        .With("resource_id", filter.ResourceId)
        .With("from", filter.From?.ToString("O", System.Globalization.CultureInfo.InvariantCulture))
        .With("to", filter.To?.ToString("O", System.Globalization.CultureInfo.InvariantCulture));

    private static string? Matching(string? value, string name, Regex format, string message, ValidationErrors errors)
    {
        if (value is null)
            return null;
        if (value.Length > 100 || !format.IsMatch(value))
            errors.Add(name, message);
        return value;
    }
}
