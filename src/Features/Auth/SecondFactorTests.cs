using System.Net;
using System.Text.Json;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Auth;

public sealed class SecondFactorTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    /// <summary>The code an authenticator app shows now for the secret (a step ahead when <paramref name="stepsAhead"/>).</summary>
    private static string CodeFor(string secret, int stepsAhead = 0) =>
        Totp.Code(Totp.Base32Decode(secret), Totp.StepAt(DateTimeOffset.UtcNow) + stepsAhead);

    /// <summary>Enrols and confirms a second factor; returns the secret and the recovery codes.</summary>
    private static async Task<(string Secret, string[] RecoveryCodes)> EnableAsync(HttpClient session)
    {
        using var enrolled = await session.PostAsync("/api/v1/auth/totp/enrol", null);
        Assert.Equal(HttpStatusCode.OK, enrolled.StatusCode);
        var enrolment = await enrolled.ReadJsonAsync();
        var secret = enrolment.GetProperty("secret").GetString()!;
        Assert.StartsWith("otpauth://totp/TaskRunner:", enrolment.GetProperty("otpauth_uri").GetString());
        using var confirmed = await session.PostAsync("/api/v1/auth/totp/confirm", TestJson.Body(("code", CodeFor(secret, -1))));
        Assert.Equal(HttpStatusCode.OK, confirmed.StatusCode);
        var codes = (await confirmed.ReadJsonAsync()).GetProperty("recovery_codes").EnumerateArray().Select(code => code.GetString()!).ToArray();
        return (secret, codes);
    }

    private static Task<HttpResponseMessage> LoginAsync(HttpClient client, TestAccount user, params (string, object?)[] extra) =>
        client.PostAsync("/api/v1/auth/login", TestJson.Body([("email", user.Email), ("password", user.Password), .. extra]));

    [Fact]
    public void CodesMatchRfc6238sTestVector()
    {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890" at T = 59 s: 94287082, of which TOTP-6 keeps 287082.
        var key = "12345678901234567890"u8.ToArray();
        Assert.Equal("287082", Totp.Code(key, 59 / Totp.StepSeconds));
        Assert.Equal("005924", Totp.Code(key, 1234567890 / Totp.StepSeconds));
        Assert.Equal(key, Totp.Base32Decode(Totp.Base32Encode(key)));
    }

    [Fact]
    public async Task WithASecondFactorLoginNeedsACurrentCodeThatWorksOnce()
    {
        var user = await service.CreateUserAsync();
        using var session = await service.ClientForAsync(user);
        var (secret, _) = await EnableAsync(session);
        using var client = service.CreateClient();
        var code = CodeFor(secret);

        using var withoutCode = await LoginAsync(client, user);
        using var withCode = await LoginAsync(client, user, ("totp_code", code));
        using var reused = await LoginAsync(client, user, ("totp_code", code));

        Assert.Contains("second factor", (await withoutCode.AssertProblemAsync(HttpStatusCode.Unauthorized)).GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.OK, withCode.StatusCode);
        Assert.Contains("already used", (await reused.AssertProblemAsync(HttpStatusCode.Unauthorized)).GetProperty("detail").GetString());
        using var me = await session.GetAsync("/api/v1/users/me");
        Assert.True((await me.ReadJsonAsync()).GetProperty("totp_enabled").GetBoolean());
    }

    [Fact]
    public async Task ARecoveryCodeReplacesACodeOnceAndIsStoredHashed()
    {
        var user = await service.CreateUserAsync();
        using var session = await service.ClientForAsync(user);
        var (_, recoveryCodes) = await EnableAsync(session);
        using var client = service.CreateClient();

        using var first = await LoginAsync(client, user, ("recovery_code", recoveryCodes[0].ToLowerInvariant()));
        using var second = await LoginAsync(client, user, ("recovery_code", recoveryCodes[0]));

        Assert.Equal(10, recoveryCodes.Distinct().Count());
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        await second.AssertProblemAsync(HttpStatusCode.Unauthorized);
        var stored = await service.QueryTextAsync("SELECT encode(code_hash, 'hex') FROM totp_recovery_codes WHERE user_id = $1", user.Id);
        Assert.Equal(10, stored.Count);
        Assert.Contains(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(recoveryCodes[1].Replace("-", "", StringComparison.Ordinal)))), stored);
    }

    [Fact]
    public async Task ABurstOfWrongCodesLocksTheAccountLikeWrongPasswords()
    {
        var user = await service.CreateUserAsync();
        using var session = await service.ClientForAsync(user);
        var (secret, _) = await EnableAsync(session);
        using var client = service.CreateClient();
        var wrong = CodeFor(secret, 5);

        var burst = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => LoginAsync(client, user, ("totp_code", wrong))));
        using var rightCode = await LoginAsync(client, user, ("totp_code", CodeFor(secret)));

        foreach (var response in burst)
        {
            await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
            response.Dispose();
        }
        // Locked: even the right password and code are refused, with the same answer as any bad credential.
        Assert.Equal(Login.InvalidCredentials, (await rightCode.AssertProblemAsync(HttpStatusCode.Unauthorized)).GetProperty("detail").GetString());
        Assert.Equal(["1"], await service.QueryTextAsync("SELECT count(*)::text FROM audit_log WHERE action = 'auth.lockout' AND resource_id = $1", user.Id.ToString()));
        Assert.Contains("wrong_second_factor", string.Join(' ', await service.QueryTextAsync(
            "SELECT diff->'reason'->>'to' FROM audit_log WHERE action = 'auth.login_failed' AND resource_id = $1", user.Id.ToString())));
    }

    [Fact]
    public async Task AWrongConfirmationCodeEnablesNothing()
    {
        var user = await service.CreateUserAsync();
        using var session = await service.ClientForAsync(user);
        using var enrolled = await session.PostAsync("/api/v1/auth/totp/enrol", null);
        var secret = (await enrolled.ReadJsonAsync()).GetProperty("secret").GetString()!;

        using var wrong = await session.PostAsync("/api/v1/auth/totp/confirm", TestJson.Body(("code", CodeFor(secret, 5))));
        using var malformed = await session.PostAsync("/api/v1/auth/totp/confirm", TestJson.Body(("code", "12ab")));
        using var login = await LoginAsync(service.CreateClient(), user);

        Assert.NotEmpty((await wrong.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("code"));
        Assert.NotEmpty((await malformed.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("code"));
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
    }

    [Fact]
    public async Task DisablingNeedsACodeAndThenLoginNeedsOnlyThePassword()
    {
        var user = await service.CreateUserAsync();
        using var session = await service.ClientForAsync(user);
        var (secret, _) = await EnableAsync(session);

        using var withoutCode = await session.PostAsync("/api/v1/auth/totp/disable", TestJson.Body());
        using var disabled = await session.PostAsync("/api/v1/auth/totp/disable", TestJson.Body(("totp_code", CodeFor(secret))));
        using var login = await LoginAsync(service.CreateClient(), user);

        await withoutCode.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(HttpStatusCode.NoContent, disabled.StatusCode);
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        Assert.Equal(["auth.totp_enrol", "auth.totp_enable", "auth.totp_disable"], await service.QueryTextAsync(
            "SELECT action FROM audit_log WHERE resource_id = $1 AND action LIKE 'auth.totp%' ORDER BY id", user.Id.ToString()));
    }

    [Fact]
    public async Task ARequiredSecondFactorHoldsTheUsersSessionsToEnrollingIt()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var user = await service.CreateUserAsync();
        using var required = await admin.PatchAsync($"/api/v1/users/{user.Id}", TestJson.Body(("totp_required", true)));
        Assert.True((await required.ReadJsonAsync()).GetProperty("totp_required").GetBoolean());
        using var session = await service.ClientForAsync(user);

        using var held = await session.GetAsync("/api/v1/projects");
        using var me = await session.GetAsync("/api/v1/users/me");
        await EnableAsync(session);
        using var released = await session.GetAsync("/api/v1/projects");

        Assert.Contains("second factor", (await held.AssertProblemAsync(HttpStatusCode.Forbidden)).GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(HttpStatusCode.OK, released.StatusCode);
    }
}

public sealed class SecondFactorForAdminsTests(SecondFactorForAdminsTests.RequiringTotpOfAdmins service)
    : IClassFixture<SecondFactorForAdminsTests.RequiringTotpOfAdmins>
{
    public sealed class RequiringTotpOfAdmins : ServiceFixture
    {
        protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
            base.Settings(connectionString).Append(new("Auth:RequireTotpForAdmins", "true"));
    }

    [Fact]
    public async Task WithTheSettingAnAdminWithoutASecondFactorMayOnlyEnrolOne()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        using var member = await service.ClientForNewUserAsync();

        using var adminList = await admin.GetAsync("/api/v1/users");
        using var memberProjects = await member.GetAsync("/api/v1/projects");
        using var enrol = await admin.PostAsync("/api/v1/auth/totp/enrol", null);

        await adminList.AssertProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, memberProjects.StatusCode);
        Assert.Equal(HttpStatusCode.OK, enrol.StatusCode);
        Assert.Equal(JsonValueKind.String, (await enrol.ReadJsonAsync()).GetProperty("secret").ValueKind);
    }
}
