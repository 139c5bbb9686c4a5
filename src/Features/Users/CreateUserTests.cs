using System.Net;
using System.Text.Json;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Users;

public sealed class CreateUserTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const string ChosenPassword = "a password the user chose";

    private static async Task<JsonElement> CreateAsync(HttpClient admin, string email, string? role = null)
    {
        using var response = await admin.PostAsync("/api/v1/users", TestJson.Body(("email", email), ("display_name", "Ada"), ("role", role)));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        return await response.ReadJsonAsync();
    }

    private static StringContent Redeem(string token, string password = ChosenPassword) =>
        TestJson.Body(("token", token), ("new_password", password));

    [Fact]
    public async Task AnAdminCreatesAnAccountWhoseUserLogsInOnlyAfterSettingAPasswordWithTheToken()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var email = $"new-{Guid.NewGuid():N}@example.test";
        var created = await CreateAsync(admin, email, "viewer");
        var token = created.GetProperty("set_password").GetProperty("token").GetString()!;
        using var client = service.CreateClient();

        using var before = await client.PostAsync("/api/v1/auth/login", TestJson.Body(("email", email), ("password", ChosenPassword)));
        using var redeemed = await client.PostAsync("/api/v1/auth/password-tokens/redeem", Redeem(token));
        var tokens = await client.LoginAsync(email, ChosenPassword);

        Assert.Equal("viewer", created.GetProperty("role").GetString());
        Assert.Equal("set_password", created.GetProperty("set_password").GetProperty("purpose").GetString());
        await before.AssertProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.NoContent, redeemed.StatusCode);
        Assert.False(string.IsNullOrEmpty(tokens.GetProperty("access_token").GetString()));
        Assert.Equal(["user.create", "user.password_set"], await service.QueryTextAsync(
            "SELECT action FROM audit_log WHERE resource_id = $1 AND action LIKE 'user.%' ORDER BY id", created.GetProperty("id").GetString()!));
        // Only the token's SHA-256 was ever stored.
        Assert.Equal([Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)))],
            await service.QueryTextAsync("SELECT encode(token_hash, 'hex') FROM password_tokens WHERE user_id = $1", created.GetProperty("id").GetGuid()));
    }

    [Fact]
    public async Task ASetPasswordTokenWorksOnce()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var created = await CreateAsync(admin, $"once-{Guid.NewGuid():N}@example.test");
        var token = created.GetProperty("set_password").GetProperty("token").GetString()!;
        using var client = service.CreateClient();

        using var first = await client.PostAsync("/api/v1/auth/password-tokens/redeem", Redeem(token));
        using var second = await client.PostAsync("/api/v1/auth/password-tokens/redeem", Redeem(token, "another password entirely"));

        Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);
        await second.AssertProblemAsync(HttpStatusCode.Unauthorized);
        await client.LoginAsync(created.GetProperty("email").GetString()!, ChosenPassword);
    }

    [Fact]
    public async Task AnExistingEmailIsAConflict()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var existing = await service.CreateUserAsync();

        using var response = await admin.PostAsync("/api/v1/users", TestJson.Body(("email", existing.Email.ToUpperInvariant()), ("display_name", "Twin")));

        await response.AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task EveryInvalidFieldIsReportedAtOnce()
    {
        using var admin = await service.ClientForNewUserAsync("admin");

        using var response = await admin.PostAsync("/api/v1/users", TestJson.Body(("email", "not an email"), ("display_name", " "), ("role", "owner")));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(problem.Errors("email"));
        Assert.NotEmpty(problem.Errors("display_name"));
        Assert.NotEmpty(problem.Errors("role"));
    }

    [Fact]
    public async Task RedeemingValidatesTheNewPasswordAndRefusesMadeUpTokens()
    {
        using var client = service.CreateClient();

        using var tooShort = await client.PostAsync("/api/v1/auth/password-tokens/redeem", TestJson.Body(("token", "x"), ("new_password", "short")));
        using var madeUp = await client.PostAsync("/api/v1/auth/password-tokens/redeem", Redeem("made-up-token"));

        var problem = await tooShort.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(problem.Errors("new_password"));
        await madeUp.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task OnlyAdminsCreateAccounts()
    {
        using var member = await service.ClientForNewUserAsync();

        using var response = await member.PostAsync("/api/v1/users", TestJson.Body(("email", $"x-{Guid.NewGuid():N}@example.test"), ("display_name", "X")));

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }
}
