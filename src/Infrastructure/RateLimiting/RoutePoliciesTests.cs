using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.RateLimiting;

public sealed class RoutePoliciesTests(RoutePoliciesTests.SmallGroupLimits service) : IClassFixture<RoutePoliciesTests.SmallGroupLimits>
{
    /// <summary>A roomy <c>api</c> bucket and small group buckets that do not refill within a test.</summary>
    public sealed class SmallGroupLimits : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Concat(
            [
                new("RateLimiting:Api:PermitLimit", "50"),
                new("RateLimiting:Api:TokensPerPeriod", "1"),
                new("RateLimiting:Api:PeriodSeconds", "3600"),
                new("RateLimiting:Search:PermitLimit", "2"),
                new("RateLimiting:Search:TokensPerPeriod", "1"),
                new("RateLimiting:Search:PeriodSeconds", "3600"),
                new("RateLimiting:Worker:PermitLimit", "2"),
                new("RateLimiting:Worker:TokensPerPeriod", "1"),
                new("RateLimiting:Worker:PeriodSeconds", "3600"),
            ]);
    }

    [Fact]
    public async Task ASearchTakesATokenOfTheApiAndSearchPoliciesAndReportsBoth()
    {
        using var client = await service.SignedInFromAsync(ClientAddresses.Next());

        using var response = await client.GetAsync("/api/v1/tasks/search?q=anything");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("\"api\";q=50;w=180000, \"search\";q=2;w=7200", response.Field("RateLimit-Policy"));
        Assert.Matches("^\"api\";r=49;t=[0-9]+, \"search\";r=1;t=[0-9]+$", response.Field("RateLimit"));
    }

    [Fact]
    public async Task ASpentGroupBucketRefusesItsRoutesWhileOtherRoutesGoOn()
    {
        using var client = await service.SignedInFromAsync(ClientAddresses.Next());

        using var refused = await client.ExhaustAsync("/api/v1/tasks/search/suggest?q=a", 2);
        using var elsewhere = await client.GetAsync(RateLimitTesting.Me);

        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
        Assert.Contains("\"search\";r=0;", refused.Field("RateLimit"));
        Assert.Equal(HttpStatusCode.OK, elsewhere.StatusCode);
        Assert.Equal("\"api\";q=50;w=180000", elsewhere.Field("RateLimit-Policy"));
    }

    [Fact]
    public async Task WorkerCallsHaveABucketApartFromSearches()
    {
        using var client = await service.SignedInFromAsync(ClientAddresses.Next());

        using var searchesSpent = await client.ExhaustAsync("/api/v1/tasks/search?q=a", 2);
        using var claim = await client.PostAsync("/api/v1/tasks/claim", TestJson.Body(("limit", 1), ("lease_seconds", 60)));

        Assert.Equal(HttpStatusCode.TooManyRequests, searchesSpent.StatusCode);
        Assert.Equal(HttpStatusCode.OK, claim.StatusCode);
        Assert.Equal("\"api\";q=50;w=180000, \"worker\";q=2;w=7200", claim.Field("RateLimit-Policy"));
    }
}
