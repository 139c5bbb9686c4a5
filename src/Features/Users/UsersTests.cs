using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Users;

public sealed class UsersTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AnAdminChangesARoleAndItTakesEffectAtOnce()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var member = await service.CreateUserAsync();
        using var memberClient = await service.ClientForAsync(member);

        using var promote = await admin.PatchAsync($"/api/v1/users/{member.Id}", TestJson.Body(("role", "viewer")));
        using var escalate = await memberClient.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "k"), ("role", "member")));

        Assert.Equal(HttpStatusCode.OK, promote.StatusCode);
        Assert.Equal("viewer", (await promote.ReadJsonAsync()).GetProperty("role").GetString());
        await escalate.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task DisablingAUserEndsTheirSessionsAtOnce()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        var member = await service.CreateUserAsync();
        using var memberClient = await service.ClientForAsync(member);

        using var disable = await admin.PatchAsync($"/api/v1/users/{member.Id}", TestJson.Body(("disabled", true)));
        using var after = await memberClient.GetAsync("/api/v1/users/me");

        Assert.Equal(HttpStatusCode.OK, disable.StatusCode);
        await after.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task AMemberCannotPromoteItself()
    {
        var member = await service.CreateUserAsync();
        using var memberClient = await service.ClientForAsync(member);

        using var response = await memberClient.PatchAsync($"/api/v1/users/{member.Id}", TestJson.Body(("role", "admin")));

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task AnAdminCannotDemoteItself()
    {
        var admin = await service.CreateUserAsync("admin");
        using var adminClient = await service.ClientForAsync(admin);

        using var response = await adminClient.PatchAsync($"/api/v1/users/{admin.Id}", TestJson.Body(("role", "member")));

        await response.AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task UpdatingAnUnknownUserIsNotFoundAndABadRoleIsReported()
    {
        using var admin = await service.ClientForNewUserAsync("admin");

        using var unknown = await admin.PatchAsync($"/api/v1/users/{Guid.NewGuid()}", TestJson.Body(("role", "viewer")));
        using var badRole = await admin.PatchAsync($"/api/v1/users/{Guid.NewGuid()}", TestJson.Body(("role", "owner")));

        await unknown.AssertProblemAsync(HttpStatusCode.NotFound);
        var problem = await badRole.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["must be one of admin, member, viewer"], problem.Errors("role"));
    }

    [Fact]
    public async Task MeNeverShowsThePasswordHash()
    {
        using var member = await service.ClientForNewUserAsync();

        using var response = await member.GetAsync("/api/v1/users/me");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("pbkdf2", await response.Content.ReadAsStringAsync());
    }
}
