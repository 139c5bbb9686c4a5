using Microsoft.Extensions.DependencyInjection;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.SearchAnalytics;

public sealed class SearchAnalyticsRetentionTests : DatabaseTest
{
    private readonly ServiceProvider metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();

    [Fact]
    public async Task ASweepDeletesTheDaysBeforeTheRetentionInBatches()
    {
        await using (var insert = DataSource.CreateCommand("""
            INSERT INTO search_query_days (day, query, searches, zero_result_searches)
            SELECT (now() AT TIME ZONE 'UTC')::date - d, 'query ' || q, 1, 0
            FROM generate_series(0, 3) d, generate_series(1, 5) q;
            INSERT INTO search_days (day, searches, zero_result_searches, latency_ms_total, latency_buckets)
            SELECT (now() AT TIME ZONE 'UTC')::date - d, 5, 0, 5, '{5}' FROM generate_series(0, 3) d;
            """))
            await insert.ExecuteNonQueryAsync();
        var sweep = TestBackground.Retention(DataSource, metrics, meters => SearchAnalyticsRetention.Job(
            new SearchAnalyticsOptions { RetentionDays = 2, RetentionBatchSize = 3 }, meters));

        var deleted = await sweep.SweepAsync(CancellationToken.None);

        // Today and yesterday are the two days kept.
        Assert.Equal(2 * 5 + 2, deleted);
        await using var left = DataSource.CreateCommand("""
            SELECT (SELECT string_agg(DISTINCT ((now() AT TIME ZONE 'UTC')::date - day)::text, ',' ORDER BY ((now() AT TIME ZONE 'UTC')::date - day)::text) FROM search_query_days)
                || ' ' || (SELECT string_agg(((now() AT TIME ZONE 'UTC')::date - day)::text, ',' ORDER BY day DESC) FROM search_days)
            """);
        Assert.Equal("0,1 0,1", await left.ExecuteScalarAsync());
    }
}
