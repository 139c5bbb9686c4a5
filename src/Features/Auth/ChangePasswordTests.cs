using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Auth;

public sealed class ChangePasswordTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const string NewPassword = "a brand new password";

    private static StringContent Change(string current, string next = NewPassword) =>
        TestJson.Body(("current_password", current), ("new_password", next));

    [Fact]
    public async Task ChangingThePasswordEndsEveryOtherSessionAndKeepsTheCurrentOne()
    {
        var user = await service.CreateUserAsync();
        using var current = await service.ClientForAsync(user);
        using var other = await service.ClientForAsync(user);

        using var changed = await current.PostAsync("/api/v1/auth/password", Change(user.Password));
        using var currentAfter = await current.GetAsync("/api/v1/users/me");
        using var otherAfter = await other.GetAsync("/api/v1/users/me");

        Assert.Equal(HttpStatusCode.NoContent, changed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, currentAfter.StatusCode);
        await otherAfter.AssertProblemAsync(HttpStatusCode.Unauthorized);
        await service.CreateClient().LoginAsync(user.Email, NewPassword);
        Assert.Equal(["user.password_change"], await service.QueryTextAsync(
            "SELECT action FROM audit_log WHERE resource_id = $1 AND action LIKE 'user.password%'", user.Id.ToString()));
    }

    [Fact]
    public async Task AWrongCurrentPasswordChangesNothingAndCountsTowardsTheLockout()
    {
        var user = await service.CreateUserAsync();
        using var session = await service.ClientForAsync(user);

        using var wrong = await session.PostAsync("/api/v1/auth/password", Change("not the password"));

        var problem = await wrong.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(problem.Errors("current_password"));
        Assert.Equal(["1"], await service.QueryTextAsync("SELECT failed_logins::text FROM users WHERE id = $1", user.Id));
        await service.CreateClient().LoginAsync(user.Email, user.Password);
    }

    [Fact]
    public async Task EveryInvalidFieldIsReportedAtOnceAndAnApiKeyCannotChangeThePassword()
    {
        using var session = await service.ClientForNewUserAsync();
        using var key = await session.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "ci")));
        using var keyClient = service.CreateClient().WithApiKey((await key.ReadJsonAsync()).GetProperty("key").GetString()!);

        using var invalid = await session.PostAsync("/api/v1/auth/password", TestJson.Body(("new_password", "short")));
        using var byKey = await keyClient.PostAsync("/api/v1/auth/password", Change(Accounts.Password));

        var problem = await invalid.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(problem.Errors("current_password"));
        Assert.NotEmpty(problem.Errors("new_password"));
        await byKey.AssertProblemAsync(HttpStatusCode.Forbidden);
    }
}
