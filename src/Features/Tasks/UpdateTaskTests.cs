using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

public sealed class UpdateTaskTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static Task<HttpResponseMessage> PatchAsync(HttpClient client, Guid id, string json, string? ifMatch = null) =>
        client.SendAsync(TaskData.Conditional(HttpMethod.Patch, $"/api/v1/tasks/{id}", TestJson.Raw(json), ifMatch: ifMatch));

    [Fact]
    public async Task AnEditorChangesFieldsAndTheAuditRecordsWhatChanged()
    {
        using var project = await service.CreateProjectAsync();
        var (editorAccount, editor) = await service.MemberAsync(project, ProjectRoles.Editor);
        var id = await service.CreateTaskAsync(project, "before");

        using var response = await PatchAsync(editor, id, $$"""
            {"title":"  after  ","priority":90,"metadata":{"team":"ops"},"kind":"etl.load","timeout_seconds":60,
             "scheduled_at":"2030-01-02T03:04:05+02:00","max_retries":3,"concurrency_key":"db","dedupe_key":"d-1",
             "assignee_id":"{{editorAccount.Id}}","description":"text",
             "actions":[{"trigger":"success","url":"https://hooks.example.com/done"}]}
            """);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("\"2\"", response.Headers.ETag!.Tag);
        var task = await response.ReadJsonAsync();
        Assert.Equal("after", task.GetProperty("title").GetString());
        Assert.Equal(90, task.GetProperty("priority").GetInt32());
        Assert.Equal("ops", task.GetProperty("metadata").GetProperty("team").GetString());
        Assert.Equal("etl.load", task.GetProperty("kind").GetString());
        Assert.Equal(new DateTime(2030, 1, 2, 1, 4, 5, DateTimeKind.Utc), task.GetProperty("scheduled_at").GetDateTime().ToUniversalTime());
        Assert.Equal(editorAccount.Id.ToString(), task.GetProperty("assignee_id").GetString());
        Assert.Equal("POST", task.GetProperty("actions")[0].GetProperty("method").GetString());
        var diff = JsonNode.Parse((await service.AuditDiffsAsync("task.update", id.ToString())).Single())!;
        Assert.Equal("before", diff["title"]!["from"]!.GetValue<string>());
        Assert.Equal("after", diff["title"]!["to"]!.GetValue<string>());
        Assert.Equal(90, diff["priority"]!["to"]!.GetValue<int>());
        Assert.Null(diff["status"]);
    }

    [Fact]
    public async Task AbsentFieldsStayAndNullClearsNullableOnes()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project, "keep");
        using (var set = await PatchAsync(project.OwnerClient, id,
                   """{"description":"d","timeout_seconds":30,"concurrency_key":"k","scheduled_at":"2030-01-01T00:00:00Z","priority":7}"""))
            Assert.Equal(HttpStatusCode.OK, set.StatusCode);

        using var response = await PatchAsync(project.OwnerClient, id,
            """{"description":null,"timeout_seconds":null,"concurrency_key":null,"scheduled_at":null}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var task = await response.ReadJsonAsync();
        Assert.Equal("keep", task.GetProperty("title").GetString());
        Assert.Equal(7, task.GetProperty("priority").GetInt32());
        Assert.False(task.TryGetProperty("description", out _));
        Assert.False(task.TryGetProperty("timeout_seconds", out _));
        Assert.False(task.TryGetProperty("concurrency_key", out _));
        Assert.False(task.TryGetProperty("scheduled_at", out _));
    }

    [Fact]
    public async Task EveryInvalidFieldIsReportedAtOnce()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);

        using var response = await PatchAsync(project.OwnerClient, id, $$"""
            {"title":"{{new string('t', 501)}}","kind":"Bad Kind","priority":101,"metadata":[1],"timeout_seconds":0,
             "max_retries":101,"concurrency_key":"","dedupe_key":"{{new string('k', 201)}}","scheduled_at":"2030-01-01T00:00:00",
             "description":"{{new string('d', 20001)}}","actions":[{"trigger":"later","url":"ftp://x"}]}
            """);

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        string[] expected =
        [
            "title", "kind", "priority", "metadata", "timeout_seconds", "max_retries", "concurrency_key", "dedupe_key",
            "scheduled_at", "description", "actions[0].trigger", "actions[0].url",
        ];
        Assert.Equal(expected.Order(), problem.GetProperty("errors").EnumerateObject().Select(property => property.Name).Order());
    }

    [Theory]
    [InlineData("""{"title":"a\u0000b"}""", "title")]
    [InlineData("""{"description":"a\u0000b"}""", "description")]
    [InlineData("""{"metadata":{"k\u0000":"v"}}""", "metadata")]
    [InlineData("""{"metadata":{"k":"v\u0000"}}""", "metadata")]
    [InlineData("""{"metadata":{"k":["x",{"deep":"\u0000"}]}}""", "metadata")]
    [InlineData("""{"concurrency_key":"a\u0000"}""", "concurrency_key")]
    [InlineData("""{"dedupe_key":"a\u0000"}""", "dedupe_key")]
    [InlineData("""{"kind":"a\u0000"}""", "kind")]
    [InlineData("""{"actions":[{"trigger":"start","url":"https://example.com/\u0000"}]}""", "actions[0].url")]
    [InlineData("""{"actions":[{"trigger":"start","url":"https://example.com/","headers":{"X-A":"\u0000"}}]}""", "actions[0].headers.X-A")]
    public async Task ANulCharacterAnywhereIs422NotAServerError(string body, string field)
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);

        using var response = await PatchAsync(project.OwnerClient, id, body);

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(problem.Errors(field));
    }

    [Theory]
    [InlineData("""{"status":"succeeded"}""", "status")]
    [InlineData("""{"project_id":"0199a000-0000-7000-8000-000000000000"}""", "project_id")]
    [InlineData("""{"depends_on":[]}""", "depends_on")]
    [InlineData("""{"titel":"typo"}""", "titel")]
    [InlineData("""{"title":null}""", "title")]
    [InlineData("""{"priority":null}""", "priority")]
    [InlineData("""{"metadata":null}""", "metadata")]
    [InlineData("""{"kind":null}""", "kind")]
    [InlineData("""{"max_retries":null}""", "max_retries")]
    [InlineData("""{"actions":null}""", "actions")]
    [InlineData("""{}""", "body")]
    public async Task ReadOnlyUnknownOrNullForRequiredFieldsIs422NamingTheField(string body, string field)
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);

        using var response = await PatchAsync(project.OwnerClient, id, body);

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(problem.Errors(field));
    }

    [Fact]
    public async Task AnAssigneeMustBeAnExistingUser()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);

        using var response = await PatchAsync(project.OwnerClient, id, $$"""{"assignee_id":"{{Guid.CreateVersion7()}}"}""");

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(problem.Errors("assignee_id"));
    }

    [Fact]
    public async Task ADedupeKeyHeldByAnotherUnfinishedTaskIsAConflict()
    {
        using var project = await service.CreateProjectAsync();
        await service.CreateTaskAsync(project, dedupeKey: "nightly");
        var id = await service.CreateTaskAsync(project);

        using var response = await PatchAsync(project.OwnerClient, id, """{"dedupe_key":"nightly"}""");

        await response.AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task AProjectViewerMayNotEdit()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var id = await service.CreateTaskAsync(project);

        using var response = await PatchAsync(viewer, id, """{"priority":1}""");

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task AGlobalViewerMayNotEditEvenAsProjectEditor()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Editor, Roles.Viewer);
        var id = await service.CreateTaskAsync(project);

        using var response = await PatchAsync(viewer, id, """{"priority":1}""");

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task ATaskInAProjectTheCallerCannotSeeIsNotFound()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);
        using var stranger = await service.ClientForNewUserAsync();

        using var response = await PatchAsync(stranger, id, """{"priority":1}""");

        await response.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task ADeletedTaskCannotBeEdited()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);
        await service.SoftDeleteTaskAsync(id);

        using var response = await PatchAsync(project.OwnerClient, id, """{"priority":1}""");

        await response.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AStaleIfMatchIs412AndTheCurrentOneSucceeds()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);
        await service.ExecuteSqlAsync("UPDATE tasks SET priority = 10 WHERE id = $1", id);

        using var stale = await PatchAsync(project.OwnerClient, id, """{"priority":1}""", ifMatch: "\"1\"");
        using var current = await PatchAsync(project.OwnerClient, id, """{"priority":2}""", ifMatch: "\"2\"");

        await stale.AssertProblemAsync(HttpStatusCode.PreconditionFailed);
        Assert.Equal(HttpStatusCode.OK, current.StatusCode);
        Assert.Equal(2, (await current.ReadJsonAsync()).GetProperty("priority").GetInt32());
    }

    [Fact]
    public async Task ConcurrentPatchesWithTheSameIfMatchLetExactlyOneWin()
    {
        using var project = await service.CreateProjectAsync();
        var id = await service.CreateTaskAsync(project);

        var responses = await Task.WhenAll(Enumerable.Range(1, 8).Select(priority =>
            PatchAsync(project.OwnerClient, id, $$"""{"priority":{{priority}}}""", ifMatch: "\"1\"")));

        try
        {
            Assert.Equal(1, responses.Count(response => response.StatusCode == HttpStatusCode.OK));
            Assert.Equal(7, responses.Count(response => response.StatusCode == HttpStatusCode.PreconditionFailed));
            Assert.Single(await service.AuditDiffsAsync("task.update", id.ToString()));
        }
        finally
        {
            foreach (var response in responses)
                response.Dispose();
        }
    }
}
