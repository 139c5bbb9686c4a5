using System.Net;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Audit;

public sealed class ListTaskAuditTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AViewerOfTheProjectReadsTheTasksAuditTrailNewestFirstWithoutClientAddresses()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var task = await worker.CreateIdAsync("audited");
        var other = await worker.CreateIdAsync("another");
        foreach (var (id, action) in new[] { (task, "pause"), (other, "pause"), (task, "resume") })
        {
            using var changed = await worker.PostAsync($"/api/v1/tasks/{id}/{action}");
            Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        }
        var viewer = await service.CreateUserAsync();
        await service.AddMemberAsync(worker.ProjectId, viewer.Id, ProjectRoles.Viewer);
        using var client = await service.ClientForAsync(viewer);

        using var response = await client.GetAsync($"/api/v1/tasks/{task}/audit");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var entries = (await response.ReadJsonAsync()).GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(["task.resume", "task.pause"], entries.Select(entry => entry.GetProperty("action").GetString()).Take(2));
        Assert.All(entries, entry => Assert.Equal(worker.Account.Id.ToString(), entry.GetProperty("actor_user_id").GetString()));
        Assert.All(entries, entry => Assert.False(entry.TryGetProperty("ip", out _)));
    }

    [Fact]
    public async Task SomeoneWhoMayNotReadTheTaskGets404()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var task = await worker.CreateIdAsync("private");
        using var stranger = await service.ClientForNewUserAsync();

        using var response = await stranger.GetAsync($"/api/v1/tasks/{task}/audit");

        await response.AssertProblemAsync(HttpStatusCode.NotFound);
    }
}
