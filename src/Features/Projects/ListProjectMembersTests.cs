using System.Net;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Projects;

public sealed class ListProjectMembersTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AProjectViewerListsEveryMemberWithTheirAccountInTheOrderTheyWereAdded()
    {
        var ownerAccount = await service.CreateUserAsync();
        using var owner = await service.ClientForAsync(ownerAccount);
        var project = await owner.CreateProjectAsync();
        var editor = await service.CreateUserAsync();
        var viewerAccount = await service.CreateUserAsync(Roles.Viewer);
        await owner.AddMemberAsync(project.Id(), editor.Id, "editor");
        await owner.AddMemberAsync(project.Id(), viewerAccount.Id, "viewer");
        using var viewer = await service.ClientForAsync(viewerAccount);

        var members = new List<(Guid UserId, string Role, string Email)>();
        string? next = $"{ProjectTestData.Path}/{project.Id()}/members?limit=2";
        while (next is not null)
        {
            using var response = await viewer.GetAsync(next);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.ReadJsonAsync();
            members.AddRange(body.GetProperty("data").EnumerateArray().Select(member => (
                member.GetProperty("user_id").GetGuid(), member.GetProperty("role").GetString()!, member.GetProperty("email").GetString()!)));
            next = response.Headers.TryGetValues("Link", out var links) ? new Uri(links.Single()[1..links.Single().IndexOf('>')]).PathAndQuery : null;
        }

        Assert.Equal(
            [(ownerAccount.Id, "owner", ownerAccount.Email), (editor.Id, "editor", editor.Email), (viewerAccount.Id, "viewer", viewerAccount.Email)],
            members);
    }

    [Fact]
    public async Task ANonMemberGets404()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var stranger = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();

        using var response = await stranger.GetAsync($"{ProjectTestData.Path}/{project.Id()}/members");

        await response.AssertProblemAsync(HttpStatusCode.NotFound);
    }
}
