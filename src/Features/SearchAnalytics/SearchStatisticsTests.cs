using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.SearchAnalytics;

public sealed class SearchStatisticsTests : DatabaseTest
{
    private readonly ServiceProvider metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private static SearchStatistics Statistics(int maxQueries = 1000) =>
        new(Options.Create(new SearchAnalyticsOptions { MaxQueriesPerFlush = maxQueries }), TimeProvider.System);

    private SearchStatisticsWriter Writer(SearchStatistics statistics, NpgsqlDataSource? dataSource = null) => new(
        statistics, dataSource ?? DataSource, TestBackground.Failures(metrics), Options.Create(new SearchAnalyticsOptions()),
        NullLogger<SearchStatisticsWriter>.Instance);

    private Task<List<string>> QueryCountsAsync() => QueryTextAsync(
        "SELECT query || '=' || searches || '/' || zero_result_searches FROM search_query_days ORDER BY query");

    private async Task<List<string>> QueryTextAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
            rows.Add(reader.GetString(0));
        return rows;
    }

    [Theory]
    [InlineData("  Deploy   the\tGateway ", "deploy the gateway")]
    [InlineData("\"Exact Phrase\" -skip", "\"exact phrase\" -skip")]
    [InlineData(" \n\t ", null)]
    public void AQueryIsCountedTrimmedInLowerCaseWithSingleSpaces(string query, string? counted) =>
        Assert.Equal(counted, SearchStatistics.Normalize(query));

    [Fact]
    public void ALongQueryIsCutWithoutSplittingACharacter()
    {
        var query = new string('a', SearchStatistics.MaxQueryLength - 1) + "😀tail";

        var counted = SearchStatistics.Normalize(query)!;

        Assert.Equal(new string('a', SearchStatistics.MaxQueryLength - 1), counted);
    }

    [Fact]
    public void PercentilesAreTheUpperBoundsOfTheirBuckets()
    {
        var buckets = new long[SearchLatency.BucketBoundsMs.Length + 1];
        buckets[SearchLatency.BucketOf(3)] = 90; // 5 ms bucket
        buckets[SearchLatency.BucketOf(40)] = 9; // 50 ms bucket
        buckets[SearchLatency.BucketOf(60_000)] = 1; // past the last bound

        var summary = GetSearchAnalytics.Summarize(100, 1000, buckets);

        Assert.Equal(new SearchLatencySummary(10, 5, 50, 50), summary);
        Assert.Null(GetSearchAnalytics.Summarize(1, 60_000, [.. new long[SearchLatency.BucketBoundsMs.Length], 1]).P50);
    }

    [Fact]
    public async Task TwoNodesCountsOfTheSameQueriesAddUp()
    {
        var first = Statistics();
        var second = Statistics();
        for (var i = 0; i < 3; i++)
            first.Record("deploy", foundNothing: false, TimeSpan.FromMilliseconds(4));
        second.Record("deploy", foundNothing: false, TimeSpan.FromMilliseconds(30));
        second.Record("nothing here", foundNothing: true, TimeSpan.FromMilliseconds(2));

        await Task.WhenAll(Writer(first).WriteAsync(CancellationToken.None), Writer(second).WriteAsync(CancellationToken.None));

        Assert.Equal(["deploy=4/0", "nothing here=1/1"], await QueryCountsAsync());
        Assert.Equal(["5/1 {0,1,3,0,0,1,0,0,0,0,0,0,0,0}"], await QueryTextAsync(
            "SELECT searches || '/' || zero_result_searches || ' ' || latency_buckets::text FROM search_days"));
    }

    [Fact]
    public async Task BeyondTheQueryCapSearchesStillCountInTheDayTotals()
    {
        var statistics = Statistics(maxQueries: 2);
        foreach (var query in new[] { "one", "two", "three", "one" })
            statistics.Record(query, foundNothing: false, TimeSpan.FromMilliseconds(1));

        await Writer(statistics).WriteAsync(CancellationToken.None);

        Assert.Equal(["one=2/0", "two=1/0"], await QueryCountsAsync());
        Assert.Equal(["4"], await QueryTextAsync("SELECT searches::text FROM search_days"));
    }

    [Fact]
    public async Task CountsThatCouldNotBeWrittenAreWrittenWithTheNextOnes()
    {
        var statistics = Statistics();
        statistics.Record("deploy", foundNothing: false, TimeSpan.FromMilliseconds(1));
        await using var unreachable = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(ConnectionString) { Port = 1, Timeout = 1 }.ConnectionString);

        await Assert.ThrowsAnyAsync<NpgsqlException>(() => Writer(statistics, unreachable).WriteAsync(CancellationToken.None));
        statistics.Record("deploy", foundNothing: true, TimeSpan.FromMilliseconds(1));
        await Writer(statistics).WriteAsync(CancellationToken.None);

        Assert.Equal(["deploy=2/1"], await QueryCountsAsync());
    }

    [Fact]
    public async Task NothingIsCountedWhenAnalyticsAreDisabled()
    {
        var statistics = new SearchStatistics(Options.Create(new SearchAnalyticsOptions { Enabled = false }), TimeProvider.System);
        statistics.Record("deploy", foundNothing: false, TimeSpan.FromMilliseconds(1));

        await Writer(statistics).WriteAsync(CancellationToken.None);

        Assert.Empty(await QueryCountsAsync());
    }
}
