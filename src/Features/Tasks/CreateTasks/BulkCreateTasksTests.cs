using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks.CreateTasks;

public sealed class BulkCreateTasksTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private async Task<(HttpClient Client, Guid ProjectId)> EditorWithProjectAsync()
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        return (await service.ClientForAsync(account), project);
    }

    private static JsonObject Task(string reference, params object[] dependsOn) => new()
    {
        ["ref"] = reference,
        ["title"] = $"Task {reference}",
        ["depends_on"] = new JsonArray(dependsOn.Select(parent => parent switch
        {
            JsonNode node => node,
            _ => JsonValue.Create(parent.ToString()),
        }).ToArray<JsonNode?>()),
    };

    private static async Task<HttpResponseMessage> BulkAsync(HttpClient client, Guid project, IEnumerable<JsonObject> tasks) =>
        await client.PostAsync("/api/v1/tasks/bulk", TestJson.Raw(new JsonObject
        {
            ["project_id"] = project.ToString(),
            ["tasks"] = new JsonArray(tasks.Select(task => task.DeepClone()).ToArray()),
        }.ToJsonString()));

    [Fact]
    public async Task AThousandTaskDagIsCreatedAtomicallyWithOneBatchId()
    {
        var (client, project) = await EditorWithProjectAsync();
        // A layered DAG: each task depends on up to three tasks of the previous layer of 50.
        var tasks = Enumerable.Range(0, 1000).Select(i => i < 50
            ? Task($"t{i}")
            : Task($"t{i}", Enumerable.Range(0, 3).Select(k => (object)$"t{(i / 50 - 1) * 50 + (i + k * 7) % 50}").Distinct().ToArray())).ToList();

        using var response = await BulkAsync(client, project, tasks);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        var created = JsonDocument.Parse(body).RootElement;
        var batchId = created.GetProperty("batch_id").GetString()!;
        Assert.Equal(batchId, response.Headers.GetValues("X-Batch-ID").Single());
        Assert.Equal(1000, created.GetProperty("tasks").GetArrayLength());
        Assert.All(created.GetProperty("tasks").EnumerateArray(), task => Assert.Equal(batchId, task.GetProperty("batch_id").GetString()));
        var refs = created.GetProperty("refs");
        Assert.Equal(created.GetProperty("tasks")[999].GetProperty("id").GetString(), refs.GetProperty("t999").GetString());
        Assert.Equal(1000L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE batch_id = $1", Guid.Parse(batchId)));
        Assert.Equal(950L, await service.ScalarAsync<long>(
            "SELECT count(*) FROM tasks WHERE batch_id = $1 AND pending_parents = 3", Guid.Parse(batchId)));
        Assert.Equal(2850L, await service.ScalarAsync<long>(
            "SELECT count(*) FROM task_dependencies d JOIN tasks t ON t.id = d.child_id WHERE t.batch_id = $1", Guid.Parse(batchId)));
    }

    [Fact]
    public async Task TasksMayDependOnExistingTasksAndOnSiblingsWithEitherRequirement()
    {
        var (client, project) = await EditorWithProjectAsync();
        using var existing = await client.PostAsync("/api/v1/tasks", TestJson.Body(("project_id", project), ("title", "existing")));
        var existingId = (await existing.ReadJsonAsync()).GetProperty("id").GetString()!;

        using var response = await BulkAsync(client, project,
        [
            Task("load", new JsonObject { ["task_id"] = existingId, ["require"] = "completion" }),
            Task("report", new JsonObject { ["ref"] = "load", ["require"] = "success" }, existingId),
        ]);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var tasks = (await response.ReadJsonAsync()).GetProperty("tasks");
        var report = tasks[1].GetProperty("depends_on").EnumerateArray()
            .ToDictionary(edge => edge.GetProperty("task_id").GetString()!, edge => edge.GetProperty("require").GetString());
        Assert.Equal("completion", tasks[0].GetProperty("depends_on")[0].GetProperty("require").GetString());
        Assert.Equal("success", report[tasks[0].GetProperty("id").GetString()!]);
        Assert.Equal("success", report[existingId]);
    }

    [Fact]
    public async Task MoreThanAThousandTasksAreRejected()
    {
        var (client, project) = await EditorWithProjectAsync();

        using var response = await BulkAsync(client, project, Enumerable.Range(0, 1001).Select(i => Task($"t{i}")));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["must hold at most 1000 tasks (got 1001)"], problem.Errors("tasks"));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE project_id = $1", project));
    }

    [Fact]
    public async Task ATenTaskCycleIsReportedOnEveryTaskInIt()
    {
        var (client, project) = await EditorWithProjectAsync();
        var tasks = Enumerable.Range(0, 10).Select(i => Task($"c{i}", $"c{(i + 1) % 10}"))
            .Prepend(Task("root")).Append(Task("outside", "root")).ToList();

        using var response = await BulkAsync(client, project, tasks);

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        for (var i = 1; i <= 10; i++)
            Assert.StartsWith("forms a dependency cycle: ", problem.Errors($"tasks[{i}].depends_on").Single());
        Assert.Contains("c0 → c1 → c2", problem.Errors("tasks[1].depends_on").Single());
        Assert.False(problem.GetProperty("errors").TryGetProperty("tasks[0].depends_on", out _));
        Assert.False(problem.GetProperty("errors").TryGetProperty("tasks[11].depends_on", out _));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE project_id = $1", project));
    }

    [Fact]
    public async Task EveryBadItemIsReportedByItsPathAtOnceAndNothingIsCreated()
    {
        var (client, project) = await EditorWithProjectAsync();
        var tasks = new List<JsonObject>
        {
            Task("a"),
            Task("a"),
            Task("self", "self"),
            Task("orphan", "missing"),
            Task("twice", "a", "a"),
            Task("stranger", Guid.NewGuid()),
            new() { ["title"] = "", ["priority"] = -1 },
        };

        using var response = await BulkAsync(client, project, tasks);

        // Field errors and graph errors are independent: one answer lists them all.
        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["duplicates the ref of tasks[0]"], problem.Errors("tasks[1].ref"));
        Assert.Equal(["is required"], problem.Errors("tasks[6].title"));
        Assert.Equal(["must be between 0 and 100"], problem.Errors("tasks[6].priority"));
        Assert.Equal(["a task cannot depend on itself"], problem.Errors("tasks[2].depends_on[0]"));
        Assert.Equal(["is neither a task id nor the ref of a task in this request"], problem.Errors("tasks[3].depends_on[0]"));
        Assert.Equal(["duplicates another parent of this task"], problem.Errors("tasks[4].depends_on[1]"));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE project_id = $1", project));

        // The database checks come once the request itself is valid.
        tasks[1]["ref"] = "b";
        tasks[2] = Task("self");
        tasks[3] = Task("orphan");
        tasks[4] = Task("twice", "a");
        tasks[6] = Task("fine");
        using var unknown = await BulkAsync(client, project, tasks);
        var unknownProblem = await unknown.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["no such task in this project"], unknownProblem.Errors("tasks[5].depends_on[0]"));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE project_id = $1", project));
    }

    [Fact]
    public async Task ACycleAndABadFieldInAnotherItemAreReportedTogether()
    {
        var (client, project) = await EditorWithProjectAsync();
        var tasks = new List<JsonObject> { Task("x", "y"), Task("y", "x"), Task("loud") };
        tasks[2]["priority"] = 101;

        using var response = await BulkAsync(client, project, tasks);

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["must be between 0 and 100"], problem.Errors("tasks[2].priority"));
        Assert.StartsWith("forms a dependency cycle: ", problem.Errors("tasks[0].depends_on").Single());
        Assert.StartsWith("forms a dependency cycle: ", problem.Errors("tasks[1].depends_on").Single());
    }

    [Fact]
    public async Task ABodyLargerThanTheGeneralLimitIsAcceptedForBulk()
    {
        var (client, project) = await EditorWithProjectAsync();
        var padding = new string('p', 4000);
        var tasks = Enumerable.Range(0, 400).Select(i =>
        {
            var task = Task($"t{i}");
            task["description"] = padding;
            return task;
        });

        using var response = await BulkAsync(client, project, tasks);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task AnEmptyRequestIsRejected()
    {
        var (client, project) = await EditorWithProjectAsync();

        using var response = await BulkAsync(client, project, []);

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is required and must hold at least one task"], problem.Errors("tasks"));
    }
}
