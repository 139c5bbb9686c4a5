using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Auth;

public sealed class RegisterTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private readonly HttpClient client = service.CreateClient();

    [Fact]
    public async Task ARegisteredAccountCanLogInAndNeverShowsItsPasswordHash()
    {
        var email = $"new-{Guid.NewGuid():N}@Example.Test";

        using var response = await client.PostAsync("/api/v1/auth/register", TestJson.Body(("email", email), ("password", Accounts.Password), ("display_name", "New Person")));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var user = await response.ReadJsonAsync();
        Assert.Equal(email.ToLowerInvariant(), user.GetProperty("email").GetString());
        Assert.False(user.TryGetProperty("password_hash", out _));
        Assert.Equal($"/api/v1/users/{user.GetProperty("id").GetString()}", response.Headers.Location?.ToString());
        await client.LoginAsync(email, Accounts.Password);
    }

    [Fact]
    public async Task ASecondAccountWithTheSameEmailIsAConflict()
    {
        var account = await service.CreateUserAsync();

        using var response = await client.PostAsync("/api/v1/auth/register", TestJson.Body(("email", account.Email), ("password", Accounts.Password), ("display_name", "Copy")));

        await response.AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task EveryInvalidFieldIsReportedAtOnce()
    {
        using var response = await client.PostAsync("/api/v1/auth/register", TestJson.Body(("email", "not-an-email"), ("password", "short"), ("display_name", "")));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["must be an email address"], problem.Errors("email"));
        Assert.Equal(["must be between 12 and 128 characters"], problem.Errors("password"));
        Assert.Equal(["is required"], problem.Errors("display_name"));
    }

    [Fact]
    public async Task ANulCharacterIsA422NotA500()
    {
        using var response = await client.PostAsync("/api/v1/auth/register", TestJson.Body(("email", "nul@example.test"), ("password", Accounts.Password), ("display_name", "bad\u0000name")));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["must not contain NUL characters"], problem.Errors("display_name"));
    }
}

public sealed class FirstAccountTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task TheFirstAccountBecomesAnAdminAndTheNextAMember()
    {
        using var client = service.CreateClient();

        using var first = await client.PostAsync("/api/v1/auth/register", TestJson.Body(("email", "first@example.test"), ("password", Accounts.Password), ("display_name", "First")));
        using var second = await client.PostAsync("/api/v1/auth/register", TestJson.Body(("email", "second@example.test"), ("password", Accounts.Password), ("display_name", "Second")));

        Assert.Equal("admin", (await first.ReadJsonAsync()).GetProperty("role").GetString());
        Assert.Equal("member", (await second.ReadJsonAsync()).GetProperty("role").GetString());
    }
}

public sealed class RegistrationDisabledTests(RegistrationDisabledTests.Closed service) : IClassFixture<RegistrationDisabledTests.Closed>
{
    public sealed class Closed : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Append(new("Auth:RegistrationEnabled", "false"));
    }

    [Fact]
    public async Task RegistrationSwitchedOffIsForbidden()
    {
        using var client = service.CreateClient();

        using var response = await client.PostAsync("/api/v1/auth/register", TestJson.Body(("email", "someone@example.test"), ("password", Accounts.Password), ("display_name", "Someone")));

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }
}

public sealed class RegistrationLimitTests(RegistrationLimitTests.TwoPerAddress service) : IClassFixture<RegistrationLimitTests.TwoPerAddress>
{
    public sealed class TwoPerAddress : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Concat(
            [
                new("RateLimiting:Register:PermitLimit", "2"),
                new("RateLimiting:Register:TokensPerPeriod", "1"),
                new("RateLimiting:Register:PeriodSeconds", "3600"),
            ]);
    }

    private static async Task<HttpResponseMessage> RegisterAsync(HttpClient client) =>
        await client.PostAsync("/api/v1/auth/register",
            TestJson.Body(("email", $"new-{Guid.NewGuid():N}@example.test"), ("password", Accounts.Password), ("display_name", "New Person")));

    [Fact]
    public async Task RegistrationsPastTheLimitOfAnAddressAre429WithRetryAfter()
    {
        using var client = service.CreateClientFrom(ClientAddresses.Next());
        for (var registration = 0; registration < 2; registration++)
        {
            using var created = await RegisterAsync(client);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using var refused = await RegisterAsync(client);
        using var elsewhere = await RegisterAsync(service.CreateClientFrom(ClientAddresses.Next()));

        var problem = await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal("https://tools.ietf.org/html/rfc6585#section-4", problem.GetProperty("type").GetString());
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Contains("\"register\";q=2;", string.Join(", ", refused.Headers.GetValues("RateLimit-Policy")));
        Assert.Equal(HttpStatusCode.Created, elsewhere.StatusCode);
    }
}

/// <summary>The service configured as deploy/configmap.yaml configures it (then the test basics: database, keys, no drain delay).</summary>
public sealed class DeployedConfigurationTests(DeployedConfigurationTests.Deployed service) : IClassFixture<DeployedConfigurationTests.Deployed>
{
    public sealed class Deployed : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            ConfigMapSettings().Concat(BaseSettings(connectionString));

        /// <summary>The ConfigMap's data entries as configuration keys (<c>Auth__RegistrationEnabled</c> is <c>Auth:RegistrationEnabled</c>).</summary>
        private static IEnumerable<KeyValuePair<string, string?>> ConfigMapSettings()
        {
            var inData = false;
            foreach (var line in File.ReadLines(Path.Combine(Repository.Root, "deploy", "configmap.yaml")))
            {
                if (line.StartsWith("data:", StringComparison.Ordinal))
                    inData = true;
                else if (inData && line.StartsWith("  ", StringComparison.Ordinal) && !line.TrimStart().StartsWith('#') && line.Contains(':'))
                {
                    var separator = line.IndexOf(':');
                    yield return new(line[..separator].Trim().Replace("__", ":"), line[(separator + 1)..].Trim().Trim('"'));
                }
            }
        }
    }

    [Fact]
    public async Task TheDeployedConfigurationKeepsRegistrationClosed()
    {
        using var client = service.CreateClient();

        using var response = await client.PostAsync("/api/v1/auth/register", TestJson.Body(("email", "stranger@example.test"), ("password", Accounts.Password), ("display_name", "Stranger")));

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }
}
