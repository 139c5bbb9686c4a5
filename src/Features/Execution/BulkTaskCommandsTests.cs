using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

public sealed class BulkTaskCommandsTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static JsonObject Ids(params Guid[] ids) => new() { ["ids"] = new JsonArray([.. ids.Select(id => JsonValue.Create(id.ToString()))]) };

    private static async Task<Dictionary<Guid, JsonElement>> ResultsAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("results").EnumerateArray()
            .ToDictionary(result => Guid.Parse(result.GetProperty("id").GetString()!));
    }

    [Fact]
    public async Task EachIdGetsItsOwnStatusAndOneRefusalDoesNotStopTheOthers()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var finished = await worker.CreateIdAsync("finished");
        await worker.RunAsync(finished);
        var pending = await worker.CreateIdAsync("pending");
        var later = await worker.CreateIdAsync("after the refusal");

        using var response = await worker.PostAsync("/api/v1/tasks/bulk/cancel", Ids(pending, finished, later));

        var results = await ResultsAsync(response);
        Assert.Equal([pending, finished, later], results.Keys);
        Assert.Equal(200, results[pending].GetProperty("status").GetInt32());
        Assert.Equal("cancelled", results[pending].GetProperty("task").GetProperty("status").GetString());
        Assert.Equal(409, results[finished].GetProperty("status").GetInt32());
        Assert.Equal(409, results[finished].GetProperty("problem").GetProperty("status").GetInt32());
        Assert.False(results[finished].TryGetProperty("task", out _));
        Assert.Equal(200, results[later].GetProperty("status").GetInt32());
        Assert.Equal("cancelled", await worker.StatusAsync(later));
        Assert.Equal(1L, await service.ScalarAsync<long>("SELECT count(*) FROM audit_log WHERE action = 'task.cancel' AND resource_id = $1", pending.ToString()));
    }

    [Fact]
    public async Task AnUnreadableTaskIsReportedExactlyLikeAMissingOneAndStaysAsItIs()
    {
        using var worker = await EngineWorker.StartAsync(service);
        using var stranger = await EngineWorker.StartAsync(service);
        var hidden = await stranger.CreateIdAsync("not yours");
        var missing = Guid.CreateVersion7();

        using var response = await worker.PostAsync("/api/v1/tasks/bulk/pause", Ids(hidden, missing));

        var results = await ResultsAsync(response);
        Assert.Equal(404, results[hidden].GetProperty("status").GetInt32());
        Assert.Equal(results[missing].GetProperty("problem").GetRawText(), results[hidden].GetProperty("problem").GetRawText());
        Assert.Equal("pending", await stranger.StatusAsync(hidden));
    }

    [Fact]
    public async Task AProjectViewerIsForbiddenPerTask()
    {
        using var project = await service.CreateProjectAsync();
        var (_, viewer) = await service.MemberAsync(project, ProjectRoles.Viewer);
        var id = await service.CreateTaskAsync(project);

        using var response = await viewer.PostAsync("/api/v1/tasks/bulk/pause", TestJson.Raw(Ids(id).ToJsonString()));

        Assert.Equal(403, (await ResultsAsync(response))[id].GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task PauseResumeAndRetryMoveEveryListedTask()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var first = await worker.CreateIdAsync("first");
        var second = await worker.CreateIdAsync("second");

        using var paused = await worker.PostAsync("/api/v1/tasks/bulk/pause", Ids(first, second));
        Assert.All((await ResultsAsync(paused)).Values, result => Assert.Equal("paused", result.GetProperty("task").GetProperty("status").GetString()));
        using var resumed = await worker.PostAsync("/api/v1/tasks/bulk/resume", Ids(first, second));
        Assert.All((await ResultsAsync(resumed)).Values, result => Assert.Equal("pending", result.GetProperty("task").GetProperty("status").GetString()));
        (await worker.PostAsync("/api/v1/tasks/bulk/cancel", Ids(first, second))).Dispose();
        using var retried = await worker.PostAsync("/api/v1/tasks/bulk/retry", Ids(first, second));

        Assert.All((await ResultsAsync(retried)).Values, result => Assert.Equal(200, result.GetProperty("status").GetInt32()));
        Assert.Equal("pending", await worker.StatusAsync(first));
        Assert.Equal("pending", await worker.StatusAsync(second));
    }

    [Fact]
    public async Task MissingRepeatedOrTooManyIdsAre422()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("once");

        using var none = await worker.PostAsync("/api/v1/tasks/bulk/cancel", new JsonObject { ["ids"] = new JsonArray() });
        using var repeated = await worker.PostAsync("/api/v1/tasks/bulk/cancel", Ids(id, id));
        using var tooMany = await worker.PostAsync("/api/v1/tasks/bulk/cancel",
            Ids([.. Enumerable.Range(0, BulkTaskCommands.MaxIds + 1).Select(_ => Guid.CreateVersion7())]));

        Assert.NotEmpty((await none.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("ids"));
        Assert.NotEmpty((await repeated.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("ids[1]"));
        Assert.NotEmpty((await tooMany.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("ids"));
        Assert.Equal("pending", await worker.StatusAsync(id));
    }
}
