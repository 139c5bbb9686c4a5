using System.Net;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Projects;

public sealed class UpdateProjectTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AnEditorRenamesAProjectAndGetsTheNewETag()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync(description: "kept");
        using var editor = await service.ClientForMemberAsync(owner, project.Id(), ProjectRoles.Editor);

        using var response = await editor.PatchAsync($"{ProjectTestData.Path}/{project.Id()}", TestJson.Body(("name", " Renamed ")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("\"2\"", response.ETag());
        var body = await response.ReadJsonAsync();
        Assert.Equal("Renamed", body.GetProperty("name").GetString());
        Assert.Equal("kept", body.GetProperty("description").GetString());
    }

    [Fact]
    public async Task AnAbsentDescriptionIsKeptAndANullOneIsCleared()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync(name: "Before", description: "to clear");
        var url = $"{ProjectTestData.Path}/{project.Id()}";

        using var rename = await owner.PatchAsync(url, TestJson.Raw("""{"name":"After"}"""));
        using var clear = await owner.PatchAsync(url, TestJson.Raw("""{"description":null}"""));

        Assert.Equal("to clear", (await rename.ReadJsonAsync()).GetProperty("description").GetString());
        var cleared = await clear.ReadJsonAsync();
        Assert.Equal("After", cleared.GetProperty("name").GetString());
        Assert.False(cleared.TryGetProperty("description", out _));
    }

    [Fact]
    public async Task AProjectViewerGets403AndANonMember404()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var stranger = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        using var viewer = await service.ClientForMemberAsync(owner, project.Id(), ProjectRoles.Viewer);
        var url = $"{ProjectTestData.Path}/{project.Id()}";

        using var byViewer = await viewer.PatchAsync(url, TestJson.Body(("name", "No")));
        using var byStranger = await stranger.PatchAsync(url, TestJson.Body(("name", "No")));

        await byViewer.AssertProblemAsync(HttpStatusCode.Forbidden);
        await byStranger.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AGlobalViewerCannotEditEvenAsAProjectEditor()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        using var viewer = await service.ClientForMemberAsync(owner, project.Id(), ProjectRoles.Editor, Roles.Viewer);

        using var response = await viewer.PatchAsync($"{ProjectTestData.Path}/{project.Id()}", TestJson.Body(("name", "No")));

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task AStaleIfMatchIs412AndChangesNothing()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync(name: "Original");
        var url = $"{ProjectTestData.Path}/{project.Id()}";
        using (var first = await owner.SendAsync(HttpMethod.Patch, url, TestJson.Body(("name", "First")), ifMatch: "\"1\""))
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);

        using var stale = await owner.SendAsync(HttpMethod.Patch, url, TestJson.Body(("name", "Second")), ifMatch: "\"1\"");
        using var weak = await owner.SendAsync(HttpMethod.Patch, url, TestJson.Body(("name", "Third")), ifMatch: "W/\"2\"");
        using var read = await owner.GetAsync(url);

        await stale.AssertProblemAsync(HttpStatusCode.PreconditionFailed);
        await weak.AssertProblemAsync(HttpStatusCode.PreconditionFailed);
        Assert.Equal("First", (await read.ReadJsonAsync()).GetProperty("name").GetString());
    }

    [Fact]
    public async Task ConcurrentUpdatesWithTheSameIfMatchLetExactlyOneWin()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var url = $"{ProjectTestData.Path}/{project.Id()}";

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            owner.SendAsync(HttpMethod.Patch, url, TestJson.Body(("name", $"Racer {i}")), ifMatch: "\"1\"")));
        try
        {
            Assert.Single(responses, response => response.StatusCode == HttpStatusCode.OK);
            Assert.Equal(7, responses.Count(response => response.StatusCode == HttpStatusCode.PreconditionFailed));
            using var read = await owner.GetAsync(url);
            Assert.Equal("\"2\"", read.ETag());
        }
        finally
        {
            foreach (var response in responses)
                response.Dispose();
        }
    }

    [Fact]
    public async Task AnUpdateIsAuditedWithWhatChanged()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync(name: "Old name", description: "same");

        using var response = await owner.PatchAsync($"{ProjectTestData.Path}/{project.Id()}",
            TestJson.Body(("name", "New name"), ("description", "same")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["""{"name": {"to": "New name", "from": "Old name"}}"""],
            await service.QueryTextAsync(
                "SELECT diff::text FROM audit_log WHERE action = 'project.update' AND resource_id = $1", project.Id()));
    }

    [Fact]
    public async Task AnEmptyBodyANullNameAndANulInTheDescriptionAre422()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var url = $"{ProjectTestData.Path}/{project.Id()}";

        using var empty = await owner.PatchAsync(url, TestJson.Raw("{}"));
        using var invalid = await owner.PatchAsync(url, TestJson.Raw("""{"name":null,"description":"a\u0000b"}"""));

        Assert.Equal(["set name, description, or both"], (await empty.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("body"));
        var problem = await invalid.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is required"], problem.Errors("name"));
        Assert.Equal(["must not contain NUL characters"], problem.Errors("description"));
    }
}
