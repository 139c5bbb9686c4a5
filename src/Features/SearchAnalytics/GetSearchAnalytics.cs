using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.SearchAnalytics;

/// <summary>A normalised query and how often it was searched in the period, and how often that found nothing.</summary>
public sealed record SearchQueryCount(string Query, long Searches, long ZeroResultSearches);

/// <summary>
/// A day's search latency in milliseconds: the mean, and each percentile as the upper bound of the histogram bucket it
/// falls in (absent when slower than the last bound, 10 s).
/// </summary>
public sealed record SearchLatencySummary(double Mean, double? P50, double? P95, double? P99);

public sealed record SearchDayCount(DateOnly Day, long Searches, long ZeroResultSearches, SearchLatencySummary LatencyMs);

/// <summary>
/// Searches from <c>from</c> to <c>to</c> (UTC days, both included): totals, the most searched queries, the most searched
/// queries that found nothing, and each day that had searches, newest first.
/// </summary>
public sealed record SearchAnalyticsResponse(
    DateOnly From,
    DateOnly To,
    long Searches,
    long ZeroResultSearches,
    IReadOnlyList<SearchQueryCount> TopQueries,
    IReadOnlyList<SearchQueryCount> ZeroResultQueries,
    IReadOnlyList<SearchDayCount> Days);

/// <summary>GET /search-analytics: admins only (the group's policy).</summary>
public static class GetSearchAnalytics
{
    public const int DefaultDays = 7;
    public const int DefaultLimit = 20;
    public const int MaxLimit = 100;

    // Each reads a range of its primary key (day first); the query list is at most a retention's worth of days.
    private const string TopQueriesSql = """
        SELECT query, sum(searches)::bigint AS searches, sum(zero_result_searches)::bigint AS zero_result_searches
        FROM search_query_days
        WHERE day >= $1
        GROUP BY query
        ORDER BY searches DESC, query
        LIMIT $2
        """;

    private const string ZeroResultQueriesSql = """
        SELECT query, sum(searches)::bigint AS searches, sum(zero_result_searches)::bigint AS zero_result_searches
        FROM search_query_days
        WHERE day >= $1
        GROUP BY query
        HAVING sum(zero_result_searches) > 0
        ORDER BY zero_result_searches DESC, query
        LIMIT $2
        """;

    private const string DaysSql = """
        SELECT day, searches, zero_result_searches, latency_ms_total, latency_buckets
        FROM search_days
        WHERE day >= $1
        ORDER BY day DESC
        """;

    public static async Task<Results<Ok<SearchAnalyticsResponse>, ProblemHttpResult>> Handle(
        string? days,
        string? limit,
        NpgsqlDataSource dataSource,
        IOptions<SearchAnalyticsOptions> options,
        TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var dayCount = Number(days, "days", DefaultDays, options.Value.RetentionDays, errors);
        var queryLimit = Number(limit, "limit", DefaultLimit, MaxLimit, errors);
        if (!errors.IsEmpty)
            return errors.ToQueryProblem();

        var to = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var from = to.AddDays(1 - dayCount);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                Command(TopQueriesSql, from, queryLimit),
                Command(ZeroResultQueriesSql, from, queryLimit),
                Command(DaysSql, from, limit: null),
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        var topQueries = await ReadQueriesAsync(reader, cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        var zeroResultQueries = await ReadQueriesAsync(reader, cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        var dayCounts = new List<SearchDayCount>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var searches = reader.GetInt64(1);
            dayCounts.Add(new SearchDayCount(
                reader.GetFieldValue<DateOnly>(0), searches, reader.GetInt64(2),
                Summarize(searches, reader.GetDouble(3), reader.GetFieldValue<long[]>(4))));
        }
        return TypedResults.Ok(new SearchAnalyticsResponse(
            from, to, dayCounts.Sum(day => day.Searches), dayCounts.Sum(day => day.ZeroResultSearches),
            topQueries, zeroResultQueries, dayCounts));
    }

    /// <summary>The mean, and p50/p95/p99 as the upper bound of the bucket holding that rank (null past the last bound).</summary>
    public static SearchLatencySummary Summarize(long searches, double latencyMsTotal, long[] buckets)
    {
        return new SearchLatencySummary(searches == 0 ? 0 : Math.Round(latencyMsTotal / searches, 3), Percentile(0.50), Percentile(0.95), Percentile(0.99));

        double? Percentile(double quantile)
        {
            var rank = (long)Math.Ceiling(quantile * buckets.Sum());
            long seen = 0;
            for (var i = 0; i < buckets.Length; i++)
            {
                seen += buckets[i];
                if (seen >= rank && seen > 0)
                    return i < SearchLatency.BucketBoundsMs.Length ? SearchLatency.BucketBoundsMs[i] : null;
            }
            return null;
        }
    }

    private static NpgsqlBatchCommand Command(string sql, DateOnly from, int? limit)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.Add(new NpgsqlParameter<DateOnly> { TypedValue = from });
        if (limit is { } value)
            command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = value });
        return command;
    }

    private static async Task<List<SearchQueryCount>> ReadQueriesAsync(NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        var queries = new List<SearchQueryCount>();
        while (await reader.ReadAsync(cancellationToken))
            queries.Add(new SearchQueryCount(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2)));
        return queries;
    }

    private static int Number(string? value, string name, int fallback, int max, ValidationErrors errors)
    {
        if (value is null)
            return fallback;
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= 1 && number <= max)
            return number;
        errors.Add(name, $"must be a whole number from 1 to {max}");
        return fallback;
    }
}
