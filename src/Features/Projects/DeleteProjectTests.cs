using System.Net;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Projects;

public sealed class DeleteProjectTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private async Task<Guid> InsertTaskAsync(string projectId, Guid createdBy, bool deletedBefore = false)
    {
        var id = Guid.CreateVersion7();
        await service.ExecuteSqlAsync(
            "INSERT INTO tasks (id, project_id, title, created_by, deleted_at) VALUES ($1, $2, 'a task', $3, CASE WHEN $4 THEN now() - interval '1 day' END)",
            id, Guid.Parse(projectId), createdBy, deletedBefore);
        return id;
    }

    [Fact]
    public async Task AnOwnerSoftDeletesAProjectWhichThenDisappearsFromGetAndList()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var url = $"{ProjectTestData.Path}/{project.Id()}";

        using var delete = await owner.DeleteAsync(url);
        using var get = await owner.GetAsync(url);
        using var list = await owner.GetAsync(ProjectTestData.Path);

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        await get.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.DoesNotContain(project.Id(), (await list.ReadJsonAsync()).GetProperty("data").EnumerateArray().Select(p => p.Id()));
        Assert.Equal(["project.delete"],
            await service.QueryTextAsync("SELECT action FROM audit_log WHERE action = 'project.delete' AND resource_id = $1", project.Id()));
    }

    [Fact]
    public async Task DeletingAProjectDeletesItsLiveTasksWithTheSameTimestamp()
    {
        var account = await service.CreateUserAsync();
        using var owner = await service.ClientForAsync(account);
        var project = await owner.CreateProjectAsync();
        await InsertTaskAsync(project.Id(), account.Id);
        await InsertTaskAsync(project.Id(), account.Id);
        await InsertTaskAsync(project.Id(), account.Id, deletedBefore: true);

        using var delete = await owner.DeleteAsync($"{ProjectTestData.Path}/{project.Id()}");

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(["2"], await service.QueryTextAsync("""
            SELECT count(*)::text FROM tasks t JOIN projects p ON p.id = t.project_id
            WHERE p.id = $1 AND t.deleted_at = p.deleted_at
            """, Guid.Parse(project.Id())));
    }

    [Fact]
    public async Task AnEditorCannotDeleteAProject()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        using var editor = await service.ClientForMemberAsync(owner, project.Id(), ProjectRoles.Editor);

        using var response = await editor.DeleteAsync($"{ProjectTestData.Path}/{project.Id()}");

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task AStaleIfMatchIs412()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var url = $"{ProjectTestData.Path}/{project.Id()}";

        using var stale = await owner.SendAsync(HttpMethod.Delete, url, ifMatch: "\"7\"");
        using var current = await owner.SendAsync(HttpMethod.Delete, url, ifMatch: "\"1\"");

        await stale.AssertProblemAsync(HttpStatusCode.PreconditionFailed);
        Assert.Equal(HttpStatusCode.NoContent, current.StatusCode);
    }

    [Fact]
    public async Task OnlyAdminsDeletePermanentlyEvenAnAlreadyDeletedProject()
    {
        var account = await service.CreateUserAsync();
        using var owner = await service.ClientForAsync(account);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);
        var project = await owner.CreateProjectAsync();
        await InsertTaskAsync(project.Id(), account.Id);
        var url = $"{ProjectTestData.Path}/{project.Id()}";
        using (var soft = await owner.DeleteAsync(url))
            Assert.Equal(HttpStatusCode.NoContent, soft.StatusCode);

        using var byOwner = await owner.DeleteAsync(url + "?permanent=true");
        using var byAdmin = await admin.DeleteAsync(url + "?permanent=true");
        using var afterwards = await admin.GetAsync(url + "?include_deleted=true");

        await byOwner.AssertProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.NoContent, byAdmin.StatusCode);
        await afterwards.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(["0"], await service.QueryTextAsync("SELECT count(*)::text FROM tasks WHERE project_id = $1", Guid.Parse(project.Id())));
    }

    [Fact]
    public async Task DeletingADeletedProjectAgainIs404()
    {
        using var owner = await service.ClientForNewUserAsync();
        var project = await owner.CreateProjectAsync();
        var url = $"{ProjectTestData.Path}/{project.Id()}";
        using (var first = await owner.DeleteAsync(url))
            Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);

        using var again = await owner.DeleteAsync(url);

        await again.AssertProblemAsync(HttpStatusCode.NotFound);
    }
}
