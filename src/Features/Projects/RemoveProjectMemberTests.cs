using System.Net;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Projects;

public sealed class RemoveProjectMemberTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task ARemovedMemberLosesAccessAtOnce()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var account = await service.CreateUserAsync();
        await owner.AddMemberAsync(project.Id(), account.Id, "editor");
        using var member = await service.ClientForAsync(account);

        using var remove = await owner.DeleteAsync($"{ProjectTestData.Path}/{project.Id()}/members/{account.Id}");
        using var after = await member.GetAsync($"{ProjectTestData.Path}/{project.Id()}");

        Assert.Equal(HttpStatusCode.NoContent, remove.StatusCode);
        await after.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(["project.member_remove"], await service.QueryTextAsync(
            "SELECT action FROM audit_log WHERE action = 'project.member_remove' AND resource_id = $1", project.Id()));
    }

    [Fact]
    public async Task RemovingTheLastOwnerIs409ButAnotherOwnerMayGo()
    {
        var ownerAccount = await service.CreateUserAsync();
        using var owner = await service.ClientForAsync(ownerAccount);
        var project = await owner.CreateProjectAsync();
        var second = await service.CreateUserAsync();
        var url = $"{ProjectTestData.Path}/{project.Id()}/members";

        using var last = await owner.DeleteAsync($"{url}/{ownerAccount.Id}");
        await owner.AddMemberAsync(project.Id(), second.Id, "owner");
        using var self = await owner.DeleteAsync($"{url}/{ownerAccount.Id}");
        using var secondOwner = await service.ClientForAsync(second);
        using var lastAgain = await secondOwner.DeleteAsync($"{url}/{second.Id}");

        await last.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.NoContent, self.StatusCode);
        await lastAgain.AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task AnEditorCannotRemoveMembersAndRemovingANonMemberIs404()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var viewer = await service.CreateUserAsync();
        await owner.AddMemberAsync(project.Id(), viewer.Id, "viewer");
        using var editor = await service.ClientForMemberAsync(owner, project.Id(), ProjectRoles.Editor);
        var url = $"{ProjectTestData.Path}/{project.Id()}/members";

        using var byEditor = await editor.DeleteAsync($"{url}/{viewer.Id}");
        using var notAMember = await owner.DeleteAsync($"{url}/{Guid.CreateVersion7()}");

        await byEditor.AssertProblemAsync(HttpStatusCode.Forbidden);
        await notAMember.AssertProblemAsync(HttpStatusCode.NotFound);
    }
}
