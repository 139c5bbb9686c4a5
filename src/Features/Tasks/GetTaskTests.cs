using System.Net;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

public sealed class GetTaskTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AProjectViewerReadsATaskWithAStrongETag()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var id = await service.CreateTaskAsync(project, "read me");

        using var response = await viewer.GetAsync($"/api/v1/tasks/{id}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.ETag!.IsWeak);
        Assert.Equal("\"1\"", response.Headers.ETag.Tag);
        var task = await response.ReadJsonAsync();
        Assert.Equal(id.ToString(), task.GetProperty("id").GetString());
        Assert.Equal("read me", task.GetProperty("title").GetString());
        Assert.Equal(project.Id.ToString(), task.GetProperty("project_id").GetString());
    }

    [Fact]
    public async Task IfNoneMatchWithTheCurrentETagGives304AndAnOldOneTheTask()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);
        await service.ExecuteSqlAsync("UPDATE tasks SET priority = 60 WHERE id = $1", id);

        using var current = await project.OwnerClient.SendAsync(TaskData.Conditional(HttpMethod.Get, $"/api/v1/tasks/{id}", ifNoneMatch: "\"2\""));
        using var stale = await project.OwnerClient.SendAsync(TaskData.Conditional(HttpMethod.Get, $"/api/v1/tasks/{id}", ifNoneMatch: "\"1\""));

        Assert.Equal(HttpStatusCode.NotModified, current.StatusCode);
        Assert.Equal("\"2\"", current.Headers.ETag!.Tag);
        Assert.Empty(await current.Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Equal(60, (await stale.ReadJsonAsync()).GetProperty("priority").GetInt32());
    }

    [Fact]
    public async Task ATaskInAProjectTheCallerCannotSeeIsNotFound()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);
        using var stranger = await service.ClientForNewUserAsync();

        using var response = await stranger.GetAsync($"/api/v1/tasks/{id}");
        using var unknown = await stranger.GetAsync($"/api/v1/tasks/{Guid.CreateVersion7()}");

        await response.AssertProblemAsync(HttpStatusCode.NotFound);
        await unknown.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AnAdminReadsAnyTask()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var response = await admin.GetAsync($"/api/v1/tasks/{id}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task ADeletedTaskIsNotFoundUnlessAnEditorAsksToIncludeDeleted()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var (_, editor) = await service.MemberAsync(project, ProjectRoles.Editor);
        var id = await service.CreateTaskAsync(project);
        await service.SoftDeleteTaskAsync(id);

        using var plain = await editor.GetAsync($"/api/v1/tasks/{id}");
        using var byEditor = await editor.GetAsync($"/api/v1/tasks/{id}?include_deleted=true");
        using var byViewer = await viewer.GetAsync($"/api/v1/tasks/{id}?include_deleted=true");

        await plain.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, byEditor.StatusCode);
        Assert.NotEqual(System.Text.Json.JsonValueKind.Null, (await byEditor.ReadJsonAsync()).GetProperty("deleted_at").ValueKind);
        await byViewer.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AMalformedIncludeDeletedIs400()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);

        using var response = await project.OwnerClient.GetAsync($"/api/v1/tasks/{id}?include_deleted=maybe");

        await response.AssertProblemAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task FieldsReturnsOnlyTheNamedFieldsOfTheTaskWithItsETag()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project, "only some");

        using var response = await project.OwnerClient.GetAsync($"/api/v1/tasks/{id}?fields=title,id,assignee_id");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("\"1\"", response.Headers.ETag!.Tag);
        var task = await response.ReadJsonAsync();
        Assert.Equal(["id", "title", "assignee_id"], task.EnumerateObject().Select(field => field.Name));
        Assert.Equal("only some", task.GetProperty("title").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, task.GetProperty("assignee_id").ValueKind);
    }

    [Fact]
    public async Task AnUnknownFieldIs400NamingFields()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);

        using var response = await project.OwnerClient.GetAsync($"/api/v1/tasks/{id}?fields=id,secret");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains("secret", Assert.Single(problem.Errors("fields")));
    }
}
