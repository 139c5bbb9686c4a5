using System.Net;
using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// Every JSON value a client sends for storage refuses what PostgreSQL cannot store — NUL and unpaired surrogates, escaped
/// in strings or keys — with a 422 naming the exact path, never a 500. The values are raw JSON text: the escapes must reach
/// the service as sent.
/// </summary>
public sealed class StorableJsonTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    /// <summary>A JSON object with the unstorable text at <c>.deep.items[1]</c> (or as a key there), and that path.</summary>
    public static TheoryData<string, string> Unstorable => new()
    {
        { """{"deep":{"items":["fine","\ud800"]}}""", ".deep.items[1]" },
        { """{"deep":{"items":["fine","tail \udc00"]}}""", ".deep.items[1]" },
        { """{"deep":{"items":["fine","\ud800\ud800"]}}""", ".deep.items[1]" },
        { """{"deep":{"items":["fine","a\u0000b"]}}""", ".deep.items[1]" },
        { """{"deep":{"items":[1,{"\ud800":true}]}}""", @".deep.items[1].\ud800" },
    };

    /// <summary>A 422 on the field whose message names the exact path inside it.</summary>
    private static async Task AssertRefusedAtAsync(HttpResponseMessage response, string field, string path)
    {
        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal([StorableJson.Message(field + path)], problem.Errors(field));
    }

    [Theory]
    [MemberData(nameof(Unstorable))]
    public async Task TaskMetadataThatPostgresCannotStoreIsRefusedAtItsPath(string json, string path)
    {
        using var worker = await EngineWorker.StartAsync(service);
        var body = $$"""{"project_id":"{{worker.ProjectId}}","title":"t","metadata":{{json}}}""";

        using (var created = await worker.Client.PostAsync("/api/v1/tasks", TestJson.Raw(body)))
            await AssertRefusedAtAsync(created, "metadata", path);
        using (var bulk = await worker.Client.PostAsync("/api/v1/tasks/bulk", TestJson.Raw($$"""{"tasks":[{"title":"ok"},{{body}}]}""")))
            await AssertRefusedAtAsync(bulk, "tasks[1].metadata", path);

        var id = await worker.CreateIdAsync("stored");
        using var patched = await worker.Client.PatchAsync($"/api/v1/tasks/{id}", TestJson.Raw($$"""{"metadata":{{json}}}"""));
        await AssertRefusedAtAsync(patched, "metadata", path);
    }

    [Theory]
    [MemberData(nameof(Unstorable))]
    public async Task AReportWhoseOutputPostgresCannotStoreIsRefusedAndTheTaskKeepsRunning(string json, string path)
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("reported");
        var leaseToken = (await worker.ClaimOneAsync()).GetProperty("lease_token").GetInt64();

        using (var single = await worker.Client.PostAsync($"/api/v1/tasks/{id}/complete",
                   TestJson.Raw($$"""{"status":"succeeded","lease_token":{{leaseToken}},"output":{{json}}}""")))
            await AssertRefusedAtAsync(single, "output", path);
        using (var batch = await worker.Client.PostAsync("/api/v1/tasks/complete", TestJson.Raw(
                   $$"""{"reports":[{"task_id":"{{id}}","lease_token":{{leaseToken}},"status":"succeeded","output":{{json}}}]}""")))
            await AssertRefusedAtAsync(batch, "reports[0].output", path);

        Assert.Equal("running", await worker.StatusAsync(id));
        using var fine = await worker.CompleteAsync(id, leaseToken);
        Assert.Equal(HttpStatusCode.OK, fine.StatusCode);
    }

    [Theory]
    [MemberData(nameof(Unstorable))]
    public async Task AScheduleTemplateWhoseMetadataPostgresCannotStoreIsRefused(string json, string path)
    {
        using var worker = await EngineWorker.StartAsync(service);
        using var response = await worker.Client.PostAsync("/api/v1/schedules", TestJson.Raw($$$"""
            {"project_id":"{{{worker.ProjectId}}}","cron":"0 9 * * *","timezone":"UTC","task":{"title":"nightly","metadata":{{{json}}}}}
            """));
        await AssertRefusedAtAsync(response, "task.metadata", path);
    }

    [Theory]
    [MemberData(nameof(Unstorable))]
    public async Task AFollowUpConditionPostgresCannotStoreIsRefused(string json, string path)
    {
        using var worker = await EngineWorker.StartAsync(service);
        using var response = await worker.Client.PostAsync("/api/v1/tasks", TestJson.Raw($$$"""
            {"project_id":"{{{worker.ProjectId}}}","title":"t","actions":[{"trigger":"end","url":"https://example.com/hook",
             "then":[{"when":{"json":[{"path":"result","equals":{{{json}}}}]},"url":"https://example.com/next"}]}]}
            """));
        await AssertRefusedAtAsync(response, "actions[0].then[0].when.json[0].equals", path);
    }
}
