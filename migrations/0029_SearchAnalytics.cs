using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Search analytics for admins, aggregated by UTC day and never by person: how often each normalised query was searched and
/// how often it found nothing (<c>search_query_days</c>), and each day's totals with a latency histogram (<c>search_days</c>).
/// Nodes add their counts every few seconds; the retention sweep deletes whole days.
/// </summary>
[Migration(29, "SearchAnalytics")]
public sealed class Migration0029SearchAnalytics : Migration
{
    public override void Up() => Execute.Sql("""
        CREATE TABLE search_query_days (
            day                  date NOT NULL,
            query                text NOT NULL CHECK (length(query) BETWEEN 1 AND 200),
            searches             bigint NOT NULL CHECK (searches >= 0),
            zero_result_searches bigint NOT NULL CHECK (zero_result_searches BETWEEN 0 AND searches),
            PRIMARY KEY (day, query)
        );
        CREATE TABLE search_days (
            day                  date PRIMARY KEY,
            searches             bigint NOT NULL CHECK (searches >= 0),
            zero_result_searches bigint NOT NULL CHECK (zero_result_searches BETWEEN 0 AND searches),
            latency_ms_total     double precision NOT NULL,
            -- Counts per latency bucket, bounds as SearchLatency.BucketBoundsMs says, the last bucket unbounded.
            latency_buckets      bigint[] NOT NULL
        );
        """);

    public override void Down() => Execute.Sql("DROP TABLE search_days; DROP TABLE search_query_days;");
}
