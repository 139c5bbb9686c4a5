using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Workflows;

public sealed class StartWorkflowRunTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const string FanOut = """
        name: fan-out
        parameters:
          regions: {type: array, items: {type: string}, default: [eu, us]}
          limit: {type: integer, minimum: 1, maximum: 10, default: 3}
        tasks:
          - key: extract
            for_each: "{{ params.regions }}"
            title: "Extract {{ item }}"
            max_retries: "{{ params.limit }}"
          - key: merge
            title: Merge
            depends_on: [extract]
        """;

    private async Task<(HttpClient Client, Guid ProjectId)> EditorWithProjectAsync()
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        return (await service.ClientForAsync(account), project);
    }

    private static string Params(JsonObject values) => new JsonObject { ["params"] = values }.ToJsonString();

    [Fact]
    public async Task ARunIsOneBatchCommittedWithItsRunRowAndAuditAndListedWithItsCounts()
    {
        var (client, project) = await EditorWithProjectAsync();
        var workflow = await client.CreateWorkflowAsync(project, FanOut);

        using var response = await client.StartRunAsync(workflow, Params(new JsonObject { ["regions"] = new JsonArray("eu", "us", "ap") }));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var run = await response.ReadJsonAsync();
        var batch = run.GetProperty("batch_id").GetString()!;
        Assert.Equal(4, run.GetProperty("tasks").GetArrayLength());
        Assert.Equal(4L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE batch_id = $1::uuid", batch));
        Assert.Equal(1L, await service.ScalarAsync<long>(
            "SELECT count(*) FROM workflow_runs WHERE id = $1::uuid AND batch_id = $2::uuid AND params->'regions' = '[\"eu\",\"us\",\"ap\"]' AND params->>'limit' = '3'",
            run.GetProperty("id").GetString()!, batch));
        Assert.Equal(1L, await service.ScalarAsync<long>(
            "SELECT count(*) FROM audit_log WHERE action = 'workflow.run' AND resource_id = $1", workflow.ToString()));
        var merge = run.GetProperty("tasks")[3];
        Assert.Equal(3, merge.GetProperty("depends_on").GetArrayLength());

        using var listed = await client.GetAsync($"/api/v1/workflows/{workflow}/runs");
        var runs = (await listed.ReadJsonAsync()).GetProperty("data");
        var only = Assert.Single(runs.EnumerateArray());
        Assert.Equal(4, only.GetProperty("total").GetInt32());
        Assert.Equal(4, only.GetProperty("counts").GetProperty("pending").GetInt32());
    }

    [Fact]
    public async Task AParameterOfTheWrongTypeIsRefusedUnderItsPath()
    {
        var (client, project) = await EditorWithProjectAsync();
        var workflow = await client.CreateWorkflowAsync(project, FanOut);

        using var response = await client.StartRunAsync(workflow,
            Params(new JsonObject { ["regions"] = "eu", ["limit"] = 11, ["extra"] = true }));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["must be a value of type array"], problem.Errors("params.regions"));
        Assert.Equal(["must be at most 10"], problem.Errors("params.limit"));
        Assert.Equal(["is not a parameter of this workflow"], problem.Errors("params.extra"));
    }

    [Fact]
    public async Task PlaceholdersInsideAParameterValueAreDataAndNeverEvaluated()
    {
        var (client, project) = await EditorWithProjectAsync();
        var workflow = await client.CreateWorkflowAsync(project, """
            name: notes
            parameters:
              note: {type: string, required: true}
              secret: {type: string, default: hidden}
            tasks:
              - key: a
                title: "Note: {{ params.note }}"
                metadata: {note: "{{ params.note }}", about: "about {{ params.note }}"}
            """);
        const string injection = "{{ params.secret }} {{ run.id }} {{ nope }}";

        using var response = await client.StartRunAsync(workflow, Params(new JsonObject { ["note"] = injection }));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var task = (await response.ReadJsonAsync()).GetProperty("tasks")[0];
        Assert.Equal("Note: " + injection, task.GetProperty("title").GetString());
        Assert.Equal(injection, task.GetProperty("metadata").GetProperty("note").GetString());
        Assert.Equal("about " + injection, task.GetProperty("metadata").GetProperty("about").GetString());
    }

    [Fact]
    public async Task AFanOutOverTenThousandItemsIsRefused()
    {
        var (client, project) = await EditorWithProjectAsync();
        var workflow = await client.CreateWorkflowAsync(project, FanOut);
        var regions = new JsonArray([.. Enumerable.Range(0, 10_001).Select(i => (JsonNode?)JsonValue.Create($"r{i}"))]);

        using var response = await client.StartRunAsync(workflow, Params(new JsonObject { ["regions"] = regions }));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.StartsWith("holds 10001 items; for_each (tasks[0]) fans out over at most 1000", problem.Errors("params.regions").Single());
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM workflow_runs WHERE workflow_id = $1", workflow));
    }

    [Fact]
    public async Task TheRenderedDagIsValidatedAgainWhenTheRunStarts()
    {
        var (client, project) = await EditorWithProjectAsync();
        var workflow = await client.CreateWorkflowAsync(project, """
            name: kinds
            parameters:
              kind: {type: string, required: true}
              copies: {type: array, required: true}
            tasks:
              - {key: a, title: A, kind: "{{ params.kind }}"}
              - {key: b, title: "{{ item }}", for_each: "{{ params.copies }}", priority: "{{ item }}"}
            """);

        using var response = await client.StartRunAsync(workflow,
            Params(new JsonObject { ["kind"] = "Not A Kind", ["copies"] = new JsonArray(5, 500) }));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.StartsWith("must start with a lower-case letter", problem.Errors("tasks[0].kind").Single());
        Assert.Equal(["must be between 0 and 100 (for_each item 1)"], problem.Errors("tasks[1].priority"));
    }

    [Fact]
    public async Task TheIdempotencyKeyReplaysTheFirstRun()
    {
        var (client, project) = await EditorWithProjectAsync();
        var workflow = await client.CreateWorkflowAsync(project, FanOut);

        async Task<(string Body, HttpResponseMessage Response)> StartAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/workflows/{workflow}/runs") { Content = TestJson.Raw("{}") };
            request.Headers.Add("Idempotency-Key", "nightly-2026-01-31");
            var response = await client.SendAsync(request);
            return (await response.Content.ReadAsStringAsync(), response);
        }
        var (first, firstResponse) = await StartAsync();
        var (second, secondResponse) = await StartAsync();

        Assert.Equal(HttpStatusCode.Created, secondResponse.StatusCode);
        Assert.Equal(first, second);
        Assert.Equal("true", secondResponse.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(1L, await service.ScalarAsync<long>("SELECT count(*) FROM workflow_runs WHERE workflow_id = $1", workflow));
        firstResponse.Dispose();
        secondResponse.Dispose();
    }

    [Fact]
    public async Task ProjectViewersSeeRunsButCannotStartThem()
    {
        var owner = await service.CreateUserAsync();
        var viewer = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(owner, (viewer, ProjectRoles.Viewer));
        var workflow = await (await service.ClientForAsync(owner)).CreateWorkflowAsync(project, FanOut);
        var asViewer = await service.ClientForAsync(viewer);

        using var start = await asViewer.StartRunAsync(workflow);
        using var list = await asViewer.GetAsync($"/api/v1/workflows/{workflow}/runs");
        using var outsider = await (await service.ClientForNewUserAsync()).StartRunAsync(workflow);

        await start.AssertProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        await outsider.AssertProblemAsync(HttpStatusCode.NotFound);
    }
}
