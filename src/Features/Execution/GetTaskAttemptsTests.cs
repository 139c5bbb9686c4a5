using System.Net;
using System.Text.Json;
using TaskRunner.Features.Webhooks;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

/// <summary>A service whose engine sweeps and retries within a second and whose webhook retries come a second apart.</summary>
public sealed class FastEngineAndDeliveryService : ServiceFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        FastEngineFixture.FastEngine(FastDeliveryService.FastSettings(connectionString));
}

public sealed class GetTaskAttemptsTests(FastEngineAndDeliveryService service) : IClassFixture<FastEngineAndDeliveryService>
{
    private static async Task<List<JsonElement>> AttemptsAsync(HttpClient client, Guid id)
    {
        using var response = await client.GetAsync($"/api/v1/tasks/{id}/attempts");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("data").EnumerateArray().Select(item => item.Clone()).ToList();
    }

    private static string? Text(JsonElement attempt, string name) =>
        attempt.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    [Fact]
    public async Task EachRetryIsAnAttemptWithItsWorkerOutcomeAndErrorOldestFirst()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("flaky", body => body["max_retries"] = 1);
        var first = Assert.Single(await worker.ClaimAsync(workerName: "worker-a"));
        using (var failed = await worker.CompleteAsync(id, first.GetProperty("lease_token").GetInt64(), "failed", error: "disk full"))
            Assert.Equal(HttpStatusCode.OK, failed.StatusCode);
        var second = Assert.Single(await worker.ClaimAsync(waitSeconds: 10, workerName: "worker-b"));

        var whileRunning = await AttemptsAsync(worker.Client, id);

        Assert.Equal([1, 2], whileRunning.Select(attempt => attempt.GetProperty("number").GetInt32()));
        Assert.All(whileRunning, attempt => Assert.Equal("worker", Text(attempt, "kind")));
        Assert.Equal(["failed", "running"], whileRunning.Select(attempt => Text(attempt, "outcome")));
        Assert.Equal("disk full", Text(whileRunning[0], "error"));
        Assert.Equal(["worker-a", "worker-b"], whileRunning.Select(attempt => Text(attempt, "worker")));
        Assert.NotNull(Text(whileRunning[0], "ended_at"));
        Assert.Null(Text(whileRunning[1], "ended_at"));

        using (var succeeded = await worker.CompleteAsync(id, second.GetProperty("lease_token").GetInt64()))
            Assert.Equal(HttpStatusCode.OK, succeeded.StatusCode);
        var ended = await AttemptsAsync(worker.Client, id);

        Assert.Equal(["failed", "succeeded"], ended.Select(attempt => Text(attempt, "outcome")));
        Assert.All(ended, attempt => Assert.True(
            attempt.GetProperty("ended_at").GetDateTime() >= attempt.GetProperty("started_at").GetDateTime()));
        Assert.True(ended[1].GetProperty("started_at").GetDateTime() >= ended[0].GetProperty("ended_at").GetDateTime());
    }

    [Fact]
    public async Task AnAttemptPastItsTimeoutIsRecordedTimedOutWithItsWorker()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("slow", body => body["timeout_seconds"] = 1);
        await worker.ClaimAsync(workerName: "sleepy");
        await service.WaitForAsync("SELECT status = 'timed_out' FROM tasks WHERE id = $1", id);

        var attempt = Assert.Single(await AttemptsAsync(worker.Client, id));

        Assert.Equal("timed_out", Text(attempt, "outcome"));
        Assert.Equal(Sweeper.TimedOutError, Text(attempt, "error"));
        Assert.Equal("sleepy", Text(attempt, "worker"));
    }

    [Fact]
    public async Task CancellingARunningTaskEndsItsAttemptAsCancelled()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("cancel me");
        await worker.ClaimOneAsync();
        using (var cancelled = await worker.PostAsync($"/api/v1/tasks/{id}/cancel"))
            Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);

        var attempt = Assert.Single(await AttemptsAsync(worker.Client, id));

        Assert.Equal("cancelled", Text(attempt, "outcome"));
        Assert.NotNull(Text(attempt, "ended_at"));
    }

    [Fact]
    public async Task AWebhookThatFailedThenSucceededListsBothDeliveryAttemptsAfterTheRunThatCausedThem()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, index) => index == 0 ? new ReceiverAnswer(503) : ReceiverAnswer.Ok;
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("notify", WebhookSteps.WithActions(WebhookSteps.Action("success", receiver.Url())));
        await worker.RunAsync(id);
        await worker.Client.WaitForDeliveryAsync(id, "delivered", trigger: "success");

        var attempts = await AttemptsAsync(worker.Client, id);

        Assert.Equal(["worker", "delivery", "delivery"], attempts.Select(attempt => Text(attempt, "kind")));
        Assert.Equal(["succeeded", "failed", "delivered"], attempts.Select(attempt => Text(attempt, "outcome")));
        Assert.Equal([1, 1, 2], attempts.Select(attempt => attempt.GetProperty("number").GetInt32()));
        Assert.Equal(503, attempts[1].GetProperty("status_code").GetInt32());
        Assert.Equal(200, attempts[2].GetProperty("status_code").GetInt32());
        Assert.All(attempts.Skip(1), attempt =>
        {
            Assert.Equal("success", Text(attempt, "trigger"));
            Assert.NotNull(Text(attempt, "node"));
            Assert.Equal(Text(attempts[1], "delivery_id"), Text(attempt, "delivery_id"));
        });
    }

    [Fact]
    public async Task AttemptsArePagedWithACursor()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("twice", body => body["max_retries"] = 1);
        var first = await worker.ClaimOneAsync();
        using (var failed = await worker.CompleteAsync(id, first.GetProperty("lease_token").GetInt64(), "failed"))
            Assert.Equal(HttpStatusCode.OK, failed.StatusCode);
        Assert.Single(await worker.ClaimAsync(waitSeconds: 10));

        using var firstPage = await worker.Client.GetAsync($"/api/v1/tasks/{id}/attempts?limit=1");
        var page = await firstPage.ReadJsonAsync();
        Assert.True(page.GetProperty("has_more").GetBoolean());
        using var secondPage = await worker.Client.GetAsync(
            $"/api/v1/tasks/{id}/attempts?limit=1&cursor={Uri.EscapeDataString(page.GetProperty("next_cursor").GetString()!)}");
        var next = await secondPage.ReadJsonAsync();

        Assert.Equal(1, Assert.Single(page.GetProperty("data").EnumerateArray()).GetProperty("number").GetInt32());
        Assert.Equal(2, Assert.Single(next.GetProperty("data").EnumerateArray()).GetProperty("number").GetInt32());
        Assert.False(next.GetProperty("has_more").GetBoolean());
    }

    [Fact]
    public async Task AnotherUsersTaskAndAMalformedIdAreNotFound()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("private");
        using var stranger = await service.ClientForNewUserAsync();

        using var hidden = await stranger.GetAsync($"/api/v1/tasks/{id}/attempts");
        using var unknown = await worker.Client.GetAsync($"/api/v1/tasks/{Guid.CreateVersion7()}/attempts");
        using var malformed = await worker.Client.GetAsync("/api/v1/tasks/not-a-uuid/attempts");
        using var badCursor = await worker.Client.GetAsync($"/api/v1/tasks/{id}/attempts?cursor=forged");

        await hidden.AssertProblemAsync(HttpStatusCode.NotFound);
        await unknown.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.NotFound, malformed.StatusCode);
        await badCursor.AssertProblemAsync(HttpStatusCode.BadRequest);
    }
}
