using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Users;

public sealed class PasswordTokensTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const string NewPassword = "the new password after a reset";

    private static async Task<string> IssueResetAsync(HttpClient admin, Guid userId)
    {
        using var response = await admin.PostAsync($"/api/v1/users/{userId}/password-reset", null);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var token = await response.ReadJsonAsync();
        Assert.Equal("reset", token.GetProperty("purpose").GetString());
        return token.GetProperty("token").GetString()!;
    }

    private static Task<HttpResponseMessage> RedeemAsync(HttpClient client, string token) =>
        client.PostAsync("/api/v1/auth/password-tokens/redeem", TestJson.Body(("token", token), ("new_password", NewPassword)));

    [Fact]
    public async Task AResetTokenSetsTheNewPasswordAndEndsEverySession()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var user = await service.CreateUserAsync();
        using var session = await service.ClientForAsync(user);
        var token = await IssueResetAsync(admin, user.Id);
        using var anonymous = service.CreateClient();

        using var redeemed = await RedeemAsync(anonymous, token);
        using var afterReset = await session.GetAsync("/api/v1/users/me");
        using var oldPassword = await anonymous.PostAsync("/api/v1/auth/login", TestJson.Body(("email", user.Email), ("password", user.Password)));

        Assert.Equal(HttpStatusCode.NoContent, redeemed.StatusCode);
        await afterReset.AssertProblemAsync(HttpStatusCode.Unauthorized);
        await oldPassword.AssertProblemAsync(HttpStatusCode.Unauthorized);
        await anonymous.LoginAsync(user.Email, NewPassword);
        Assert.Equal(["user.password_reset_issue", "user.password_reset"], await service.QueryTextAsync(
            "SELECT action FROM audit_log WHERE resource_id = $1 AND action LIKE 'user.password%' ORDER BY id", user.Id.ToString()));
    }

    [Fact]
    public async Task AResetTokenUsedTwiceIsRefusedTheSecondTime()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var user = await service.CreateUserAsync();
        var token = await IssueResetAsync(admin, user.Id);
        using var anonymous = service.CreateClient();

        using var first = await RedeemAsync(anonymous, token);
        using var second = await RedeemAsync(anonymous, token);

        Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);
        await second.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task AnExpiredResetTokenIsRefusedAndChangesNothing()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var user = await service.CreateUserAsync();
        var token = await IssueResetAsync(admin, user.Id);
        await service.ExecuteSqlAsync(
            "UPDATE password_tokens SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 second' WHERE user_id = $1", user.Id);
        using var anonymous = service.CreateClient();

        using var expired = await RedeemAsync(anonymous, token);

        var problem = await expired.AssertProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("expired", problem.GetProperty("detail").GetString());
        await anonymous.LoginAsync(user.Email, user.Password);
    }

    [Fact]
    public async Task ANewResetTokenReplacesTheUnusedOne()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var user = await service.CreateUserAsync();
        var first = await IssueResetAsync(admin, user.Id);
        var second = await IssueResetAsync(admin, user.Id);
        using var anonymous = service.CreateClient();

        using var replaced = await RedeemAsync(anonymous, first);
        using var current = await RedeemAsync(anonymous, second);

        await replaced.AssertProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.NoContent, current.StatusCode);
    }

    [Fact]
    public async Task ResetsAreForAdminsAndForAccountsThatExist()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var user = await service.CreateUserAsync();
        using var member = await service.ClientForAsync(user);

        using var byMember = await member.PostAsync($"/api/v1/users/{user.Id}/password-reset", null);
        using var unknown = await admin.PostAsync($"/api/v1/users/{Guid.NewGuid()}/password-reset", null);

        await byMember.AssertProblemAsync(HttpStatusCode.Forbidden);
        await unknown.AssertProblemAsync(HttpStatusCode.NotFound);
    }
}
