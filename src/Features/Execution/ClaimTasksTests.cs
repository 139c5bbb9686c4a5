using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

public sealed class ClaimTasksTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task ClaimsComeHighestPriorityFirstThenOldest()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var low = await worker.CreateIdAsync("low", body => body["priority"] = 10);
        var oldHigh = await worker.CreateIdAsync("old high", body => body["priority"] = 90);
        var middle = await worker.CreateIdAsync("middle");
        var newHigh = await worker.CreateIdAsync("new high", body => body["priority"] = 90);

        var first = await worker.ClaimAsync(limit: 3);
        var rest = await worker.ClaimAsync(limit: 3);

        Assert.Equal([oldHigh, newHigh, middle], first.Select(task => Guid.Parse(task.GetProperty("id").GetString()!)));
        Assert.Equal([low], rest.Select(task => Guid.Parse(task.GetProperty("id").GetString()!)));
        Assert.All(first, task =>
        {
            Assert.Equal("running", task.GetProperty("status").GetString());
            Assert.Equal(1, task.GetProperty("attempt").GetInt32());
            Assert.True(task.GetProperty("lease_token").GetInt64() > 0);
        });
    }

    [Fact]
    public async Task AClaimedChildCarriesItsParentsOutputs()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var parent = await worker.CreateIdAsync("extract");
        var child = await worker.CreateIdAsync("load", EngineWorker.DependsOn(parent));
        var claimedParent = await worker.ClaimOneAsync();
        using (var done = await worker.CompleteAsync(parent, claimedParent.GetProperty("lease_token").GetInt64(), output: new JsonObject { ["rows"] = 42 }))
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);

        var claimed = await worker.ClaimOneAsync();

        Assert.Equal(child.ToString(), claimed.GetProperty("id").GetString());
        var parents = claimed.GetProperty("parents");
        Assert.Equal(parent.ToString(), parents[0].GetProperty("task_id").GetString());
        Assert.Equal("succeeded", parents[0].GetProperty("status").GetString());
        Assert.Equal(42, parents[0].GetProperty("output").GetProperty("rows").GetInt32());
    }

    [Fact]
    public async Task OnlyReadyTasksAreClaimed()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var parent = await worker.CreateIdAsync("parent");
        await worker.CreateIdAsync("child", EngineWorker.DependsOn(parent));
        await worker.CreateIdAsync("later", body => body["scheduled_at"] = DateTime.UtcNow.AddHours(1).ToString("O"));
        var paused = await worker.CreateIdAsync("paused");
        using (var pause = await worker.PostAsync($"/api/v1/tasks/{paused}/pause"))
            Assert.Equal(HttpStatusCode.OK, pause.StatusCode);

        var claimed = await worker.ClaimAsync(limit: 10);

        Assert.Equal([parent.ToString()], claimed.Select(task => task.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task APendingTaskSaysWhatItWaitsOn()
    {
        var admin = await service.ClientForNewUserAsync("admin");
        using var worker = await EngineWorker.StartAsync(service);
        var key = "waiting-" + Guid.NewGuid().ToString("N");
        using (var rule = await admin.PostAsync("/api/v1/concurrency-rules", TestJson.Body(("concurrency_key", key), ("max_running", 1))))
            Assert.Equal(HttpStatusCode.Created, rule.StatusCode);
        var parent = await worker.CreateIdAsync("parent", body => body["concurrency_key"] = key);
        var child = await worker.CreateIdAsync("child", EngineWorker.DependsOn(parent));
        var later = await worker.CreateIdAsync("later", body => body["scheduled_at"] = "2099-01-02T03:04:05Z");
        var blocked = await worker.CreateIdAsync("blocked", body => body["concurrency_key"] = key);
        Assert.Equal(parent.ToString(), (await worker.ClaimOneAsync()).GetProperty("id").GetString());

        async Task<JsonElement> WaitingOnAsync(Guid id)
        {
            using var paused = await worker.PostAsync($"/api/v1/tasks/{id}/pause");
            Assert.Equal("paused", (await paused.ReadJsonAsync()).GetProperty("waiting_on").GetString());
            using var resumed = await worker.PostAsync($"/api/v1/tasks/{id}/resume");
            return (await resumed.ReadJsonAsync()).GetProperty("waiting_on");
        }

        Assert.Equal(1, (await WaitingOnAsync(child)).GetProperty("parents").GetInt32());
        Assert.Equal("2099-01-02T03:04:05.000000Z", (await WaitingOnAsync(later)).GetProperty("scheduled_at").GetString());
        var limited = await WaitingOnAsync(blocked);
        Assert.Equal(key, limited.GetProperty("concurrency_key").GetString());
        Assert.Equal(1, limited.GetProperty("running").GetInt32());
        Assert.Equal(1, limited.GetProperty("max").GetInt32());
    }

    [Fact]
    public async Task ConcurrentClaimersNeverExceedAKeysLimit()
    {
        var admin = await service.ClientForNewUserAsync("admin");
        using var worker = await EngineWorker.StartAsync(service);
        var key = "limited-" + Guid.NewGuid().ToString("N");
        using (var rule = await admin.PostAsync("/api/v1/concurrency-rules", TestJson.Body(("concurrency_key", key), ("max_running", 3))))
            Assert.Equal(HttpStatusCode.Created, rule.StatusCode);
        using (var bulk = await worker.Client.PostAsync("/api/v1/tasks/bulk", TestJson.Raw(new JsonObject
        {
            ["project_id"] = worker.ProjectId.ToString(),
            ["tasks"] = new JsonArray(Enumerable.Range(0, 40).Select(i => (JsonNode)new JsonObject { ["title"] = $"t{i}", ["concurrency_key"] = key }).ToArray()),
        }.ToJsonString())))
            Assert.Equal(HttpStatusCode.Created, bulk.StatusCode);

        var claims = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => worker.ClaimAsync(limit: 5)));

        Assert.Equal(3, claims.Sum(claimed => claimed.Count));
        Assert.Equal(3L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE concurrency_key = $1 AND status = 'running'", key));
        var one = claims.First(claimed => claimed.Count > 0)[0];
        using (var done = await worker.CompleteAsync(Guid.Parse(one.GetProperty("id").GetString()!), one.GetProperty("lease_token").GetInt64()))
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        Assert.Single(await worker.ClaimAsync(limit: 5));
    }

    [Fact]
    public async Task AKeyThatFillsUpDuringAClaimDoesNotHideTheTasksBehindIt()
    {
        var admin = await service.ClientForNewUserAsync("admin");
        using var worker = await EngineWorker.StartAsync(service);
        var key = "one-at-a-time-" + Guid.NewGuid().ToString("N");
        using (var rule = await admin.PostAsync("/api/v1/concurrency-rules", TestJson.Body(("concurrency_key", key), ("max_running", 1))))
            Assert.Equal(HttpStatusCode.Created, rule.StatusCode);
        // In claim order: two tasks of the key, then two free ones.
        var tasks = new (string Title, int Priority, string? Key)[] { ("keyed-1", 90, key), ("keyed-2", 80, key), ("free-1", 70, null), ("free-2", 60, null) };
        using (var bulk = await worker.Client.PostAsync("/api/v1/tasks/bulk", TestJson.Raw(new JsonObject
        {
            ["project_id"] = worker.ProjectId.ToString(),
            ["tasks"] = new JsonArray(tasks.Select(task => (JsonNode)new JsonObject
            {
                ["title"] = task.Title, ["priority"] = task.Priority, ["concurrency_key"] = task.Key,
            }).ToArray()),
        }.ToJsonString())))
            Assert.Equal(HttpStatusCode.Created, bulk.StatusCode);

        var claimed = await worker.ClaimAsync(limit: 2);

        Assert.Equal(["keyed-1", "free-1"], claimed.Select(task => task.GetProperty("title").GetString()));
    }

    [Fact]
    public async Task ALongPollWakesWhenAReadyTaskIsCreated()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var (polling, watch) = await StartWaitingLongPollAsync(worker);

        var created = await worker.CreateIdAsync("wake up");
        var claimed = await polling;

        Assert.Equal(created.ToString(), Assert.Single(claimed).GetProperty("id").GetString());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task ALongPollWakesWhenATaskOfAFullKeyEndsAndFreesItsSlot()
    {
        var admin = await service.ClientForNewUserAsync("admin");
        using var worker = await EngineWorker.StartAsync(service);
        var key = "one-slot-" + Guid.NewGuid().ToString("N");
        using (var rule = await admin.PostAsync("/api/v1/concurrency-rules", TestJson.Body(("concurrency_key", key), ("max_running", 1))))
            Assert.Equal(HttpStatusCode.Created, rule.StatusCode);
        var first = await worker.CreateIdAsync("holds the slot", body => body["concurrency_key"] = key);
        var second = await worker.CreateIdAsync("waits for the slot", body => body["concurrency_key"] = key);
        var running = await worker.ClaimOneAsync();
        Assert.Equal(first.ToString(), running.GetProperty("id").GetString());

        var (polling, watch) = await StartWaitingLongPollAsync(worker);
        using (var completed = await worker.CompleteAsync(first, running.GetProperty("lease_token").GetInt64()))
            Assert.Equal(HttpStatusCode.OK, completed.StatusCode);

        Assert.Equal(second.ToString(), Assert.Single(await polling).GetProperty("id").GetString());
        // Woken by the end, not found by the last look at its 20 s deadline.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task ALongPollWithNothingReadyAnswersEmptyAtItsDeadline()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var watch = Stopwatch.StartNew();

        var claimed = await worker.ClaimAsync(waitSeconds: 1);

        Assert.Empty(claimed);
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task AnExpiredLeaseIsTakenBackByTheSweeperAndTheOldWorkersReportsAreRefused()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("flaky", body => body["max_retries"] = 2);
        var first = await worker.ClaimOneAsync();
        var oldToken = first.GetProperty("lease_token").GetInt64();
        await service.ExecuteSqlAsync("UPDATE task_leases SET expires_at = now() - interval '1 second' WHERE task_id = $1", id);

        // The leader's sweeper (every 2 s by default) sends it back to the ready queue, which wakes the long poll.
        var second = Assert.Single(await worker.ClaimAsync(waitSeconds: 15));
        using var staleHeartbeat = await worker.PostAsync($"/api/v1/tasks/{id}/heartbeat", new JsonObject { ["lease_token"] = oldToken });
        using var staleComplete = await worker.CompleteAsync(id, oldToken, "failed");

        Assert.Equal(id.ToString(), second.GetProperty("id").GetString());
        Assert.Equal(2, second.GetProperty("attempt").GetInt32());
        Assert.True(second.GetProperty("lease_token").GetInt64() > oldToken);
        await staleHeartbeat.AssertProblemAsync(HttpStatusCode.Conflict);
        await staleComplete.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal("running", await worker.StatusAsync(id));
        using var current = await worker.CompleteAsync(id, second.GetProperty("lease_token").GetInt64());
        Assert.Equal("succeeded", (await current.ReadJsonAsync()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task ViewersCannotClaimAProjectsTasks()
    {
        using var owner = await EngineWorker.StartAsync(service);
        var viewer = await service.CreateUserAsync();
        await service.ExecuteSqlAsync("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'viewer')", owner.ProjectId, viewer.Id);
        using var viewerClient = await service.ClientForAsync(viewer);
        await owner.CreateIdAsync("not yours");

        using var response = await viewerClient.PostAsync("/api/v1/tasks/claim", TestJson.Body(("limit", 10)));

        Assert.Equal(0, (await response.ReadJsonAsync()).GetProperty("tasks").GetArrayLength());
    }

    [Fact]
    public async Task OutOfRangeClaimParametersAreRejected()
    {
        using var worker = await EngineWorker.StartAsync(service);

        using var response = await worker.PostAsync("/api/v1/tasks/claim",
            new JsonObject { ["limit"] = 101, ["lease_seconds"] = 1, ["wait_seconds"] = 31, ["kinds"] = new JsonArray("Bad Kind") });

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["must be between 1 and 100"], problem.Errors("limit"));
        Assert.Equal(["must be between 5 and 3600"], problem.Errors("lease_seconds"));
        Assert.Equal(["must be between 0 and 30"], problem.Errors("wait_seconds"));
        Assert.Single(problem.Errors("kinds[0]"));
    }

    /// <summary>
    /// Starts a 20 s long poll and returns once it has looked and found nothing (the claim records each look before it
    /// waits), with a watch started with it.
    /// </summary>
    private async Task<(Task<List<JsonElement>> Polling, Stopwatch Watch)> StartWaitingLongPollAsync(EngineWorker worker)
    {
        using var looks = new NodeMeasurements(service, "taskrunner.claim.duration", "taskrunner_claim_duration_seconds_count");
        var looksBefore = await looks.ValueAsync();
        var watch = Stopwatch.StartNew();
        var polling = worker.ClaimAsync(waitSeconds: 20);
        await Eventually.Until(async () => await looks.ValueAsync() != looksBefore, "the long poll never looked",
            TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));
        Assert.False(polling.IsCompleted);
        return (polling, watch);
    }
}
