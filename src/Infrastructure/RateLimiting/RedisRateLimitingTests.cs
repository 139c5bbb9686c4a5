using System.Diagnostics;
using System.Net;
using System.Text.Json;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.RateLimiting;

/// <summary>A service whose buckets live in Redis at <see cref="RedisConnectionString"/>, under a key prefix of its own.</summary>
public abstract class RedisLimitedService : ServiceFixture
{
    private readonly string keyPrefix = TestRedis.UniqueKeyPrefix();

    protected string RedisConnectionString { get; private set; } = "";

    /// <summary>The settings of this node, for starting another one beside it.</summary>
    public IEnumerable<KeyValuePair<string, string?>> NodeSettings => Settings(ConnectionString);

    protected abstract Task<string> StartRedisAsync();

    /// <summary>Redis is found beside the database, as <see cref="Settings"/> needs both before the service starts.</summary>
    protected override async Task<string> CreateDatabaseAsync()
    {
        RedisConnectionString = await StartRedisAsync();
        return await base.CreateDatabaseAsync();
    }

    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        RateLimitTesting.SmallLimits(base.Settings(connectionString)).Concat(
        [
            new("RateLimiting:Store", "redis"),
            new("RateLimiting:Redis:ConnectionString", RedisConnectionString),
            new("RateLimiting:Redis:KeyPrefix", keyPrefix),
            new("Logging:LogLevel:TaskRunner.Infrastructure.RateLimiting", "Error"),
        ]);
}

internal static class RateLimitStoreHealth
{
    /// <summary>The rate_limit_store entry of /health/detailed, which only admins may read.</summary>
    public static async Task<JsonElement> ReadAsync(HttpClient admin)
    {
        using var response = await admin.GetAsync("/health/detailed");
        Assert.NotEqual(HttpStatusCode.TooManyRequests, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("checks").GetProperty(RateLimitStoreHealthCheck.Name);
    }

    /// <summary>An admin signed in on the node at <paramref name="baseAddress"/>, from an address of its own.</summary>
    public static async Task<HttpClient> AdminOnAsync(ServiceFixture service, Uri baseAddress)
    {
        var account = await service.CreateUserAsync(Security.Roles.Admin);
        var client = ClientAddresses.From(baseAddress, ClientAddresses.Next());
        var tokens = await client.LoginAsync(account.Email, account.Password);
        return client.WithBearer(tokens.GetProperty("access_token").GetString()!);
    }

    /// <summary>Waits until the node reports the wanted description prefix (a node connects to Redis in the background).</summary>
    public static async Task<JsonElement> WaitForAsync(ServiceFixture service, Uri baseAddress, string description)
    {
        using var admin = await AdminOnAsync(service, baseAddress);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var check = await ReadAsync(admin);
            if (check.GetProperty("description").GetString()!.StartsWith(description, StringComparison.Ordinal)
                || deadline.Elapsed > TimeSpan.FromSeconds(10))
                return check;
            await Task.Delay(50);
        }
    }
}

public sealed class SharedRedisLimitTests(SharedRedisLimitTests.SharedRedis service) : IClassFixture<SharedRedisLimitTests.SharedRedis>
{
    public sealed class SharedRedis : RedisLimitedService
    {
        protected override Task<string> StartRedisAsync() => TestRedis.ConnectionStringAsync();
    }

    [Fact]
    public async Task TwoNodesOnOneRedisShareOneLimit()
    {
        await using var second = await SecondNode.StartAsync(service, service.NodeSettings);
        Assert.Equal("redis", (await RateLimitStoreHealth.WaitForAsync(service, service.BaseAddress, "redis")).GetProperty("description").GetString());
        Assert.Equal("redis", (await RateLimitStoreHealth.WaitForAsync(service, second.BaseAddress, "redis")).GetProperty("description").GetString());
        var address = ClientAddresses.Next();
        using var first = service.CreateClientFrom(address);
        using var other = ClientAddresses.From(second.BaseAddress, address);

        using var one = await first.GetAsync(RateLimitTesting.Me);
        using var two = await other.GetAsync(RateLimitTesting.Me);
        using var three = await first.GetAsync(RateLimitTesting.Me);
        using var refusedBySecond = await other.GetAsync(RateLimitTesting.Me);
        using var refusedByFirst = await first.GetAsync(RateLimitTesting.Me);

        Assert.Equal(
            ["\"api\";r=2", "\"api\";r=1", "\"api\";r=0"],
            new[] { one, two, three }.Select(response => response.Field("RateLimit")!.Split(";t=")[0]));
        await refusedBySecond.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        await refusedByFirst.AssertProblemAsync(HttpStatusCode.TooManyRequests);
    }

    [Fact]
    public async Task TheHealthCheckReportsTheRedisStore()
    {
        var check = await RateLimitStoreHealth.WaitForAsync(service, service.BaseAddress, "redis");

        Assert.Equal("healthy", check.GetProperty("status").GetString());
        Assert.Equal("redis", check.GetProperty("description").GetString());
    }
}

public sealed class UnreachableRedisTests(UnreachableRedisTests.NoRedis service) : IClassFixture<UnreachableRedisTests.NoRedis>
{
    /// <summary>Configured for a Redis on a port where nothing listens.</summary>
    public sealed class NoRedis : RedisLimitedService
    {
        protected override Task<string> StartRedisAsync() => Task.FromResult("127.0.0.1:1");
    }

    [Fact]
    public async Task RequestsAreStillServedUnderLocalLimitsWhileRedisIsUnreachable()
    {
        using var client = service.CreateClientFrom(ClientAddresses.Next());
        var elapsed = Stopwatch.StartNew();

        using var refused = await client.ExhaustAsync(RateLimitTesting.Me, 3);

        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.StartsWith("\"api\";r=0;", refused.Field("RateLimit"));
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(5), $"four requests took {elapsed.Elapsed}");
    }

    [Fact]
    public async Task TheHealthCheckReportsTheFallbackWithoutFailingTheSummary()
    {
        using var client = service.CreateClient();

        using var response = await client.GetAsync("/health");

        // The anonymous summary stays 200 and does not show the store's error text; admins see it in /health/detailed.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False((await response.ReadJsonAsync()).GetProperty("checks").TryGetProperty(RateLimitStoreHealthCheck.Name, out _));
    }
    [Fact]
    public async Task TheDetailedHealthShowsAdminsTheFallback()
    {
        using var admin = await service.SignedInFromAsync(ClientAddresses.Next(), Security.Roles.Admin);

        using var response = await admin.GetAsync("/health/detailed");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var check = (await response.ReadJsonAsync()).GetProperty("checks").GetProperty(RateLimitStoreHealthCheck.Name);
        Assert.Equal("degraded", check.GetProperty("status").GetString());
        Assert.StartsWith("fallback to local limits", check.GetProperty("description").GetString());
    }
}

public sealed class RedisOutageTests(RedisOutageTests.PrivateRedis service) : IClassFixture<RedisOutageTests.PrivateRedis>
{
    /// <summary>A Redis instance of this class alone, as its test stops it.</summary>
    public sealed class PrivateRedis : RedisLimitedService
    {
        public const string Instance = "ratelimit-outage";

        protected override Task<string> StartRedisAsync() => TestRedis.StartAsync(Instance);
    }

    [Fact]
    public async Task LimitingCarriesOnLocallyWhenRedisStopsMidRun()
    {
        try
        {
            await RateLimitStoreHealth.WaitForAsync(service, service.BaseAddress, "redis");
            using var client = service.CreateClientFrom(ClientAddresses.Next());
            using var beforeOutage = await client.GetAsync(RateLimitTesting.Me);
            Assert.StartsWith("\"api\";r=2;", beforeOutage.Field("RateLimit"));

            await TestRedis.StopAsync(PrivateRedis.Instance);
            var statuses = new List<HttpStatusCode>();
            for (var i = 0; i < 5; i++)
            {
                using var response = await client.GetAsync(RateLimitTesting.Me);
                statuses.Add(response.StatusCode);
            }

            // This node's own bucket takes over (a fresh burst of 3), and no request fails because Redis went away.
            Assert.All(statuses, status => Assert.True(status is HttpStatusCode.Unauthorized or HttpStatusCode.TooManyRequests, $"got {status}"));
            Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
            using var admin = await RateLimitStoreHealth.AdminOnAsync(service, service.BaseAddress);
            var check = await RateLimitStoreHealth.ReadAsync(admin);
            Assert.Equal("degraded", check.GetProperty("status").GetString());
        }
        finally
        {
            await TestRedis.DestroyAsync(PrivateRedis.Instance);
        }
    }
}
