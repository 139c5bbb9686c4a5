using System.Net;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Projects;

public sealed class GetProjectTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task ANonMemberGets404AsIfTheProjectDidNotExist()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var stranger = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();

        using var response = await stranger.GetAsync($"{ProjectTestData.Path}/{project.Id()}");

        await response.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AnAdminReadsAnyProjectAndAProjectViewerReadsItsProject()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);
        var project = await owner.CreateProjectAsync();
        using var viewer = await service.ClientForMemberAsync(owner, project.Id(), ProjectRoles.Viewer, Roles.Viewer);

        using var byAdmin = await admin.GetAsync($"{ProjectTestData.Path}/{project.Id()}");
        using var byViewer = await viewer.GetAsync($"{ProjectTestData.Path}/{project.Id()}");

        Assert.Equal(HttpStatusCode.OK, byAdmin.StatusCode);
        Assert.Equal(HttpStatusCode.OK, byViewer.StatusCode);
    }

    [Fact]
    public async Task TheCurrentETagInIfNoneMatchGives304AndAnOldOneTheProject()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var url = $"{ProjectTestData.Path}/{project.Id()}";

        using var first = await owner.GetAsync(url);
        using var notModified = await owner.SendAsync(HttpMethod.Get, url, ifNoneMatch: first.ETag());
        using (var rename = await owner.PatchAsync(url, TestJson.Body(("name", "Renamed"))))
            Assert.Equal(HttpStatusCode.OK, rename.StatusCode);
        using var changed = await owner.SendAsync(HttpMethod.Get, url, ifNoneMatch: first.ETag());

        Assert.Equal("\"1\"", first.ETag());
        Assert.True(first.Headers.CacheControl is { NoCache: true, Private: true });
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal("\"1\"", notModified.ETag());
        Assert.Empty(await notModified.Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.Equal("\"2\"", changed.ETag());
        Assert.Equal("Renamed", (await changed.ReadJsonAsync()).GetProperty("name").GetString());
    }

    [Fact]
    public async Task ADeletedProjectIs404UnlessIncludeDeletedIsAsked()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var url = $"{ProjectTestData.Path}/{project.Id()}";
        using (var delete = await owner.DeleteAsync(url))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        using var hidden = await owner.GetAsync(url);
        using var shown = await owner.GetAsync(url + "?include_deleted=true");

        await hidden.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, shown.StatusCode);
        Assert.EndsWith("Z", (await shown.ReadJsonAsync()).GetProperty("deleted_at").GetString());
    }

    [Fact]
    public async Task AMalformedIncludeDeletedIs400()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();

        using var response = await owner.GetAsync($"{ProjectTestData.Path}/{project.Id()}?include_deleted=yes");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(["must be true or false"], problem.Errors("include_deleted"));
    }
}
