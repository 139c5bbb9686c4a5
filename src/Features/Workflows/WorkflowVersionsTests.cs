using System.Net;
using System.Text.Json;
using Npgsql;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Workflows;

public sealed class WorkflowVersionsTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const string First = """
        name: etl
        parameters:
          day: {type: string, default: monday}
        tasks:
          - {key: extract, title: "Extract {{ params.day }}"}
          - {key: load, title: Load, depends_on: [extract]}
        """;

    private const string Second = """
        name: etl
        description: now with a check
        parameters:
          day: {type: string, default: monday}
          strict: {type: boolean, default: true}
        tasks:
          - {key: extract, title: "Extract {{ params.day }}", priority: 80}
          - {key: check, title: Check, depends_on: [extract]}
          - {key: load, title: Load, depends_on: [check]}
        """;

    private async Task<(HttpClient Client, Guid Workflow)> WorkflowAsync()
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        var client = await service.ClientForAsync(account);
        return (client, await client.CreateWorkflowAsync(project, First));
    }

    private static async Task<JsonElement> AddVersionAsync(HttpClient client, Guid workflow, string yaml, HttpStatusCode expected, string query = "")
    {
        using var response = await client.PostAsync($"/api/v1/workflows/{workflow}/versions{query}", WorkflowFixtures.Yaml(yaml));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    [Fact]
    public async Task AChangeMakesANewVersionAndTheDiffNamesTheChangedFieldsTasksAndEdges()
    {
        var (client, workflow) = await WorkflowAsync();

        var second = await AddVersionAsync(client, workflow, Second, HttpStatusCode.Created);
        var unchanged = await AddVersionAsync(client, workflow, Second, HttpStatusCode.OK);
        using var diffResponse = await client.GetAsync($"/api/v1/workflows/{workflow}/diff?from=1&to=2");

        Assert.Equal(2, second.GetProperty("number").GetInt32());
        Assert.True(second.GetProperty("is_default").GetBoolean());
        Assert.Equal(2, unchanged.GetProperty("number").GetInt32());
        var diff = await diffResponse.ReadJsonAsync();
        static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(item => item.ToString())];
        Assert.Equal(["description"], Strings(diff.GetProperty("fields")));
        Assert.Equal(["strict"], Strings(diff.GetProperty("parameters_added")));
        Assert.Equal(["check"], Strings(diff.GetProperty("tasks_added")));
        var changed = Assert.Single(diff.GetProperty("tasks_changed").EnumerateArray());
        Assert.Equal("extract", changed.GetProperty("key").GetString());
        Assert.Equal(["priority"], Strings(changed.GetProperty("fields")));
        Assert.Equal(["extract>check", "check>load"], diff.GetProperty("edges_added").EnumerateArray()
            .Select(edge => edge.GetProperty("from").GetString() + ">" + edge.GetProperty("to").GetString()));
        Assert.Equal(["extract>load"], diff.GetProperty("edges_removed").EnumerateArray()
            .Select(edge => edge.GetProperty("from").GetString() + ">" + edge.GetProperty("to").GetString()));
        using var list = await client.GetAsync($"/api/v1/workflows/{workflow}/versions");
        Assert.Equal([2, 1], (await list.ReadJsonAsync()).GetProperty("data").EnumerateArray().Select(v => v.GetProperty("number").GetInt32()));
    }

    [Fact]
    public async Task RunsUseTheDefaultVersionUntilAnotherIsMarkedAndMayNameOne()
    {
        var (client, workflow) = await WorkflowAsync();
        await AddVersionAsync(client, workflow, Second, HttpStatusCode.Created, "?default=false");

        async Task<int> TasksOfRunAsync(string body)
        {
            using var run = await client.StartRunAsync(workflow, body);
            Assert.Equal(HttpStatusCode.Created, run.StatusCode);
            return (await run.ReadJsonAsync()).GetProperty("tasks").GetArrayLength();
        }

        Assert.Equal(2, await TasksOfRunAsync("{}"));
        Assert.Equal(3, await TasksOfRunAsync("""{"version": 2}"""));
        using var marked = await client.PostAsync($"/api/v1/workflows/{workflow}/versions/2/default", null);
        Assert.Equal(HttpStatusCode.OK, marked.StatusCode);
        Assert.Equal(3, await TasksOfRunAsync("{}"));
        using var missing = await client.PostAsync($"/api/v1/workflows/{workflow}/versions/9/default", null);
        await missing.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AVersionNeverChangesInTheDatabase()
    {
        var (_, workflow) = await WorkflowAsync();

        var refused = await Assert.ThrowsAsync<PostgresException>(() =>
            service.ExecuteSqlAsync("UPDATE workflow_versions SET source = 'changed' WHERE workflow_id = $1", workflow));

        Assert.Contains("never changes", refused.MessageText);
    }

    [Fact]
    public async Task ADeletedWorkflowCannotBeRunAndComesBackWhenRestored()
    {
        var (client, workflow) = await WorkflowAsync();

        using var deleted = await client.DeleteAsync($"/api/v1/workflows/{workflow}");
        using var run = await client.StartRunAsync(workflow);
        using var get = await client.GetAsync($"/api/v1/workflows/{workflow}");
        using var withDeleted = await client.GetAsync($"/api/v1/workflows/{workflow}?include_deleted=true");
        using var restored = await client.PostAsync($"/api/v1/workflows/{workflow}/restore", null);
        using var runAfter = await client.StartRunAsync(workflow);

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await run.AssertProblemAsync(HttpStatusCode.NotFound);
        await get.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, withDeleted.StatusCode);
        Assert.Equal(HttpStatusCode.OK, restored.StatusCode);
        Assert.Equal(HttpStatusCode.Created, runAfter.StatusCode);
    }
}
