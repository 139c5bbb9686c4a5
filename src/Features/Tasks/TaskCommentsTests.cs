using System.Net;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

public sealed class TaskCommentsTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static async Task<string> CommentAsync(HttpClient client, Guid taskId, string body)
    {
        using var response = await client.PostAsync($"/api/v1/tasks/{taskId}/comments", TestJson.Body(("body", body)));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task EditorsCommentAndViewersReadThemOldestFirstAPageAtATime()
    {
        using var project = await service.CreateProjectAsync();
        var (editorAccount, editor) = await service.MemberAsync(project, ProjectRoles.Editor);
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var taskId = await service.CreateTaskAsync(project);
        foreach (var body in new[] { "first", "second", "third" })
            await CommentAsync(editor, taskId, body);

        using var page1 = await viewer.GetAsync($"/api/v1/tasks/{taskId}/comments?limit=2");
        var first = await page1.ReadJsonAsync();
        using var page2 = await viewer.GetAsync($"/api/v1/tasks/{taskId}/comments?limit=2&cursor={Uri.EscapeDataString(first.GetProperty("next_cursor").GetString()!)}");
        var second = await page2.ReadJsonAsync();

        Assert.Equal(HttpStatusCode.OK, page1.StatusCode);
        Assert.Equal(["first", "second"], first.GetProperty("data").EnumerateArray().Select(comment => comment.GetProperty("body").GetString()));
        Assert.Equal(editorAccount.Id.ToString(), first.GetProperty("data")[0].GetProperty("author_id").GetString());
        Assert.True(first.GetProperty("has_more").GetBoolean());
        Assert.Equal(["third"], second.GetProperty("data").EnumerateArray().Select(comment => comment.GetProperty("body").GetString()));
        Assert.False(second.GetProperty("has_more").GetBoolean());
    }

    [Fact]
    public async Task AViewerMayNotCommentAndAStrangerDoesNotSeeTheTask()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var taskId = await service.CreateTaskAsync(project);
        using var stranger = await service.ClientForNewUserAsync();

        using var byViewer = await viewer.PostAsync($"/api/v1/tasks/{taskId}/comments", TestJson.Body(("body", "hi")));
        using var byStranger = await stranger.PostAsync($"/api/v1/tasks/{taskId}/comments", TestJson.Body(("body", "hi")));
        using var listByStranger = await stranger.GetAsync($"/api/v1/tasks/{taskId}/comments");

        await byViewer.AssertProblemAsync(HttpStatusCode.Forbidden);
        await byStranger.AssertProblemAsync(HttpStatusCode.NotFound);
        await listByStranger.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a\u0000b")]
    public async Task AnEmptyOrNulBodyIs422(string body)
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);

        using var response = await project.OwnerClient.PostAsync($"/api/v1/tasks/{taskId}/comments", TestJson.Body(("body", body)));

        Assert.NotEmpty((await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("body"));
    }

    [Fact]
    public async Task ATooLongBodyIs422()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);

        using var response = await project.OwnerClient.PostAsync($"/api/v1/tasks/{taskId}/comments",
            TestJson.Body(("body", new string('x', 10_001))));

        Assert.NotEmpty((await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("body"));
    }

    [Fact]
    public async Task TheAuthorOrAProjectOwnerDeletesACommentButAnotherEditorMayNot()
    {
        using var project = await service.CreateProjectAsync();
        var (_, author) = await service.MemberAsync(project, ProjectRoles.Editor);
        var (_, otherEditor) = await service.MemberAsync(project, ProjectRoles.Editor);
        var taskId = await service.CreateTaskAsync(project);
        var byAuthor = await CommentAsync(author, taskId, "mine");
        var byOwner = await CommentAsync(author, taskId, "owner removes it");

        using var refused = await otherEditor.DeleteAsync($"/api/v1/comments/{byAuthor}");
        using var deletedByAuthor = await author.DeleteAsync($"/api/v1/comments/{byAuthor}");
        using var deletedByOwner = await project.OwnerClient.DeleteAsync($"/api/v1/comments/{byOwner}");
        using var again = await author.DeleteAsync($"/api/v1/comments/{byAuthor}");
        using var list = await author.GetAsync($"/api/v1/tasks/{taskId}/comments");

        await refused.AssertProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.NoContent, deletedByAuthor.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, deletedByOwner.StatusCode);
        await again.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Empty((await list.ReadJsonAsync()).GetProperty("data").EnumerateArray());
        Assert.Single(await service.AuditDiffsAsync("comment.delete", byAuthor));
    }

    [Fact]
    public async Task TheCommentsOfADeletedTaskAreOutOfReach()
    {
        using var project = await service.CreateProjectAsync();
        var taskId = await service.CreateTaskAsync(project);
        var commentId = await CommentAsync(project.OwnerClient, taskId, "soon gone");
        await service.SoftDeleteTaskAsync(taskId);

        using var list = await project.OwnerClient.GetAsync($"/api/v1/tasks/{taskId}/comments");
        using var add = await project.OwnerClient.PostAsync($"/api/v1/tasks/{taskId}/comments", TestJson.Body(("body", "late")));
        using var delete = await project.OwnerClient.DeleteAsync($"/api/v1/comments/{commentId}");

        await list.AssertProblemAsync(HttpStatusCode.NotFound);
        await add.AssertProblemAsync(HttpStatusCode.NotFound);
        await delete.AssertProblemAsync(HttpStatusCode.NotFound);
    }
}
