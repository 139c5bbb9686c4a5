using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Auth;

public sealed class LoginTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private readonly HttpClient client = service.CreateClient();

    [Fact]
    public async Task ALoginReturnsABearerTokenThatAuthenticatesTheUser()
    {
        var account = await service.CreateUserAsync();

        var tokens = await client.LoginAsync(account.Email, account.Password);

        Assert.Equal("Bearer", tokens.GetProperty("token_type").GetString());
        Assert.True(tokens.GetProperty("expires_in").GetInt32() > 0);
        Assert.False(string.IsNullOrEmpty(tokens.GetProperty("refresh_token").GetString()));
        using var me = await service.CreateClient().WithBearer(tokens.GetProperty("access_token").GetString()!).GetAsync("/api/v1/users/me");
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(account.Email, (await me.ReadJsonAsync()).GetProperty("email").GetString());
    }

    [Fact]
    public async Task EmailsAreMatchedWhateverTheirCase()
    {
        var account = await service.CreateUserAsync();

        var tokens = await client.LoginAsync(account.Email.ToUpperInvariant(), account.Password);

        Assert.False(string.IsNullOrEmpty(tokens.GetProperty("access_token").GetString()));
    }

    [Fact]
    public async Task AWrongPasswordAndAnUnknownEmailGetTheSame401()
    {
        var account = await service.CreateUserAsync();

        using var wrongPassword = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", account.Email), ("password", "not the password at all")));
        using var unknownEmail = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", "nobody@example.test"), ("password", "not the password at all")));

        var first = await wrongPassword.AssertProblemAsync(HttpStatusCode.Unauthorized);
        var second = await unknownEmail.AssertProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Equal(first.GetProperty("detail").GetString(), second.GetProperty("detail").GetString());
        Assert.Equal("Bearer", wrongPassword.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Fact]
    public async Task AMissingEmailAndPasswordAreBothReported()
    {
        using var response = await client.PostAsync("/api/v1/auth/login", TestJson.Body());

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is required"], problem.Errors("email"));
        Assert.Equal(["is required"], problem.Errors("password"));
    }

    [Fact]
    public async Task ADisabledUserCannotLogIn()
    {
        var account = await service.CreateUserAsync();
        await service.ExecuteSqlAsync("UPDATE users SET disabled = true WHERE id = $1", account.Id);

        using var response = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", account.Email), ("password", account.Password)));

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task RepeatedFailuresLockTheAccountEvenForTheRightPassword()
    {
        var account = await service.CreateUserAsync();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            using var failure = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", account.Email), ("password", "wrong password " + attempt)));
            Assert.Equal(HttpStatusCode.Unauthorized, failure.StatusCode);
        }

        using var response = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", account.Email), ("password", account.Password)));

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }
}

public sealed class ExpiredLockoutTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AfterALockRunsOutOneWrongPasswordDoesNotLockTheAccountAgain()
    {
        var account = await service.CreateUserAsync();
        await service.ExecuteSqlAsync(
            "UPDATE users SET failed_logins = 5, locked_until = now() - interval '1 minute' WHERE id = $1", account.Id);
        using var client = service.CreateClient();

        using var wrong = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", account.Email), ("password", "one more wrong guess")));
        using var right = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", account.Email), ("password", account.Password)));

        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Equal("no-store", right.Headers.CacheControl?.ToString());
    }
}

public sealed class LoginThrottlingTests(LoginThrottlingTests.StrictAddressLimit service) : IClassFixture<LoginThrottlingTests.StrictAddressLimit>
{
    public sealed class StrictAddressLimit : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Append(new("Auth:IpMaxFailures", "3"));
    }

    [Fact]
    public async Task RepeatedFailuresFromOneAddressAreSlowedDownWith429()
    {
        using var client = service.CreateClient();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            using var failure = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", $"guess{attempt}@example.test"), ("password", "guessing password")));
            Assert.Equal(HttpStatusCode.Unauthorized, failure.StatusCode);
        }
        var account = await service.CreateUserAsync();

        using var response = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", account.Email), ("password", account.Password)));

        await response.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
    }
}

public sealed class ParallelLoginTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AParallelBurstOfWrongPasswordsChecksNoMoreOfThemThanTheLockoutAllows()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClientFrom(ClientAddresses.Next());

        var burst = await Task.WhenAll(Enumerable.Range(0, 12).Select(attempt =>
            client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", account.Email), ("password", "wrong password " + attempt)))));
        using var right = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", account.Email), ("password", account.Password)));

        Assert.All(burst, response => Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode));
        Assert.Equal(HttpStatusCode.Unauthorized, right.StatusCode);
        Assert.Equal(["5"], await service.QueryTextAsync("""
            SELECT count(*)::text FROM audit_log
            WHERE action = 'auth.login_failed' AND resource_id = $1 AND diff->'reason'->>'to' = 'wrong_password'
            """, account.Id.ToString()));
        foreach (var response in burst)
            response.Dispose();
    }
}

public sealed class PasswordHashingCapTests(PasswordHashingCapTests.OneHashingSlot service) : IClassFixture<PasswordHashingCapTests.OneHashingSlot>
{
    public sealed class OneHashingSlot : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Concat(
            [
                new("Auth:MaxConcurrentPasswordHashes", "1"),
                new("Auth:PasswordHashQueueMilliseconds", "0"),
            ]);
    }

    [Fact]
    public async Task LoginsBeyondTheHashingCapAre503WithRetryAfter()
    {
        using var client = service.CreateClientFrom(ClientAddresses.Next());

        var burst = await Task.WhenAll(Enumerable.Range(0, 8).Select(attempt =>
            client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", $"guess{attempt}@example.test"), ("password", "guessing password")))));

        Assert.All(burst, response => Assert.Contains(response.StatusCode, new[] { HttpStatusCode.Unauthorized, HttpStatusCode.ServiceUnavailable }));
        var busy = burst.First(response => response.StatusCode == HttpStatusCode.ServiceUnavailable);
        await busy.AssertProblemAsync(HttpStatusCode.ServiceUnavailable);
        Assert.Equal(TimeSpan.FromSeconds(1), busy.Headers.RetryAfter?.Delta);
        foreach (var response in burst)
            response.Dispose();
    }
}
