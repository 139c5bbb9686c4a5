using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks.CreateTasks;

public sealed class CreateTaskTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private async Task<(HttpClient Client, TestAccount Account, Guid ProjectId)> EditorWithProjectAsync()
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        return (await service.ClientForAsync(account), account, project);
    }

    private static async Task<JsonElement> CreateAsync(HttpClient client, JsonObject body, HttpStatusCode expected = HttpStatusCode.Created)
    {
        using var response = await client.PostAsync("/api/v1/tasks", TestJson.Raw(body.ToJsonString()));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [Fact]
    public async Task ACreatedTaskIsPendingWithDefaultsLocationAndETag()
    {
        var (client, account, project) = await EditorWithProjectAsync();

        using var response = await client.PostAsync("/api/v1/tasks", TestJson.Body(
            ("project_id", project), ("title", "  Extract data  "), ("metadata", new JsonObject { ["source"] = "s3" })));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var task = await response.ReadJsonAsync();
        var id = task.GetProperty("id").GetString();
        Assert.Equal($"/api/v1/tasks/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal("\"1\"", response.Headers.ETag?.Tag);
        Assert.Equal("Extract data", task.GetProperty("title").GetString());
        Assert.Equal("pending", task.GetProperty("status").GetString());
        Assert.Equal(50, task.GetProperty("priority").GetInt32());
        Assert.Equal("default", task.GetProperty("kind").GetString());
        Assert.Equal("s3", task.GetProperty("metadata").GetProperty("source").GetString());
        Assert.Equal(account.Id.ToString(), task.GetProperty("created_by").GetString());
        Assert.Equal(0, task.GetProperty("depends_on").GetArrayLength());
        Assert.Equal(1, await service.ScalarAsync<long>(
            "SELECT count(*) FROM audit_log WHERE action = 'task.create' AND resource_id = $1", id!));
    }

    [Fact]
    public async Task EveryInvalidFieldIsReportedAtOnce()
    {
        var (client, _, project) = await EditorWithProjectAsync();
        var body = new JsonObject
        {
            ["project_id"] = project.ToString(),
            ["title"] = "",
            ["description"] = "bad \u0000 text",
            ["kind"] = "Bad Kind",
            ["priority"] = 101,
            ["metadata"] = new JsonArray(1, 2),
            ["timeout_seconds"] = 0,
            ["max_retries"] = -1,
            ["concurrency_key"] = "",
            ["actions"] = new JsonArray(
                new JsonObject { ["trigger"] = "later", ["url"] = "ftp://example.com/hook" },
                new JsonObject { ["trigger"] = "start", ["url"] = "https://user:secret@example.com/hook", ["method"] = "GET" }),
        };

        var problem = await CreateAsync(client, body, HttpStatusCode.UnprocessableEntity);

        var errors = problem.GetProperty("errors");
        foreach (var field in new[]
        {
            "title", "description", "kind", "priority", "metadata", "timeout_seconds", "max_retries", "concurrency_key",
            "actions[0].trigger", "actions[0].url", "actions[1].url", "actions[1].method",
        })
            Assert.True(errors.TryGetProperty(field, out _), $"no error for {field}: {errors}");
        Assert.Equal(["must not contain credentials"], problem.Errors("actions[1].url"));
    }

    [Fact]
    public async Task MetadataMustBeASmallObjectWithoutNul()
    {
        var (client, _, project) = await EditorWithProjectAsync();

        var tooLarge = await CreateAsync(client, new JsonObject
        {
            ["project_id"] = project.ToString(), ["title"] = "t", ["metadata"] = new JsonObject { ["blob"] = new string('x', 17 * 1024) },
        }, HttpStatusCode.UnprocessableEntity);
        var nulInKey = await CreateAsync(client, new JsonObject
        {
            ["project_id"] = project.ToString(), ["title"] = "t", ["metadata"] = new JsonObject { ["a\u0000b"] = 1 },
        }, HttpStatusCode.UnprocessableEntity);
        var nulInNestedValue = await CreateAsync(client, new JsonObject
        {
            ["project_id"] = project.ToString(), ["title"] = "t",
            ["metadata"] = new JsonObject { ["list"] = new JsonArray(new JsonObject { ["v"] = "x\u0000" }) },
        }, HttpStatusCode.UnprocessableEntity);

        Assert.Equal(["must be at most 16384 bytes of JSON"], tooLarge.Errors("metadata"));
        Assert.Equal([StorableJson.Message("metadata.a\\u0000b")], nulInKey.Errors("metadata"));
        Assert.Equal([StorableJson.Message("metadata.list[0].v")], nulInNestedValue.Errors("metadata"));
    }

    [Fact]
    public async Task DependenciesMustBeLiveTasksOfTheSameProject()
    {
        var (client, _, project) = await EditorWithProjectAsync();
        var stranger = await service.CreateUserAsync();
        var hiddenProject = await service.CreateProjectAsync(stranger);
        using var strangerClient = await service.ClientForAsync(stranger);
        var hiddenParent = (await CreateAsync(strangerClient, new JsonObject { ["project_id"] = hiddenProject.ToString(), ["title"] = "hidden" }))
            .GetProperty("id").GetString()!;
        var parent = (await CreateAsync(client, new JsonObject { ["project_id"] = project.ToString(), ["title"] = "parent" }))
            .GetProperty("id").GetString()!;
        var deletedParent = (await CreateAsync(client, new JsonObject { ["project_id"] = project.ToString(), ["title"] = "gone" }))
            .GetProperty("id").GetString()!;
        await service.ExecuteSqlAsync("UPDATE tasks SET deleted_at = now() WHERE id = $1", Guid.Parse(deletedParent));

        var shapeProblem = await CreateAsync(client, new JsonObject
        {
            ["project_id"] = project.ToString(),
            ["title"] = "child",
            ["depends_on"] = new JsonArray(parent, parent.ToUpperInvariant(), "not-an-id",
                new JsonObject { ["task_id"] = parent, ["require"] = "sometimes" }),
        }, HttpStatusCode.UnprocessableEntity);
        var databaseProblem = await CreateAsync(client, new JsonObject
        {
            ["project_id"] = project.ToString(),
            ["title"] = "child",
            ["depends_on"] = new JsonArray(hiddenParent, parent, deletedParent, Guid.NewGuid().ToString()),
        }, HttpStatusCode.UnprocessableEntity);

        Assert.Equal(["duplicates another parent of this task"], shapeProblem.Errors("depends_on[1]"));
        Assert.Equal(["must be a task id"], shapeProblem.Errors("depends_on[2]"));
        Assert.Equal(["must be success or completion"], shapeProblem.Errors("depends_on[3].require"));
        Assert.Equal(["no such task in this project"], databaseProblem.Errors("depends_on[0]"));
        Assert.False(databaseProblem.GetProperty("errors").TryGetProperty("depends_on[1]", out _));
        Assert.Equal(["is a deleted task"], databaseProblem.Errors("depends_on[2]"));
        Assert.Equal(["no such task in this project"], databaseProblem.Errors("depends_on[3]"));
    }

    [Fact]
    public async Task AChildWaitsForItsUnfinishedParentsAndIsCancelledWhenARequiredParentFailed()
    {
        var (client, _, project) = await EditorWithProjectAsync();
        var running = (await CreateAsync(client, new JsonObject { ["project_id"] = project.ToString(), ["title"] = "a" })).GetProperty("id").GetString()!;
        var failed = (await CreateAsync(client, new JsonObject { ["project_id"] = project.ToString(), ["title"] = "b" })).GetProperty("id").GetString()!;
        await service.ExecuteSqlAsync("UPDATE tasks SET status = 'failed', ended_at = now() WHERE id = $1", Guid.Parse(failed));

        var waiting = await CreateAsync(client, new JsonObject
        {
            ["project_id"] = project.ToString(), ["title"] = "waits",
            ["depends_on"] = new JsonArray(running, new JsonObject { ["task_id"] = failed, ["require"] = "completion" }),
        });
        var doomed = await CreateAsync(client, new JsonObject
        {
            ["project_id"] = project.ToString(), ["title"] = "doomed", ["depends_on"] = new JsonArray(failed),
        });

        Assert.Equal("pending", waiting.GetProperty("status").GetString());
        Assert.Equal(1, waiting.GetProperty("waiting_on").GetProperty("parents").GetInt32());
        Assert.Equal(1, await service.ScalarAsync<int>("SELECT pending_parents FROM tasks WHERE id = $1",
            Guid.Parse(waiting.GetProperty("id").GetString()!)));
        Assert.Equal("cancelled", doomed.GetProperty("status").GetString());
        Assert.Equal("upstream_failed", doomed.GetProperty("cancel_reason").GetString());
        Assert.Equal(JsonValueKind.String, doomed.GetProperty("ended_at").ValueKind);
    }

    [Fact]
    public async Task ViewersCannotCreateTasks()
    {
        var owner = await service.CreateUserAsync();
        var projectViewer = await service.CreateUserAsync();
        var globalViewer = await service.CreateUserAsync("viewer");
        var project = await service.CreateProjectAsync(owner, (projectViewer, "viewer"), (globalViewer, "owner"));
        using var projectViewerClient = await service.ClientForAsync(projectViewer);
        using var globalViewerClient = await service.ClientForAsync(globalViewer);
        using var outsider = await service.ClientForNewUserAsync();
        var body = new JsonObject { ["project_id"] = project.ToString(), ["title"] = "t" };

        using var asProjectViewer = await projectViewerClient.PostAsync("/api/v1/tasks", TestJson.Raw(body.ToJsonString()));
        using var asGlobalViewer = await globalViewerClient.PostAsync("/api/v1/tasks", TestJson.Raw(body.ToJsonString()));
        var asOutsider = await CreateAsync(outsider, body, HttpStatusCode.UnprocessableEntity);

        await asProjectViewer.AssertProblemAsync(HttpStatusCode.Forbidden);
        await asGlobalViewer.AssertProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(["no such project"], asOutsider.Errors("project_id"));
    }

    [Fact]
    public async Task ALiveTaskWithTheSameDedupeKeyIsReturnedInsteadOfACopy()
    {
        var (client, _, project) = await EditorWithProjectAsync();
        var body = new JsonObject { ["project_id"] = project.ToString(), ["title"] = "nightly", ["dedupe_key"] = "nightly-2026-11-29" };

        var first = await CreateAsync(client, body);
        using var second = await client.PostAsync("/api/v1/tasks", TestJson.Raw(body.ToJsonString()));
        await service.ExecuteSqlAsync("UPDATE tasks SET status = 'succeeded', ended_at = now() WHERE id = $1",
            Guid.Parse(first.GetProperty("id").GetString()!));
        var afterItFinished = await CreateAsync(client, body);

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("true", second.Headers.GetValues("Deduplicated").Single());
        Assert.Equal(first.GetProperty("id").GetString(), (await second.ReadJsonAsync()).GetProperty("id").GetString());
        Assert.NotEqual(first.GetProperty("id").GetString(), afterItFinished.GetProperty("id").GetString());
    }

    [Fact]
    public async Task ConcurrentCreatesWithOneDedupeKeyMakeOneTask()
    {
        var (client, _, project) = await EditorWithProjectAsync();
        var body = new JsonObject { ["project_id"] = project.ToString(), ["title"] = "once", ["dedupe_key"] = "race" }.ToJsonString();

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.PostAsync("/api/v1/tasks", TestJson.Raw(body))));

        Assert.All(responses, response => Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK));
        Assert.Single(responses, response => response.StatusCode == HttpStatusCode.Created);
        var ids = await Task.WhenAll(responses.Select(async response => (await response.ReadJsonAsync()).GetProperty("id").GetString()));
        Assert.Single(ids.Distinct());
        Assert.Equal(1L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE project_id = $1", project));
        foreach (var response in responses)
            response.Dispose();
    }

    [Fact]
    public async Task ARefIsOnlyForBulkRequests()
    {
        var (client, _, project) = await EditorWithProjectAsync();

        var problem = await CreateAsync(client, new JsonObject { ["project_id"] = project.ToString(), ["title"] = "t", ["ref"] = "a" },
            HttpStatusCode.UnprocessableEntity);

        Assert.Equal(["is only used in bulk requests, to name a task its siblings depend on"], problem.Errors("ref"));
    }
}
