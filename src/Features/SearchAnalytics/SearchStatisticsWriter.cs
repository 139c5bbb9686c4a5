using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Features.SearchAnalytics;

/// <summary>
/// Adds a node's search counts to the day's rows every <see cref="SearchAnalyticsOptions.FlushSeconds"/>, and once more on
/// the way out. Counts that fail to be written are kept for the next write, so a database outage loses none of them.
/// </summary>
public sealed partial class SearchStatisticsWriter(
    SearchStatistics statistics,
    NpgsqlDataSource dataSource,
    BackgroundFailures failures,
    IOptions<SearchAnalyticsOptions> options,
    ILogger<SearchStatisticsWriter> logger) : BackgroundService
{
    private const string Service = "search-analytics";

    // Every node adds to the same rows; queries go in sorted order so that two nodes writing at once lock rows in the same
    // order and never deadlock. The day's histogram is added bucket by bucket.
    private const string AddSql = """
        WITH queries AS (
            INSERT INTO search_query_days AS d (day, query, searches, zero_result_searches)
            SELECT @day, q.query, q.searches, q.zero_result_searches
            FROM unnest(@queries, @searches, @zeroResultSearches) AS q (query, searches, zero_result_searches)
            ORDER BY q.query
            ON CONFLICT (day, query) DO UPDATE
            SET searches = d.searches + excluded.searches,
                zero_result_searches = d.zero_result_searches + excluded.zero_result_searches
        )
        INSERT INTO search_days AS d (day, searches, zero_result_searches, latency_ms_total, latency_buckets)
        VALUES (@day, @daySearches, @dayZeroResultSearches, @latencyMsTotal, @latencyBuckets)
        ON CONFLICT (day) DO UPDATE
        SET searches = d.searches + excluded.searches,
            zero_result_searches = d.zero_result_searches + excluded.zero_result_searches,
            latency_ms_total = d.latency_ms_total + excluded.latency_ms_total,
            latency_buckets = ARRAY(
                SELECT coalesce(b.old_count, 0) + coalesce(b.new_count, 0)
                FROM unnest(d.latency_buckets, excluded.latency_buckets) WITH ORDINALITY AS b (old_count, new_count, position)
                ORDER BY b.position)
        """;

    /// <summary>Writes what was counted since the last write; on failure the counts go back and the exception is rethrown.</summary>
    public async Task WriteAsync(CancellationToken cancellationToken)
    {
        var days = statistics.TakeAll();
        var written = 0;
        try
        {
            foreach (var day in days)
            {
                await AddAsync(day, cancellationToken);
                written++;
            }
        }
        catch
        {
            statistics.PutBack(days.Skip(written));
            throw;
        }
    }

    private async Task AddAsync(DayCounts day, CancellationToken cancellationToken)
    {
        var queries = day.Queries.OrderBy(pair => pair.Key, StringComparer.Ordinal).ToList();
        await using var command = dataSource.CreateCommand(AddSql);
        command.Parameters.Add(new NpgsqlParameter<DateOnly>("day", NpgsqlDbType.Date) { TypedValue = day.Day });
        command.Parameters.Add(new NpgsqlParameter<string[]>("queries", NpgsqlDbType.Array | NpgsqlDbType.Text)
            { TypedValue = [.. queries.Select(pair => pair.Key)] });
        command.Parameters.Add(new NpgsqlParameter<long[]>("searches", NpgsqlDbType.Array | NpgsqlDbType.Bigint)
            { TypedValue = [.. queries.Select(pair => pair.Value.Searches)] });
        command.Parameters.Add(new NpgsqlParameter<long[]>("zeroResultSearches", NpgsqlDbType.Array | NpgsqlDbType.Bigint)
            { TypedValue = [.. queries.Select(pair => pair.Value.ZeroResultSearches)] });
        command.Parameters.Add(new NpgsqlParameter<long>("daySearches", day.Searches));
        command.Parameters.Add(new NpgsqlParameter<long>("dayZeroResultSearches", day.ZeroResultSearches));
        command.Parameters.Add(new NpgsqlParameter<double>("latencyMsTotal", day.LatencyMsTotal));
        command.Parameters.Add(new NpgsqlParameter<long[]>("latencyBuckets", NpgsqlDbType.Array | NpgsqlDbType.Bigint)
            { TypedValue = day.LatencyBuckets });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
            return;
        // What is counted after the last tick is written by StopAsync.
        await failures.RunPeriodicallyAsync(Service, TimeSpan.FromSeconds(options.Value.FlushSeconds), WriteAsync, stoppingToken,
            firstRunAfterInterval: true);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await WriteAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            LogLostOnShutdown(logger, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Search counts since the last write were not saved on shutdown: {reason}")]
    private static partial void LogLostOnShutdown(ILogger logger, string reason);
}
