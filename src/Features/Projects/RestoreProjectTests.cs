using System.Net;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Projects;

public sealed class RestoreProjectTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task RestoringBringsBackExactlyTheTasksDeletedWithTheProject()
    {
        var account = await service.CreateUserAsync();
        using var owner = await service.ClientForAsync(account);
        var project = await owner.CreateProjectAsync();
        var projectId = Guid.Parse(project.Id());
        var live = Guid.CreateVersion7();
        var deletedBefore = Guid.CreateVersion7();
        await service.ExecuteSqlAsync("INSERT INTO tasks (id, project_id, title, created_by) VALUES ($1, $2, 'live', $3)",
            live, projectId, account.Id);
        await service.ExecuteSqlAsync(
            "INSERT INTO tasks (id, project_id, title, created_by, deleted_at) VALUES ($1, $2, 'gone', $3, now() - interval '1 hour')",
            deletedBefore, projectId, account.Id);
        var url = $"{ProjectTestData.Path}/{project.Id()}";
        using (var delete = await owner.DeleteAsync(url))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        using var restore = await owner.PostAsync(url + "/restore", null);
        using var get = await owner.GetAsync(url);

        Assert.Equal(HttpStatusCode.OK, restore.StatusCode);
        var restored = await restore.ReadJsonAsync();
        Assert.False(restored.TryGetProperty("deleted_at", out _));
        Assert.Equal(restore.ETag(), get.ETag());
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal([live.ToString()], await service.QueryTextAsync(
            "SELECT id::text FROM tasks WHERE project_id = $1 AND deleted_at IS NULL", projectId));
        Assert.Equal([deletedBefore.ToString()], await service.QueryTextAsync(
            "SELECT id::text FROM tasks WHERE project_id = $1 AND deleted_at IS NOT NULL", projectId));
        Assert.Equal(["project.restore"], await service.QueryTextAsync(
            "SELECT action FROM audit_log WHERE action = 'project.restore' AND resource_id = $1", project.Id()));
    }

    [Fact]
    public async Task RestoringAProjectThatIsNotDeletedIs409()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();

        using var response = await owner.PostAsync($"{ProjectTestData.Path}/{project.Id()}/restore", null);

        await response.AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task AnEditorCannotRestoreAndANonMemberGets404()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var stranger = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        using var editor = await service.ClientForMemberAsync(owner, project.Id(), ProjectRoles.Editor);
        var url = $"{ProjectTestData.Path}/{project.Id()}";
        using (var delete = await owner.DeleteAsync(url))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        using var byEditor = await editor.PostAsync(url + "/restore", null);
        using var byStranger = await stranger.PostAsync(url + "/restore", null);

        await byEditor.AssertProblemAsync(HttpStatusCode.Forbidden);
        await byStranger.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AnAdminRestoresAnyProject()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);
        var project = await owner.CreateProjectAsync();
        var url = $"{ProjectTestData.Path}/{project.Id()}";
        using (var delete = await owner.DeleteAsync(url))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        using var response = await admin.PostAsync(url + "/restore", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
