using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Auth;

/// <summary>Every authentication event lands in the audit log, written with the change it describes.</summary>
public sealed class AuthAuditTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private Task<List<string>> ActionsOfUserAsync(Guid userId) =>
        service.QueryTextAsync("SELECT action FROM audit_log WHERE actor_user_id = $1 OR resource_id = $2 ORDER BY id", userId, userId.ToString());

    [Fact]
    public async Task ALoginARefreshAndALogoutAreEachRecorded()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClient();
        var tokens = await client.LoginAsync(account.Email, account.Password);
        using (await client.PostAsync("/api/v1/auth/refresh", TestJson.Body(("refresh_token", tokens.GetProperty("refresh_token").GetString()))))
        {
        }
        using var session = await service.ClientForAsync(account);
        using (await session.PostAsync("/api/v1/auth/logout", null))
        {
        }

        var actions = await ActionsOfUserAsync(account.Id);

        Assert.Equal(["auth.login", "auth.refresh", "auth.login", "auth.logout"], actions);
    }

    [Fact]
    public async Task FailuresTheLockoutAndReuseOfARefreshTokenAreRecorded()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClient();
        for (var attempt = 0; attempt < 5; attempt++)
            using (await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", account.Email), ("password", "wrong password " + attempt)))) { }

        var actions = await ActionsOfUserAsync(account.Id);

        Assert.Equal(5, actions.Count(action => action == "auth.login_failed"));
        Assert.Single(actions, "auth.lockout");
    }

    [Fact]
    public async Task ReusingARefreshTokenIsRecordedAsTheft()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClient();
        var tokens = await client.LoginAsync(account.Email, account.Password);
        var refresh = TestJson.Body(("refresh_token", tokens.GetProperty("refresh_token").GetString()));
        using (await client.PostAsync("/api/v1/auth/refresh", refresh)) { }
        using (await client.PostAsync("/api/v1/auth/refresh", TestJson.Body(("refresh_token", tokens.GetProperty("refresh_token").GetString())))) { }

        Assert.Contains("auth.refresh_reuse", await ActionsOfUserAsync(account.Id));
    }

    [Fact]
    public async Task KeysCreatedRevokedAndRefusedAreRecorded()
    {
        var account = await service.CreateUserAsync();
        using var member = await service.ClientForAsync(account);
        using var created = await member.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "audited")));
        var keyId = (await created.ReadJsonAsync()).GetProperty("id").GetString();
        using (await member.DeleteAsync($"/api/v1/auth/api-keys/{keyId}")) { }
        using (await member.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "too high"), ("role", "admin")))) { }

        var actions = await ActionsOfUserAsync(account.Id);

        Assert.Contains("api_key.create", actions);
        Assert.Contains("api_key.revoke", actions);
        Assert.Contains("api_key.create_denied", actions);
    }

    [Fact]
    public async Task AForbiddenAttemptAndARejectedTokenAreRecorded()
    {
        var account = await service.CreateUserAsync();
        using var member = await service.ClientForAsync(account);
        using var forbidden = await member.PatchAsync($"/api/v1/users/{account.Id}", TestJson.Body(("role", "admin")));
        using var forged = service.CreateClient().WithBearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl");
        using var rejected = await forged.GetAsync("/api/v1/users/me");

        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, rejected.StatusCode);
        Assert.Contains("auth.forbidden", await ActionsOfUserAsync(account.Id));
        Assert.NotEmpty(await service.QueryTextAsync("SELECT action FROM audit_log WHERE action = 'auth.credentials_rejected'"));
    }

    [Fact]
    public async Task AnAdminsRoleChangeIsRecordedWithItsDiff()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var member = await service.CreateUserAsync();

        using (await admin.PatchAsync($"/api/v1/users/{member.Id}", TestJson.Body(("role", "viewer")))) { }

        var diffs = await service.QueryTextAsync(
            "SELECT diff::text FROM audit_log WHERE action = 'user.update' AND resource_id = $1", member.Id.ToString());
        Assert.Contains("\"role\": {\"to\": \"viewer\", \"from\": \"member\"}", Assert.Single(diffs));
    }
}

public sealed class LoginGateTests(LoginGateTests.TightLoginLimit service) : IClassFixture<LoginGateTests.TightLoginLimit>
{
    public sealed class TightLoginLimit : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString)
                .Append(new("RateLimiting:Login:PermitLimit", "2"))
                .Append(new("RateLimiting:Login:TokensPerPeriod", "2"));
    }

    [Fact]
    public async Task LoginAttemptsForOneEmailFromOneAddressAreRateLimited()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClient();
        await client.LoginAsync(account.Email, account.Password);
        await client.LoginAsync(account.Email, account.Password);

        using var third = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", account.Email), ("password", account.Password)));

        await third.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.NotNull(third.Headers.RetryAfter);
        Assert.True(third.Headers.Contains("RateLimit-Policy"));
    }
}
