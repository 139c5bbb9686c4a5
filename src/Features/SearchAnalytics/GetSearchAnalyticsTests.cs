using System.Net;
using System.Text.Json;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;
using static TaskRunner.Features.Tasks.TaskQueryFixtures;

namespace TaskRunner.Features.SearchAnalytics;

public sealed class GetSearchAnalyticsTests(GetSearchAnalyticsTests.FastFlush service) : IClassFixture<GetSearchAnalyticsTests.FastFlush>
{
    private const string AnalyticsPath = "/api/v1/search-analytics";

    public sealed class FastFlush : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Append(new("SearchAnalytics:FlushSeconds", "1"));
    }

    private async Task<(HttpClient Client, Guid Project)> MemberWithProjectAsync()
    {
        var account = await service.CreateUserAsync();
        return (await service.ClientForAsync(account), await service.CreateProjectAsync(account));
    }

    private static async Task SearchAsync(HttpClient client, string q, string more = "")
    {
        using var response = await client.GetAsync($"/api/v1/tasks/search?q={Uri.EscapeDataString(q)}{more}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private async Task<JsonElement> AnalyticsAsync(string query = "")
    {
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);
        return await admin.GetPageAsync(AnalyticsPath + query);
    }

    /// <summary>The analytics once the counts of <paramref name="query"/> in <paramref name="list"/> reach <paramref name="searches"/>.</summary>
    private Task<JsonElement> AnalyticsOnceCountedAsync(string list, string query, long searches, string more = "?limit=100") =>
        Eventually.Until(() => AnalyticsAsync(more), body => Searches(body, list, query) >= searches,
            body => $"{query} was not counted {searches} times in {list}: {body}");

    private static long Searches(JsonElement body, string list, string query) =>
        body.GetProperty(list).EnumerateArray().Where(item => item.GetProperty("query").GetString() == query)
            .Select(item => item.GetProperty("searches").GetInt64()).SingleOrDefault();

    [Fact]
    public async Task SearchesAreCountedByTheirNormalisedQueryAndWhetherTheyFoundNothing()
    {
        var (client, project) = await MemberWithProjectAsync();
        var tag = Tag();
        await client.CreateTasksAsync(project, Task($"Rotate {tag} keys"));

        await SearchAsync(client, tag);
        await SearchAsync(client, $"  {tag.ToUpperInvariant()} ");
        await SearchAsync(client, $"{tag}   keys");
        var nothing = Tag();
        await SearchAsync(client, nothing);

        var body = await AnalyticsOnceCountedAsync("zero_result_queries", nothing, 1);
        body = await AnalyticsOnceCountedAsync("top_queries", tag, 2);
        Assert.Equal(2, Searches(body, "top_queries", tag));
        Assert.Equal(1, Searches(body, "top_queries", $"{tag} keys"));
        Assert.Equal(1, Searches(body, "top_queries", nothing));
        Assert.Equal(0, Searches(body, "zero_result_queries", tag));
        var zero = body.GetProperty("zero_result_queries").EnumerateArray().Single(item => item.GetProperty("query").GetString() == nothing);
        Assert.Equal(1, zero.GetProperty("zero_result_searches").GetInt64());
    }

    [Fact]
    public async Task EachDayReportsItsSearchesAndLatency()
    {
        var (client, project) = await MemberWithProjectAsync();
        var tag = Tag();
        await client.CreateTasksAsync(project, Task($"Archive {tag} logs"));
        await SearchAsync(client, tag);

        var body = await AnalyticsOnceCountedAsync("top_queries", tag, 1, "?days=1&limit=100");

        var today = DateOnly.FromDateTime(DateTime.UtcNow).ToString("yyyy-MM-dd");
        Assert.Equal(today, body.GetProperty("to").GetString());
        Assert.Equal(today, body.GetProperty("from").GetString());
        var day = Assert.Single(body.GetProperty("days").EnumerateArray());
        Assert.Equal(today, day.GetProperty("day").GetString());
        Assert.True(day.GetProperty("searches").GetInt64() >= 1);
        Assert.Equal(body.GetProperty("searches").GetInt64(), day.GetProperty("searches").GetInt64());
        var latency = day.GetProperty("latency_ms");
        Assert.True(latency.GetProperty("mean").GetDouble() > 0);
        Assert.Contains(latency.GetProperty("p99").GetDouble(), SearchLatency.BucketBoundsMs);
        Assert.True(latency.GetProperty("p50").GetDouble() <= latency.GetProperty("p99").GetDouble());
    }

    [Fact]
    public async Task LaterPagesOfOneSearchAreNotCountedAgain()
    {
        var (client, project) = await MemberWithProjectAsync();
        var tag = Tag();
        await client.CreateTasksAsync(project, Task($"Deploy {tag} gateway"), Task($"Deploy {tag} proxy"), Task($"Deploy {tag} cache"));

        var pages = await client.AllPagesAsync($"/api/v1/tasks/search?q={tag}&limit=1");
        Assert.Equal(3, pages.Count);
        var marker = Tag();
        await SearchAsync(client, marker);

        // The marker searched after the pages is counted, so the pages' counts are complete by then.
        var body = await AnalyticsOnceCountedAsync("top_queries", marker, 1);
        Assert.Equal(1, Searches(body, "top_queries", tag));
    }

    [Fact]
    public async Task OnlyAdminsMayReadSearchAnalytics()
    {
        using var member = await service.ClientForNewUserAsync();
        using var anonymous = service.CreateClient();

        using var forMember = await member.GetAsync(AnalyticsPath);
        using var forAnonymous = await anonymous.GetAsync(AnalyticsPath);

        await forMember.AssertProblemAsync(HttpStatusCode.Forbidden);
        await forAnonymous.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("?days=0", "days")]
    [InlineData("?days=31", "days")]
    [InlineData("?days=seven", "days")]
    [InlineData("?limit=0", "limit")]
    [InlineData("?limit=101", "limit")]
    [InlineData("?limit=-1", "limit")]
    public async Task APeriodOrLimitOutOfRangeIsA400NamingIt(string query, string field)
    {
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var response = await admin.GetAsync(AnalyticsPath + query);

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.NotEmpty(problem.Errors(field));
    }

    [Fact]
    public async Task WhoSearchedIsNeverStored()
    {
        var columns = await service.QueryTextAsync("""
            SELECT table_name || '.' || column_name FROM information_schema.columns
            WHERE table_name IN ('search_query_days', 'search_days') ORDER BY 1
            """);

        Assert.Equal(
        [
            "search_days.day", "search_days.latency_buckets", "search_days.latency_ms_total", "search_days.searches",
            "search_days.zero_result_searches", "search_query_days.day", "search_query_days.query", "search_query_days.searches",
            "search_query_days.zero_result_searches",
        ], columns);
    }
}
