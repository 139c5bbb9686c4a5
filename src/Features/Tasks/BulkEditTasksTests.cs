using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

public sealed class BulkUpdateTasksTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    internal static StringContent Body(IEnumerable<Guid> ids, JsonNode? set = null, bool? cascade = null)
    {
        var body = new JsonObject { ["ids"] = new JsonArray([.. ids.Select(id => (JsonNode)JsonValue.Create(id.ToString()))]) };
        if (set is not null)
            body["set"] = set;
        if (cascade is not null)
            body["cascade"] = cascade;
        return TestJson.Raw(body.ToJsonString());
    }

    internal static Dictionary<string, string> Statuses(JsonElement response) =>
        response.GetProperty("results").EnumerateArray()
            .ToDictionary(result => result.GetProperty("id").GetString()!, result => result.GetProperty("status").GetString()!);

    private async Task<string> PriorityAsync(Guid id) =>
        (await service.QueryTextAsync("SELECT priority::text FROM tasks WHERE id = $1", id)).Single();

    [Fact]
    public async Task OnlyTasksTheCallerMayChangeAreChangedAndInvisibleOnesAreNotFound()
    {
        using var editable = await service.CreateProjectAsync();
        using var readOnly = await service.CreateProjectAsync();
        using var hidden = await service.CreateProjectAsync();
        var (caller, client) = await service.MemberAsync(editable, ProjectRoles.Editor);
        await service.AddMemberAsync(readOnly.Id, caller.Id, ProjectRoles.Viewer);
        var mine1 = await service.CreateTaskAsync(editable);
        var mine2 = await service.CreateTaskAsync(editable);
        var theirs = await service.CreateTaskAsync(readOnly);
        var invisible = await service.CreateTaskAsync(hidden);
        var deleted = await service.CreateTaskAsync(editable);
        await service.SoftDeleteTaskAsync(deleted);
        var unknown = Guid.CreateVersion7();

        using var response = await client.PatchAsync("/api/v1/tasks/bulk",
            Body([mine1, theirs, invisible, mine2, unknown, deleted], new JsonObject { ["priority"] = 5, ["concurrency_key"] = "k" }));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync();
        Assert.Equal([mine1.ToString(), theirs.ToString(), invisible.ToString(), mine2.ToString(), unknown.ToString(), deleted.ToString()],
            body.GetProperty("results").EnumerateArray().Select(result => result.GetProperty("id").GetString()));
        var statuses = Statuses(body);
        Assert.Equal("updated", statuses[mine1.ToString()]);
        Assert.Equal("updated", statuses[mine2.ToString()]);
        Assert.Equal("forbidden", statuses[theirs.ToString()]);
        Assert.Equal("not_found", statuses[invisible.ToString()]);
        Assert.Equal("not_found", statuses[unknown.ToString()]);
        Assert.Equal("not_found", statuses[deleted.ToString()]);
        Assert.Equal("5", await PriorityAsync(mine1));
        Assert.Equal("50", await PriorityAsync(theirs));
        Assert.Equal("50", await PriorityAsync(invisible));
        var audit = await service.QueryTextAsync(
            "SELECT diff::text FROM audit_log WHERE action = 'task.bulk_update' AND actor_user_id = $1", caller.Id);
        Assert.Equal(2, JsonNode.Parse(audit.Single())!["count"]!.GetValue<int>());
    }

    [Fact]
    public async Task MoreThanAThousandIdsAreRejected()
    {
        using var project = await service.CreateProjectAsync();

        using var response = await project.OwnerClient.PatchAsync("/api/v1/tasks/bulk",
            Body(Enumerable.Range(0, 1001).Select(_ => Guid.CreateVersion7()), new JsonObject { ["priority"] = 5 }));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(problem.Errors("ids"));
    }

    [Fact]
    public async Task EmptyOrRepeatedIdsAndInvalidFieldsAreRejected()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);

        using var empty = await project.OwnerClient.PatchAsync("/api/v1/tasks/bulk", Body([], new JsonObject { ["priority"] = 5 }));
        using var repeated = await project.OwnerClient.PatchAsync("/api/v1/tasks/bulk",
            Body([id, id], new JsonObject { ["priority"] = 101, ["kind"] = "Bad", ["max_retries"] = null, ["title"] = "x" }));
        using var nothing = await project.OwnerClient.PatchAsync("/api/v1/tasks/bulk", Body([id], new JsonObject()));

        Assert.NotEmpty((await empty.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("ids"));
        // An unknown property in set is refused by the reader before any other rule.
        Assert.NotEmpty((await repeated.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("set.title"));
        Assert.NotEmpty((await nothing.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("set"));
        using var invalid = await project.OwnerClient.PatchAsync("/api/v1/tasks/bulk",
            Body([id, id], new JsonObject { ["priority"] = 101, ["kind"] = "Bad", ["max_retries"] = null }));
        var problem = await invalid.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["ids[1]", "set.kind", "set.max_retries", "set.priority"],
            problem.GetProperty("errors").EnumerateObject().Select(property => property.Name).Order());
    }

    [Fact]
    public async Task MovingTasksNeedsEditorOnTheTargetAndTasksWithLiveEdgesStay()
    {
        using var source = await service.CreateProjectAsync();
        using var target = await service.CreateProjectAsync();
        using var viewedOnly = await service.CreateProjectAsync();
        var (caller, client) = await service.MemberAsync(source, ProjectRoles.Editor);
        await service.AddMemberAsync(target.Id, caller.Id, ProjectRoles.Editor);
        await service.AddMemberAsync(viewedOnly.Id, caller.Id, ProjectRoles.Viewer);
        var parent = await service.CreateTaskAsync(source, "parent");
        var child = await service.CreateTaskAsync(source, "child", null, parent);
        var free = await service.CreateTaskAsync(source, "free");

        using var refused = await client.PatchAsync("/api/v1/tasks/bulk", Body([free], new JsonObject { ["project_id"] = viewedOnly.Id.ToString() }));
        using var response = await client.PatchAsync("/api/v1/tasks/bulk",
            Body([parent, child, free], new JsonObject { ["project_id"] = target.Id.ToString() }));

        Assert.NotEmpty((await refused.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("set.project_id"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var statuses = Statuses(await response.ReadJsonAsync());
        Assert.Equal("conflict", statuses[parent.ToString()]);
        Assert.Equal("conflict", statuses[child.ToString()]);
        Assert.Equal("updated", statuses[free.ToString()]);
        Assert.Equal([target.Id.ToString()], await service.QueryTextAsync("SELECT project_id::text FROM tasks WHERE id = $1", free));
        Assert.Equal([source.Id.ToString()], await service.QueryTextAsync("SELECT project_id::text FROM tasks WHERE id = $1", parent));
    }
}

public sealed class BulkDeleteTasksTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static Task<HttpResponseMessage> DeleteAsync(HttpClient client, StringContent body) =>
        client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/api/v1/tasks/bulk") { Content = body });

    private async Task<bool> IsDeletedAsync(Guid id) =>
        (await service.QueryTextAsync("SELECT (deleted_at IS NOT NULL)::text FROM tasks WHERE id = $1", id)).Single() == "true";

    [Fact]
    public async Task TasksWithLiveDependentsOutsideTheSetAreConflictsAndTheRestIsDeleted()
    {
        using var project = await service.CreateProjectAsync();
        using var hidden = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var parent = await service.CreateTaskAsync(project, "parent");
        var child = await service.CreateTaskAsync(project, "child", null, parent);
        var blockedRoot = await service.CreateTaskAsync(project, "blocked root");
        var blockedMiddle = await service.CreateTaskAsync(project, "blocked middle", null, blockedRoot);
        await service.CreateTaskAsync(project, "outside", null, blockedMiddle);
        var invisible = await service.CreateTaskAsync(hidden);

        using var byViewer = await DeleteAsync(viewer, BulkUpdateTasksTests.Body([parent]));
        using var response = await DeleteAsync(project.OwnerClient,
            BulkUpdateTasksTests.Body([parent, child, blockedRoot, blockedMiddle, invisible]));

        Assert.Equal("forbidden", BulkUpdateTasksTests.Statuses(await byViewer.ReadJsonAsync())[parent.ToString()]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var statuses = BulkUpdateTasksTests.Statuses(await response.ReadJsonAsync());
        Assert.Equal("deleted", statuses[parent.ToString()]);
        Assert.Equal("deleted", statuses[child.ToString()]);
        Assert.Equal("conflict", statuses[blockedMiddle.ToString()]);
        Assert.Equal("conflict", statuses[blockedRoot.ToString()]);
        Assert.Equal("not_found", statuses[invisible.ToString()]);
        Assert.True(await IsDeletedAsync(parent));
        Assert.False(await IsDeletedAsync(blockedRoot));
        Assert.False(await IsDeletedAsync(invisible));
    }

    [Fact]
    public async Task CascadeDeletesTheDescendantsToo()
    {
        using var project = await service.CreateProjectAsync();
        var parent = await service.CreateTaskAsync(project, "parent");
        var child = await service.CreateTaskAsync(project, "child", null, parent);
        var grandchild = await service.CreateTaskAsync(project, "grandchild", null, child);

        using var response = await DeleteAsync(project.OwnerClient, BulkUpdateTasksTests.Body([parent], cascade: true));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("deleted", BulkUpdateTasksTests.Statuses(await response.ReadJsonAsync())[parent.ToString()]);
        Assert.True(await IsDeletedAsync(child));
        Assert.True(await IsDeletedAsync(grandchild));
    }

    [Fact]
    public async Task MoreThanAThousandIdsAreRejected()
    {
        using var project = await service.CreateProjectAsync();

        using var response = await DeleteAsync(project.OwnerClient,
            BulkUpdateTasksTests.Body(Enumerable.Range(0, 1001).Select(_ => Guid.CreateVersion7())));

        Assert.NotEmpty((await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("ids"));
    }
}
