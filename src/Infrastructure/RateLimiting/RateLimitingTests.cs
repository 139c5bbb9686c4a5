using System.Net;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.RateLimiting;

/// <summary>Helpers the rate-limit tests share: callers at addresses of their own, and the RateLimit fields.</summary>
internal static class RateLimitTesting
{
    public const string Me = "/api/v1/users/me";

    /// <summary>Small buckets that do not refill within a test: a burst of 3 API calls, 2 logins per email, 5 per address.</summary>
    public static IEnumerable<KeyValuePair<string, string?>> SmallLimits(IEnumerable<KeyValuePair<string, string?>> settings) =>
        settings.Concat(
        [
            new("RateLimiting:ExemptAdmins", "true"),
            new("RateLimiting:Api:PermitLimit", "3"),
            new("RateLimiting:Api:TokensPerPeriod", "1"),
            new("RateLimiting:Api:PeriodSeconds", "3600"),
            new("RateLimiting:Login:PermitLimit", "2"),
            new("RateLimiting:Login:TokensPerPeriod", "1"),
            new("RateLimiting:Login:PeriodSeconds", "3600"),
            new("RateLimiting:LoginIp:PermitLimit", "5"),
            new("RateLimiting:LoginIp:TokensPerPeriod", "1"),
            new("RateLimiting:LoginIp:PeriodSeconds", "3600"),
        ]);

    /// <summary>A new user signed in from <paramref name="address"/> (the login itself is one anonymous call from there).</summary>
    public static async Task<HttpClient> SignedInFromAsync(this ServiceFixture service, IPAddress address, string role = Roles.Member)
    {
        var account = await service.CreateUserAsync(role);
        var client = service.CreateClientFrom(address);
        var tokens = await client.LoginAsync(account.Email, account.Password);
        return client.WithBearer(tokens.GetProperty("access_token").GetString()!);
    }

    public static string? Field(this HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(", ", values) : null;

    /// <summary>Calls <paramref name="path"/> until the burst is spent; returns the first refused response.</summary>
    public static async Task<HttpResponseMessage> ExhaustAsync(this HttpClient client, string path, int burst)
    {
        for (var i = 0; i < burst; i++)
        {
            using var allowed = await client.GetAsync(path);
            Assert.NotEqual(HttpStatusCode.TooManyRequests, allowed.StatusCode);
        }
        return await client.GetAsync(path);
    }
}

public sealed class RateLimitingTests(RateLimitingTests.SmallLimitsService service) : IClassFixture<RateLimitingTests.SmallLimitsService>
{
    public sealed class SmallLimitsService : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            RateLimitTesting.SmallLimits(base.Settings(connectionString));
    }

    [Fact]
    public async Task ALimitedRouteAnnouncesItsPolicyAndTheCallersRemainingQuota()
    {
        using var client = service.CreateClientFrom(ClientAddresses.Next());

        using var response = await client.GetAsync(RateLimitTesting.Me);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("\"api\";q=3;w=10800", response.Field("RateLimit-Policy"));
        Assert.Matches("^\"api\";r=2;t=36[0-9]{2}$", response.Field("RateLimit"));
    }

    [Fact]
    public async Task ACallerPastItsBurstGetsA429ProblemWithRetryAfter()
    {
        using var client = service.CreateClientFrom(ClientAddresses.Next());

        using var refused = await client.ExhaustAsync(RateLimitTesting.Me, 3);

        var problem = await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal("Too Many Requests", problem.GetProperty("title").GetString());
        var retryAfter = refused.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value.TotalSeconds, 1, 3600);
        Assert.StartsWith("\"api\";r=0;", refused.Field("RateLimit"));
        Assert.Equal("\"api\";q=3;w=10800", refused.Field("RateLimit-Policy"));
    }

    [Fact]
    public async Task ATooManyRequestsProblemNamesItsTypeLikeEveryOtherProblem()
    {
        using var client = service.CreateClientFrom(ClientAddresses.Next());

        using var refused = await client.ExhaustAsync(RateLimitTesting.Me, 3);

        var problem = await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal("https://tools.ietf.org/html/rfc6585#section-4", problem.GetProperty("type").GetString());
    }

    [Fact]
    public async Task EachUserHasABucketOfItsOwnWhateverTheAddress()
    {
        var address = ClientAddresses.Next();
        using var first = await service.SignedInFromAsync(address);
        using var second = await service.SignedInFromAsync(address);

        using var refused = await first.ExhaustAsync(RateLimitTesting.Me, 3);
        using var other = await second.GetAsync(RateLimitTesting.Me);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.StartsWith("\"api\";r=2;", other.Field("RateLimit"));
    }

    [Fact]
    public async Task AnApiKeyHasABucketApartFromItsOwner()
    {
        var address = ClientAddresses.Next();
        using var owner = await service.SignedInFromAsync(address);
        using var created = await owner.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "rate limited")));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        using var keyClient = service.CreateClientFrom(address).WithApiKey((await created.ReadJsonAsync()).GetProperty("key").GetString()!);

        using var refused = await keyClient.ExhaustAsync(RateLimitTesting.Me, 3);
        using var ownerCall = await owner.GetAsync(RateLimitTesting.Me);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ownerCall.StatusCode);
    }

    [Fact]
    public async Task AnonymousCallersAreLimitedPerAddress()
    {
        using var spent = service.CreateClientFrom(ClientAddresses.Next());
        using var fresh = service.CreateClientFrom(ClientAddresses.Next());

        using var refused = await spent.ExhaustAsync(RateLimitTesting.Me, 3);
        using var other = await fresh.GetAsync(RateLimitTesting.Me);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, other.StatusCode);
    }

    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health")]
    [InlineData("/metrics")]
    [InlineData("/openapi/v1.json")]
    [InlineData("/api/docs")]
    public async Task OperationalEndpointsAreNeverLimited(string path)
    {
        using var client = service.CreateClientFrom(ClientAddresses.Next());

        for (var i = 0; i < 6; i++)
        {
            using var response = await client.GetAsync(path);
            Assert.NotEqual(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.Null(response.Field("RateLimit"));
            Assert.Null(response.Field("RateLimit-Policy"));
        }
    }

    [Fact]
    public async Task AdminsAreNotLimitedWhenExemptAdminsIsOn()
    {
        using var admin = await service.SignedInFromAsync(ClientAddresses.Next(), Roles.Admin);

        for (var i = 0; i < 6; i++)
        {
            using var response = await admin.GetAsync(RateLimitTesting.Me);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Null(response.Field("RateLimit"));
        }
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task TheLoginGateLimitsEachAddressAndEmailPair()
    {
        var address = ClientAddresses.Next();
        using var client = service.CreateClientFrom(address);
        using var elsewhere = service.CreateClientFrom(ClientAddresses.Next());

        for (var i = 0; i < 2; i++)
        {
            using var allowed = await client.PostAsync(TestEndpoints.LoginGate, TestJson.Body(("email", "target@example.test")));
            Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
        }
        using var refused = await client.PostAsync(TestEndpoints.LoginGate, TestJson.Body(("email", "TARGET@example.test")));
        using var otherEmail = await client.PostAsync(TestEndpoints.LoginGate, TestJson.Body(("email", "other@example.test")));
        using var otherAddress = await elsewhere.PostAsync(TestEndpoints.LoginGate, TestJson.Body(("email", "target@example.test")));

        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
        Assert.Equal("\"login-ip\";q=5;w=18000, \"login\";q=2;w=7200", refused.Field("RateLimit-Policy"));
        Assert.Matches("^\"login-ip\";r=2;t=[0-9]+, \"login\";r=0;t=[0-9]+$", refused.Field("RateLimit"));
        Assert.Equal(HttpStatusCode.NoContent, otherEmail.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, otherAddress.StatusCode);
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task TheLoginGateLimitsEachAddressWhateverTheEmail()
    {
        using var client = service.CreateClientFrom(ClientAddresses.Next());

        for (var i = 0; i < 5; i++)
        {
            using var allowed = await client.PostAsync(TestEndpoints.LoginGate, TestJson.Body(("email", $"user{i}@example.test")));
            Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
        }
        using var refused = await client.PostAsync(TestEndpoints.LoginGate, TestJson.Body(("email", "user5@example.test")));

        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.StartsWith("\"login-ip\";r=0;", refused.Field("RateLimit"));
    }
}

public sealed class RateLimitingOffTests(RateLimitingOffTests.LimitsOff service) : IClassFixture<RateLimitingOffTests.LimitsOff>
{
    public sealed class LimitsOff : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            RateLimitTesting.SmallLimits(base.Settings(connectionString)).Append(new("RateLimiting:Enabled", "false"));
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task NothingIsLimitedOrAnnouncedWhileRateLimitingIsOff()
    {
        using var client = service.CreateClientFrom(ClientAddresses.Next());

        for (var i = 0; i < 6; i++)
        {
            using var api = await client.GetAsync(RateLimitTesting.Me);
            using var login = await client.PostAsync(TestEndpoints.LoginGate, TestJson.Body(("email", "target@example.test")));
            Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, login.StatusCode);
            Assert.Null(api.Field("RateLimit"));
            Assert.Null(login.Field("RateLimit"));
        }
    }
}

public sealed class RateLimitConfigurationTests
{
    [Fact]
    public async Task BadRateLimitSettingsStopTheProcessNamingEachSetting()
    {
        await using var process = ServiceProcess.Start(
        [
            new("Database:ConnectionString", "Host=127.0.0.1;Username=postgres"),
            new("RateLimiting:Store", "memcached"),
            new("RateLimiting:Api:PermitLimit", "0"),
        ]);

        Assert.Equal(1, await process.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var line = Assert.Single(process.Output.Split('\n'), line => line.Contains("Invalid configuration", StringComparison.Ordinal));
        Assert.Contains("RateLimiting:Store: must be local or redis", line);
        Assert.Contains("RateLimiting:Api:PermitLimit: must be between 1 and 1000000", line);
    }

    [Fact]
    public async Task TheRedisStoreRequiresAConnectionString()
    {
        await using var process = ServiceProcess.Start(
        [
            new("Database:ConnectionString", "Host=127.0.0.1;Username=postgres"),
            new("RateLimiting:Store", "redis"),
        ]);

        Assert.Equal(1, await process.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("RateLimiting:Redis:ConnectionString: is required when Store is redis", process.Output);
    }
}
