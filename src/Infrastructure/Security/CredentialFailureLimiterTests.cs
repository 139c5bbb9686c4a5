using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Security;

public sealed class CredentialFailureLimiterTests(CredentialFailureLimiterTests.SmallFailureBudget service)
    : IClassFixture<CredentialFailureLimiterTests.SmallFailureBudget>
{
    public sealed class SmallFailureBudget : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Concat(
            [
                new("RateLimiting:CredentialFailures:PermitLimit", "3"),
                new("RateLimiting:CredentialFailures:TokensPerPeriod", "1"),
                new("RateLimiting:CredentialFailures:PeriodSeconds", "3600"),
            ]);
    }

    private static string MadeUpKey() => ApiKeyFormat.Compose(Guid.NewGuid().ToString("N")[..ApiKeyFormat.PrefixLength], "made-up-secret-part");

    private static async Task<HttpResponseMessage> CallWithKeyAsync(HttpClient client, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/users/me");
        request.Headers.Add(ApiKeyFormat.HeaderName, key);
        return await client.SendAsync(request);
    }

    private Task<List<string>> RejectionsAuditedFromAsync(IPAddress address) => service.QueryTextAsync(
        "SELECT count(*)::text FROM audit_log WHERE action = 'auth.credentials_rejected' AND host(ip) = $1", address.ToString());

    [Fact]
    public async Task MadeUpKeysPastAnAddressesFailureBudgetAreRefusedWith429BeforeAnyLookupOrAuditRow()
    {
        var address = ClientAddresses.Next();
        using var guesser = service.CreateClientFrom(address);
        for (var guess = 0; guess < 3; guess++)
        {
            using var unknown = await CallWithKeyAsync(guesser, MadeUpKey());
            Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        }

        using var refused = await CallWithKeyAsync(guesser, MadeUpKey());
        using var elsewhere = await CallWithKeyAsync(service.CreateClientFrom(ClientAddresses.Next()), MadeUpKey());

        var problem = await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal("https://tools.ietf.org/html/rfc6585#section-4", problem.GetProperty("type").GetString());
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.FromMinutes(30));
        Assert.Equal(HttpStatusCode.Unauthorized, elsewhere.StatusCode);
        Assert.Equal(["3"], await RejectionsAuditedFromAsync(address));
    }

    [Fact]
    public async Task MalformedKeysAndForgedBearerTokensSpendTheSameBudget()
    {
        var address = ClientAddresses.Next();
        using var guesser = service.CreateClientFrom(address);
        using (var malformed = await CallWithKeyAsync(guesser, "trk_x_x"))
            Assert.Equal(HttpStatusCode.Unauthorized, malformed.StatusCode);
        guesser.WithBearer("forged.bearer.token");
        for (var guess = 0; guess < 2; guess++)
        {
            using var forged = await guesser.GetAsync("/api/v1/users/me");
            Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        }

        using var refused = await guesser.GetAsync("/api/v1/users/me");

        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal(["3"], await RejectionsAuditedFromAsync(address));
    }

    [Fact]
    public async Task AWrongSecretForARealKeyCountsAsAFailedCheckToo()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var created = await owner.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "real")));
        var key = (await created.ReadJsonAsync()).GetProperty("key").GetString()!;
        Assert.True(ApiKeyFormat.TryParse(key, out var prefix, out _));
        using var guesser = service.CreateClientFrom(ClientAddresses.Next());
        for (var guess = 0; guess < 3; guess++)
        {
            using var wrong = await CallWithKeyAsync(guesser, ApiKeyFormat.Compose(prefix, "wrong-secret-" + guess));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var refused = await CallWithKeyAsync(guesser, MadeUpKey());

        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests);
    }
}

public sealed class CallerStateCacheTests : DatabaseTest
{
    [Fact]
    public async Task AKeyThatIsNotFoundLeavesNothingInTheCache()
    {
        var cache = new CallerStateCache(DataSource, TimeProvider.System, Microsoft.Extensions.Options.Options.Create(new Configuration.AuthOptions()));

        for (var i = 0; i < 50; i++)
            Assert.Null(await cache.GetApiKeyAsync(Guid.NewGuid().ToString("N")[..ApiKeyFormat.PrefixLength], CancellationToken.None));
        Assert.Null(await cache.GetSessionAsync(Guid.NewGuid(), CancellationToken.None));

        Assert.Equal(0, cache.Count);
    }
}

public sealed class ExpiringCacheTests
{
    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void AnExpiredEntryIsNotReturnedAndIsDropped()
    {
        var clock = new ManualClock();
        var cache = new ExpiringCache<string, int>(10, clock);
        cache.Set("a", 1, clock.Now.AddSeconds(60));

        clock.Now = clock.Now.AddSeconds(61);

        Assert.False(cache.TryGet("a", out _));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void AFullCacheDropsItsExpiredEntriesFirstAndNeverGrowsPastItsCapacity()
    {
        var clock = new ManualClock();
        var cache = new ExpiringCache<int, int>(4, clock);
        cache.Set(1, 1, clock.Now.AddSeconds(10));
        cache.Set(2, 2, clock.Now.AddSeconds(100));
        cache.Set(3, 3, clock.Now.AddSeconds(100));
        cache.Set(4, 4, clock.Now.AddSeconds(100));
        clock.Now = clock.Now.AddSeconds(20);

        cache.Set(5, 5, clock.Now.AddSeconds(100));

        Assert.False(cache.TryGet(1, out _));
        Assert.True(cache.TryGet(2, out _));
        Assert.True(cache.TryGet(5, out _));
        for (var i = 6; i < 1000; i++)
        {
            cache.Set(i, i, clock.Now.AddSeconds(100));
            Assert.InRange(cache.Count, 1, 4);
        }
    }
}
