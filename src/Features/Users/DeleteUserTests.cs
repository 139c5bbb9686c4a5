using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Users;

public sealed class DeleteUserTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task DeletingAUserAnonymisesItsDataEndsItsAccessAndKeepsItsAuditHistory()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var user = await service.CreateUserAsync();
        using var session = await service.ClientForAsync(user);
        using var keyResponse = await session.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "ci")));
        using var keyClient = service.CreateClient().WithApiKey((await keyResponse.ReadJsonAsync()).GetProperty("key").GetString()!);

        using var deleted = await admin.DeleteAsync($"/api/v1/users/{user.Id}");
        using var sessionAfter = await session.GetAsync("/api/v1/users/me");
        using var keyAfter = await keyClient.GetAsync("/api/v1/users/me");
        using var again = await admin.DeleteAsync($"/api/v1/users/{user.Id}");

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await sessionAfter.AssertProblemAsync(HttpStatusCode.Unauthorized);
        await keyAfter.AssertProblemAsync(HttpStatusCode.Unauthorized);
        await again.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal([$"deleted-{user.Id:N}@deleted.invalid|Deleted user|true"], await service.QueryTextAsync(
            "SELECT email || '|' || display_name || '|' || (password_hash IS NULL AND deleted_at IS NOT NULL) FROM users WHERE id = $1", user.Id));
        Assert.Equal(["0"], await service.QueryTextAsync(
            "SELECT ((SELECT count(*) FROM sessions WHERE user_id = $1) + (SELECT count(*) FROM api_keys WHERE user_id = $1))::text", user.Id));
        // The history stays (the login, the key, the deletion), without the email anywhere in it.
        var history = await service.QueryTextAsync(
            "SELECT action || ' ' || coalesce(diff::text, '') FROM audit_log WHERE actor_user_id = $1 OR resource_id = $1::text ORDER BY id", user.Id);
        Assert.Contains(history, entry => entry.StartsWith("auth.login ", StringComparison.Ordinal));
        Assert.Contains(history, entry => entry.StartsWith("api_key.create ", StringComparison.Ordinal));
        Assert.Contains(history, entry => entry.StartsWith("user.delete ", StringComparison.Ordinal));
        Assert.DoesNotContain(history, entry => entry.Contains(user.Email, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ADeletedUsersEmailScrubbedFromFailedLoginsAndFreeForANewAccount()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var user = await service.CreateUserAsync();
        using (var failed = await service.CreateClient().PostAsync("/api/v1/auth/login", TestJson.Body(("email", user.Email), ("password", "wrong password!"))))
            await failed.AssertProblemAsync(HttpStatusCode.Unauthorized);

        using var deleted = await admin.DeleteAsync($"/api/v1/users/{user.Id}");
        using var recreated = await admin.PostAsync("/api/v1/users", TestJson.Body(("email", user.Email), ("display_name", "Again")));

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.Created, recreated.StatusCode);
        Assert.Equal(["{\"email\": {\"to\": \"[deleted]\", \"from\": null}, \"reason\": {\"to\": \"wrong_password\", \"from\": null}}"],
            await service.QueryTextAsync("SELECT diff::text FROM audit_log WHERE action = 'auth.login_failed' AND resource_id = $1", user.Id.ToString()));
    }

    [Fact]
    public async Task AnAdminCannotDeleteItselfAndMembersCannotDeleteAnyone()
    {
        var adminAccount = await service.CreateUserAsync("admin");
        using var admin = await service.ClientForAsync(adminAccount);
        var other = await service.CreateUserAsync();
        using var member = await service.ClientForNewUserAsync();

        using var self = await admin.DeleteAsync($"/api/v1/users/{adminAccount.Id}");
        using var byMember = await member.DeleteAsync($"/api/v1/users/{other.Id}");
        using var unknown = await admin.DeleteAsync($"/api/v1/users/{Guid.NewGuid()}");

        await self.AssertProblemAsync(HttpStatusCode.Conflict);
        await byMember.AssertProblemAsync(HttpStatusCode.Forbidden);
        await unknown.AssertProblemAsync(HttpStatusCode.NotFound);
    }
}
