using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

public sealed class DeleteTaskTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private async Task<bool> IsDeletedAsync(Guid id) =>
        (await service.QueryTextAsync("SELECT (deleted_at IS NOT NULL)::text FROM tasks WHERE id = $1", id)).Single() == "true";

    private async Task<bool> ExistsAsync(Guid id) =>
        (await service.QueryTextAsync("SELECT id::text FROM tasks WHERE id = $1", id)).Count == 1;

    [Fact]
    public async Task AnEditorSoftDeletesATaskAndItIsGoneFromReads()
    {
        using var project = await service.CreateProjectAsync();
        var (_, editor) = await service.MemberAsync(project, ProjectRoles.Editor);
        var id = await service.CreateTaskAsync(project);

        using var response = await editor.DeleteAsync($"/api/v1/tasks/{id}");
        using var read = await editor.GetAsync($"/api/v1/tasks/{id}");
        using var again = await editor.DeleteAsync($"/api/v1/tasks/{id}");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await read.AssertProblemAsync(HttpStatusCode.NotFound);
        await again.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.True(await IsDeletedAsync(id));
        Assert.Single(await service.AuditDiffsAsync("task.delete", id.ToString()));
    }

    [Fact]
    public async Task ATaskInAProjectTheCallerCannotSeeIsNotFoundAndAViewerIsForbidden()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var id = await service.CreateTaskAsync(project);
        using var stranger = await service.ClientForNewUserAsync();

        using var byStranger = await stranger.DeleteAsync($"/api/v1/tasks/{id}");
        using var byViewer = await viewer.DeleteAsync($"/api/v1/tasks/{id}");

        await byStranger.AssertProblemAsync(HttpStatusCode.NotFound);
        await byViewer.AssertProblemAsync(HttpStatusCode.Forbidden);
        Assert.False(await IsDeletedAsync(id));
    }

    [Fact]
    public async Task DeletingATaskThatLiveTasksDependOnIsAConflictListingThem()
    {
        using var project = await service.CreateProjectAsync();
        var parent = await service.CreateTaskAsync(project, "parent");
        var child = await service.CreateTaskAsync(project, "child", null, parent);
        var deletedChild = await service.CreateTaskAsync(project, "gone", null, parent);
        await service.SoftDeleteTaskAsync(deletedChild);

        using var response = await project.OwnerClient.DeleteAsync($"/api/v1/tasks/{parent}");

        var problem = await response.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal([child.ToString()], problem.GetProperty("dependents").EnumerateArray().Select(item => item.GetString()));
        Assert.False(await IsDeletedAsync(parent));
    }

    [Fact]
    public async Task CascadeDeletesEveryLiveDescendantAtTheSameInstant()
    {
        using var project = await service.CreateProjectAsync();
        var root = await service.CreateTaskAsync(project, "root");
        var child = await service.CreateTaskAsync(project, "child", null, root);
        var grandchild = await service.CreateTaskAsync(project, "grandchild", null, child);
        var unrelated = await service.CreateTaskAsync(project, "unrelated");

        using var response = await project.OwnerClient.DeleteAsync($"/api/v1/tasks/{root}?cascade=true");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Single(await service.QueryTextAsync(
            "SELECT DISTINCT deleted_at::text FROM tasks WHERE id = ANY($1)", new[] { root, child, grandchild }));
        Assert.True(await IsDeletedAsync(grandchild));
        Assert.False(await IsDeletedAsync(unrelated));
        var diff = JsonNode.Parse((await service.AuditDiffsAsync("task.delete", root.ToString())).Single())!;
        Assert.Equal(2, diff["cascaded_ids"]!["to"]!.AsArray().Count);
    }

    [Fact]
    public async Task PermanentDeleteIsForAdminsOnly()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var byOwner = await project.OwnerClient.DeleteAsync($"/api/v1/tasks/{id}?permanent=true");
        Assert.True(await ExistsAsync(id));
        using var byAdmin = await admin.DeleteAsync($"/api/v1/tasks/{id}?permanent=true");

        await byOwner.AssertProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.NoContent, byAdmin.StatusCode);
        Assert.False(await ExistsAsync(id));
    }

    [Fact]
    public async Task PermanentDeleteKeepsTheDependentsRuleAndPurgesSoftDeletedTasks()
    {
        using var project = await service.CreateProjectAsync();
        var parent = await service.CreateTaskAsync(project, "parent");
        await service.CreateTaskAsync(project, "child", null, parent);
        var softDeleted = await service.CreateTaskAsync(project, "old");
        await service.SoftDeleteTaskAsync(softDeleted);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var blocked = await admin.DeleteAsync($"/api/v1/tasks/{parent}?permanent=true");
        using var purged = await admin.DeleteAsync($"/api/v1/tasks/{softDeleted}?permanent=true");

        await blocked.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.NoContent, purged.StatusCode);
        Assert.False(await ExistsAsync(softDeleted));
    }

    [Fact]
    public async Task DeleteHonoursIfMatch()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);

        using var stale = await project.OwnerClient.SendAsync(TaskData.Conditional(HttpMethod.Delete, $"/api/v1/tasks/{id}", ifMatch: "\"7\""));
        Assert.False(await IsDeletedAsync(id));
        using var current = await project.OwnerClient.SendAsync(TaskData.Conditional(HttpMethod.Delete, $"/api/v1/tasks/{id}", ifMatch: "\"1\""));

        await stale.AssertProblemAsync(HttpStatusCode.PreconditionFailed);
        Assert.Equal(HttpStatusCode.NoContent, current.StatusCode);
    }
}

public sealed class RestoreTaskTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AnEditorRestoresADeletedTask()
    {
        using var project = await service.CreateProjectAsync();
        var (_, editor) = await service.MemberAsync(project, ProjectRoles.Editor);
        var id = await service.CreateTaskAsync(project);
        using (var delete = await editor.DeleteAsync($"/api/v1/tasks/{id}"))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        using var response = await editor.PostAsync($"/api/v1/tasks/{id}/restore", null);
        using var read = await editor.GetAsync($"/api/v1/tasks/{id}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False((await response.ReadJsonAsync()).TryGetProperty("deleted_at", out _));
        Assert.NotNull(response.Headers.ETag);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Single(await service.AuditDiffsAsync("task.restore", id.ToString()));
    }

    [Fact]
    public async Task RestoringALiveTaskIsAConflictAndAViewerIsForbidden()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var live = await service.CreateTaskAsync(project);
        var deleted = await service.CreateTaskAsync(project);
        await service.SoftDeleteTaskAsync(deleted);
        using var stranger = await service.ClientForNewUserAsync();

        using var notDeleted = await project.OwnerClient.PostAsync($"/api/v1/tasks/{live}/restore", null);
        using var byViewer = await viewer.PostAsync($"/api/v1/tasks/{deleted}/restore", null);
        using var byStranger = await stranger.PostAsync($"/api/v1/tasks/{deleted}/restore", null);

        await notDeleted.AssertProblemAsync(HttpStatusCode.Conflict);
        await byViewer.AssertProblemAsync(HttpStatusCode.Forbidden);
        await byStranger.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task RestoringATaskWhoseParentIsDeletedIsAConflictListingTheParent()
    {
        using var project = await service.CreateProjectAsync();
        var parent = await service.CreateTaskAsync(project, "parent");
        var child = await service.CreateTaskAsync(project, "child", null, parent);
        using (var delete = await project.OwnerClient.DeleteAsync($"/api/v1/tasks/{parent}?cascade=true"))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        using var response = await project.OwnerClient.PostAsync($"/api/v1/tasks/{child}/restore", null);

        var problem = await response.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal([parent.ToString()], problem.GetProperty("parents").EnumerateArray().Select(item => item.GetString()));
    }

    [Fact]
    public async Task RestoreWithoutCascadeLeavesTheCascadedChildrenDeleted()
    {
        using var project = await service.CreateProjectAsync();
        var root = await service.CreateTaskAsync(project, "root");
        var child = await service.CreateTaskAsync(project, "child", null, root);
        using (var delete = await project.OwnerClient.DeleteAsync($"/api/v1/tasks/{root}?cascade=true"))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        using var restore = await project.OwnerClient.PostAsync($"/api/v1/tasks/{root}/restore", null);
        using var childRead = await project.OwnerClient.GetAsync($"/api/v1/tasks/{child}");

        Assert.Equal(HttpStatusCode.OK, restore.StatusCode);
        await childRead.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task RestoreWithCascadeBringsBackOnlyWhatWasDeletedWithIt()
    {
        using var project = await service.CreateProjectAsync();
        var root = await service.CreateTaskAsync(project, "root");
        var child = await service.CreateTaskAsync(project, "child", null, root);
        var grandchild = await service.CreateTaskAsync(project, "grandchild", null, child);
        var deletedBefore = await service.CreateTaskAsync(project, "deleted before", null, root);
        using (var earlier = await project.OwnerClient.DeleteAsync($"/api/v1/tasks/{deletedBefore}"))
            Assert.Equal(HttpStatusCode.NoContent, earlier.StatusCode);
        using (var delete = await project.OwnerClient.DeleteAsync($"/api/v1/tasks/{root}?cascade=true"))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        using var restore = await project.OwnerClient.PostAsync($"/api/v1/tasks/{root}/restore?cascade=true", null);

        Assert.Equal(HttpStatusCode.OK, restore.StatusCode);
        using var childBack = await project.OwnerClient.GetAsync($"/api/v1/tasks/{child}");
        using var grandchildBack = await project.OwnerClient.GetAsync($"/api/v1/tasks/{grandchild}");
        using var otherStillGone = await project.OwnerClient.GetAsync($"/api/v1/tasks/{deletedBefore}");
        Assert.Equal(HttpStatusCode.OK, childBack.StatusCode);
        Assert.Equal(HttpStatusCode.OK, grandchildBack.StatusCode);
        await otherStillGone.AssertProblemAsync(HttpStatusCode.NotFound);
    }
}
