using System.Diagnostics.Metrics;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.SearchAnalytics;

/// <summary>
/// Deletes the search counts of days that fell out of <see cref="SearchAnalyticsOptions.RetentionDays"/> (today is day
/// one), every <see cref="SearchAnalyticsOptions.RetentionSweepMinutes"/>, in batches (see <see cref="RetentionSweep"/>).
/// </summary>
public static class SearchAnalyticsRetention
{
    // Both tables lead their primary key with the day, so the expired rows are a range at the start of it; a query's row is
    // then deleted by its row address (a TID scan), the two-column key having no array form that the planner would probe.
    private const string DeleteQueryDaysSql = """
        DELETE FROM search_query_days
        WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM search_query_days
            WHERE day <= (now() AT TIME ZONE 'UTC')::date - @retentionDays
            ORDER BY day, query
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    private const string DeleteDaysSql = """
        DELETE FROM search_days
        WHERE day = ANY (ARRAY(
            SELECT day FROM search_days
            WHERE day <= (now() AT TIME ZONE 'UTC')::date - @retentionDays
            ORDER BY day
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    public static RetentionJob Job(SearchAnalyticsOptions options, IMeterFactory meters)
    {
        var deleted = meters.Create(Telemetry.ServiceName).CreateCounter<long>(
            "taskrunner.search_analytics.retention.deleted", "{row}", "Search analytics rows (a query's or a whole day's counts) deleted by the retention sweep");
        return new("search-analytics-retention", TimeSpan.FromMinutes(options.RetentionSweepMinutes), options.RetentionDays,
            options.RetentionBatchSize, [new("search query counts", DeleteQueryDaysSql, deleted), new("search day counts", DeleteDaysSql, deleted)]);
    }
}
