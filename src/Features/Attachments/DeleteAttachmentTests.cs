using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Attachments;

public sealed class DeleteAttachmentTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private async Task<(Guid TaskId, string Id, string Sha256)> UploadAsync(TestProject project, string text)
    {
        var taskId = await service.CreateTaskAsync(project);
        using var response = await project.OwnerClient.UploadAsync(taskId, AttachmentFiles.Text(text), "a.txt");
        var body = await response.ReadJsonAsync();
        return (taskId, body.GetProperty("id").GetString()!, body.GetProperty("sha256").GetString()!);
    }

    private static async Task<List<string>> ListedIdsAsync(HttpClient client, Guid taskId)
    {
        using var list = await client.GetAsync($"/api/v1/tasks/{taskId}/attachments");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        return [.. (await list.ReadJsonAsync()).GetProperty("data").EnumerateArray().Select(item => item.GetProperty("id").GetString()!)];
    }

    [Fact]
    public async Task ReadersListATasksAttachmentsOldestFirstAPageAtATime()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var taskId = await service.CreateTaskAsync(project);
        var ids = new List<string>();
        foreach (var text in new[] { "one", "two", "three" })
        {
            using var response = await project.OwnerClient.UploadAsync(taskId, AttachmentFiles.Text(text), text + ".txt");
            ids.Add((await response.ReadJsonAsync()).GetProperty("id").GetString()!);
        }

        using var page1 = await viewer.GetAsync($"/api/v1/tasks/{taskId}/attachments?limit=2");
        var first = await page1.ReadJsonAsync();
        using var page2 = await viewer.GetAsync(
            $"/api/v1/tasks/{taskId}/attachments?limit=2&cursor={Uri.EscapeDataString(first.GetProperty("next_cursor").GetString()!)}");
        var second = await page2.ReadJsonAsync();

        Assert.Equal(ids[..2], first.GetProperty("data").EnumerateArray().Select(item => item.GetProperty("id").GetString()));
        Assert.Equal(ids[2..], second.GetProperty("data").EnumerateArray().Select(item => item.GetProperty("id").GetString()));
        Assert.False(second.GetProperty("has_more").GetBoolean());
    }

    [Fact]
    public async Task AnEditorDeletesAnAttachmentWhichThenIsGoneWithAnAuditRow()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var (taskId, id, _) = await UploadAsync(project, "to delete");

        using var byViewer = await viewer.DeleteAsync($"/api/v1/attachments/{id}");
        using var deleted = await project.OwnerClient.DeleteAsync($"/api/v1/attachments/{id}");
        using var again = await project.OwnerClient.DeleteAsync($"/api/v1/attachments/{id}");
        using var download = await project.OwnerClient.GetAsync($"/api/v1/attachments/{id}/download");

        await byViewer.AssertProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await again.AssertProblemAsync(HttpStatusCode.NotFound);
        await download.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Empty(await ListedIdsAsync(project.OwnerClient, taskId));
        Assert.Single(await service.AuditDiffsAsync("attachment.delete", id));
    }

    [Fact]
    public async Task TheAttachmentsOfADeletedTaskAreOutOfReachAndComeBackWithIt()
    {
        using var project = await service.CreateProjectAsync();
        var (taskId, id, _) = await UploadAsync(project, "with the task");

        using var deleteTask = await project.OwnerClient.DeleteAsync($"/api/v1/tasks/{taskId}");
        using var whileDeleted = await project.OwnerClient.GetAsync($"/api/v1/attachments/{id}/download");
        using var listWhileDeleted = await project.OwnerClient.GetAsync($"/api/v1/tasks/{taskId}/attachments");
        using var uploadWhileDeleted = await project.OwnerClient.UploadAsync(taskId, AttachmentFiles.Text("late"), "late.txt");
        using var restore = await project.OwnerClient.PostAsync($"/api/v1/tasks/{taskId}/restore", null);
        using var afterRestore = await project.OwnerClient.GetAsync($"/api/v1/attachments/{id}/download");

        Assert.Equal(HttpStatusCode.NoContent, deleteTask.StatusCode);
        await whileDeleted.AssertProblemAsync(HttpStatusCode.NotFound);
        await listWhileDeleted.AssertProblemAsync(HttpStatusCode.NotFound);
        await uploadWhileDeleted.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, restore.StatusCode);
        Assert.Equal("with the task", await afterRestore.Content.ReadAsStringAsync());
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task BlobsArePurgedOnceNothingReferencesThemAfterRetention()
    {
        using var project = await service.CreateProjectAsync();
        var (_, expiredId, expiredSha) = await UploadAsync(project, "expired");
        var (_, recentId, recentSha) = await UploadAsync(project, "deleted recently");
        var (_, _, sharedSha) = await UploadAsync(project, "shared");
        var (_, sharedDeletedId, _) = await UploadAsync(project, "shared");
        foreach (var id in new[] { expiredId, recentId, sharedDeletedId })
            await project.OwnerClient.DeleteAsync($"/api/v1/attachments/{id}");
        await service.ExecuteSqlAsync("UPDATE attachments SET deleted_at = now() - interval '31 days' WHERE id = ANY ($1)",
            new[] { Guid.Parse(expiredId), Guid.Parse(sharedDeletedId) });
        await service.ExecuteSqlAsync("UPDATE attachment_blobs SET last_used_at = now() - interval '1 day'");

        var services = service.Services!;
        await services.GetServices<IHostedService>().OfType<RetentionSweep>().Single(sweep => sweep.Service == "attachment-retention").SweepAsync(CancellationToken.None);
        await services.GetRequiredService<BlobPurge>().PurgeAsync(CancellationToken.None);

        string BlobPath(string sha) => Path.Combine(ServiceFixture.AttachmentsPath(service.ConnectionString), "blobs", sha[..2], sha[2..4], sha);
        Assert.False(File.Exists(BlobPath(expiredSha)));
        Assert.True(File.Exists(BlobPath(recentSha)));
        Assert.True(File.Exists(BlobPath(sharedSha)));
        var recorded = await service.QueryTextAsync("SELECT sha256 FROM attachment_blobs");
        Assert.DoesNotContain(expiredSha, recorded);
        Assert.Contains(recentSha, recorded);
        Assert.Contains(sharedSha, recorded);
    }
}
