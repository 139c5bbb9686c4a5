using System.Net;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Projects;

public sealed class AddProjectMemberTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AnAddedMemberCanReadTheProject()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var account = await service.CreateUserAsync();
        using var newcomer = await service.ClientForAsync(account);
        using (var before = await newcomer.GetAsync($"{ProjectTestData.Path}/{project.Id()}"))
            await before.AssertProblemAsync(HttpStatusCode.NotFound);

        using var add = await owner.PostAsync($"{ProjectTestData.Path}/{project.Id()}/members",
            TestJson.Body(("user_id", account.Id), ("role", "editor")));
        using var after = await newcomer.GetAsync($"{ProjectTestData.Path}/{project.Id()}");

        Assert.Equal(HttpStatusCode.Created, add.StatusCode);
        var member = await add.ReadJsonAsync();
        Assert.Equal(account.Id, member.GetProperty("user_id").GetGuid());
        Assert.Equal("editor", member.GetProperty("role").GetString());
        Assert.Equal(account.Email, member.GetProperty("email").GetString());
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(["project.member_add"], await service.QueryTextAsync(
            "SELECT action FROM audit_log WHERE action = 'project.member_add' AND resource_id = $1", project.Id()));
    }

    [Fact]
    public async Task AddingSomeoneWhoIsAlreadyAMemberIs409()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var account = await service.CreateUserAsync();
        await owner.AddMemberAsync(project.Id(), account.Id, "viewer");

        using var again = await owner.PostAsync($"{ProjectTestData.Path}/{project.Id()}/members",
            TestJson.Body(("user_id", account.Id), ("role", "editor")));

        await again.AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task AnUnknownUserIs422OnUserIdAndABadRoleOnRole()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var url = $"{ProjectTestData.Path}/{project.Id()}/members";

        using var unknown = await owner.PostAsync(url, TestJson.Body(("user_id", Guid.CreateVersion7()), ("role", "viewer")));
        using var invalid = await owner.PostAsync(url, TestJson.Body(("role", "boss")));

        Assert.Equal(["is not a known user"], (await unknown.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("user_id"));
        var problem = await invalid.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is required"], problem.Errors("user_id"));
        Assert.Equal(["must be one of owner, editor, viewer"], problem.Errors("role"));
    }

    [Fact]
    public async Task AnEditorCannotAddMembersAndANonMemberGets404()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var stranger = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        using var editor = await service.ClientForMemberAsync(owner, project.Id(), ProjectRoles.Editor);
        var body = TestJson.Body(("user_id", (await service.CreateUserAsync()).Id), ("role", "viewer"));

        using var byEditor = await editor.PostAsync($"{ProjectTestData.Path}/{project.Id()}/members", body);
        using var byStranger = await stranger.PostAsync($"{ProjectTestData.Path}/{project.Id()}/members", body);

        await byEditor.AssertProblemAsync(HttpStatusCode.Forbidden);
        await byStranger.AssertProblemAsync(HttpStatusCode.NotFound);
    }
}
