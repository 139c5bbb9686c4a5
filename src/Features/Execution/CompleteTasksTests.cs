using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

public sealed class CompleteTasksTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AStaleOrMissingLeaseTokenIsRefusedAndChangesNothing()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("claimed");
        var token = (await worker.ClaimOneAsync()).GetProperty("lease_token").GetInt64();

        using var stale = await worker.CompleteAsync(id, token + 1000, "failed");
        using var missing = await worker.CompleteAsync(id, null, "failed");

        await stale.AssertProblemAsync(HttpStatusCode.Conflict);
        await missing.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal("running", await worker.StatusAsync(id));
        Assert.Equal(1L, await service.ScalarAsync<long>("SELECT count(*) FROM task_leases WHERE task_id = $1", id));
    }

    [Fact]
    public async Task AReportAboutADeletedTaskIsNotFoundAndChangesNothing()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("deleted while running");
        var token = (await worker.ClaimOneAsync()).GetProperty("lease_token").GetInt64();
        using (var deleted = await worker.Client.DeleteAsync($"/api/v1/tasks/{id}"))
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);

        using var one = await worker.CompleteAsync(id, token);
        using var batch = await worker.PostAsync("/api/v1/tasks/complete", new JsonObject
        {
            ["reports"] = new JsonArray(new JsonObject { ["task_id"] = id.ToString(), ["lease_token"] = token, ["status"] = "succeeded" }),
        });

        await one.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, batch.StatusCode);
        Assert.Equal("not_found", (await batch.ReadJsonAsync()).GetProperty("results")[0].GetProperty("status").GetString());
        Assert.Equal("running", await worker.StatusAsync(id));
        Assert.Equal(1L, await service.ScalarAsync<long>("SELECT count(*) FROM task_leases WHERE task_id = $1", id));
    }

    [Fact]
    public async Task SuccessEndsTheTaskDropsTheLeaseAndReleasesOnlyItsChildren()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var parent = await worker.CreateIdAsync("parent", body =>
            body["actions"] = new JsonArray(
                new JsonObject { ["trigger"] = "success", ["url"] = "http://127.0.0.1:9/ok" },
                new JsonObject { ["trigger"] = "end", ["url"] = "http://127.0.0.1:9/end" },
                new JsonObject { ["trigger"] = "failure", ["url"] = "http://127.0.0.1:9/bad" }));
        var other = await worker.CreateIdAsync("other");
        var child = await worker.CreateIdAsync("child", EngineWorker.DependsOn(parent, other));
        var claimed = await worker.ClaimAsync(limit: 1);

        using var response = await worker.CompleteAsync(parent, claimed[0].GetProperty("lease_token").GetInt64(), output: new JsonObject { ["n"] = 1 });

        var task = await response.ReadJsonAsync();
        Assert.Equal("succeeded", task.GetProperty("status").GetString());
        Assert.Equal(1, task.GetProperty("output").GetProperty("n").GetInt32());
        Assert.NotNull(task.GetProperty("ended_at").GetString());
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM task_leases WHERE task_id = $1", parent));
        Assert.Equal(["end", "success"], (await service.QueryTextAsync("SELECT trigger FROM outbox WHERE task_id = $1 ORDER BY trigger", parent)));
        Assert.Equal(1, await service.ScalarAsync<int>("SELECT pending_parents FROM tasks WHERE id = $1", child));
        await worker.RunAsync(other);
        Assert.Equal(0, await service.ScalarAsync<int>("SELECT pending_parents FROM tasks WHERE id = $1", child));
    }

    [Fact]
    public async Task AFailureCancelsEveryDescendantOfADiamondAndALongChain()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var root = await worker.CreateIdAsync("root");
        var left = await worker.CreateIdAsync("left", EngineWorker.DependsOn(root));
        var right = await worker.CreateIdAsync("right", EngineWorker.DependsOn(root));
        var join = await worker.CreateIdAsync("join", EngineWorker.DependsOn(left, right));
        var chain = new List<Guid> { join };
        for (var i = 0; i < 30; i++)
        {
            var previous = chain[^1];
            chain.Add(await worker.CreateIdAsync($"link {i}", EngineWorker.DependsOn(previous)));
        }

        await worker.RunAsync(root, "failed");

        foreach (var id in new[] { left, right }.Concat(chain))
        {
            Assert.Equal("cancelled", await worker.StatusAsync(id));
            Assert.Equal("upstream_failed", await worker.CancelReasonAsync(id));
        }
        Assert.Empty(await worker.ClaimAsync(limit: 10));
    }

    [Fact]
    public async Task CompletionEdgeChildrenProceedAfterAFailureWhileSuccessEdgeChildrenAreCancelled()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var parent = await worker.CreateIdAsync("parent");
        var cleanup = await worker.CreateIdAsync("cleanup", EngineWorker.DependsOn((parent, "completion")));
        var report = await worker.CreateIdAsync("report", EngineWorker.DependsOn(parent));
        var afterReport = await worker.CreateIdAsync("after report", EngineWorker.DependsOn((report, "completion")));

        await worker.RunAsync(parent, "failed");

        Assert.Equal("cancelled", await worker.StatusAsync(report));
        var ready = await worker.ClaimAsync(limit: 10);
        Assert.Equal([cleanup, afterReport], ready.Select(task => Guid.Parse(task.GetProperty("id").GetString()!)).Order());
    }

    [Fact]
    public async Task AFailureWithRetriesLeftGoesBackToPendingWithBackoff()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("flaky", body => body["max_retries"] = 1);
        var child = await worker.CreateIdAsync("child", EngineWorker.DependsOn(id));
        var token = (await worker.ClaimOneAsync()).GetProperty("lease_token").GetInt64();

        using var response = await worker.CompleteAsync(id, token, "failed", error: "boom");

        var task = await response.ReadJsonAsync();
        Assert.Equal("pending", task.GetProperty("status").GetString());
        Assert.Equal("boom", task.GetProperty("error").GetString());
        // Engine:RetryBaseSeconds is 10: the first retry waits between 5 and 10 seconds.
        var delay = task.GetProperty("scheduled_at").GetDateTime().ToUniversalTime() - DateTime.UtcNow;
        Assert.InRange(delay.TotalSeconds, 3, 11);
        Assert.Equal("pending", await worker.StatusAsync(child));
        Assert.Empty(await worker.ClaimAsync(limit: 5));

        await service.ExecuteSqlAsync("UPDATE tasks SET scheduled_at = now() WHERE id = $1", id);
        var retried = await worker.ClaimOneAsync();
        Assert.Equal(2, retried.GetProperty("attempt").GetInt32());
        using var finalFailure = await worker.CompleteAsync(id, retried.GetProperty("lease_token").GetInt64(), "failed");
        Assert.Equal("failed", (await finalFailure.ReadJsonAsync()).GetProperty("status").GetString());
        Assert.Equal("cancelled", await worker.StatusAsync(child));
    }

    [Fact]
    public async Task ABatchOfReportsAnswersEachItem()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var first = await worker.CreateIdAsync("first");
        var second = await worker.CreateIdAsync("second");
        var pending = await worker.CreateIdAsync("pending", EngineWorker.DependsOn(first));
        var claimed = await worker.ClaimAsync(limit: 2);
        var tokens = claimed.ToDictionary(task => Guid.Parse(task.GetProperty("id").GetString()!), task => task.GetProperty("lease_token").GetInt64());
        var missing = Guid.NewGuid();

        using var response = await worker.PostAsync("/api/v1/tasks/complete", new JsonObject
        {
            ["reports"] = new JsonArray(
                new JsonObject { ["task_id"] = first.ToString(), ["lease_token"] = tokens[first], ["status"] = "succeeded" },
                new JsonObject { ["task_id"] = second.ToString(), ["lease_token"] = tokens[second] + 7, ["status"] = "succeeded" },
                new JsonObject { ["task_id"] = pending.ToString(), ["status"] = "failed" },
                new JsonObject { ["task_id"] = missing.ToString(), ["status"] = "failed" }),
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await response.ReadJsonAsync()).GetProperty("results");
        Assert.Equal(["ok", "conflict", "conflict", "not_found"], results.EnumerateArray().Select(result => result.GetProperty("status").GetString()));
        Assert.Equal("succeeded", results[0].GetProperty("task_status").GetString());
        Assert.Equal("succeeded", await worker.StatusAsync(first));
        Assert.Equal("running", await worker.StatusAsync(second));
        Assert.Equal("pending", await worker.StatusAsync(pending));
        Assert.Equal(0, await service.ScalarAsync<int>("SELECT pending_parents FROM tasks WHERE id = $1", pending));
    }

    [Fact]
    public async Task InvalidReportsAreRejectedWithEveryError()
    {
        using var worker = await EngineWorker.StartAsync(service);

        using var response = await worker.PostAsync("/api/v1/tasks/complete", new JsonObject
        {
            ["reports"] = new JsonArray(new JsonObject { ["status"] = "done" }, new JsonObject { ["task_id"] = Guid.NewGuid().ToString(), ["status"] = "failed", ["error"] = new string('e', 10_001) }),
        });

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is required"], problem.Errors("reports[0].task_id"));
        Assert.Equal(["must be succeeded or failed"], problem.Errors("reports[0].status"));
        Assert.Equal(["must be at most 10000 characters"], problem.Errors("reports[1].error"));
    }

    [Fact]
    public async Task ListsFiltersWaitingOnAndETagsReflectAStartAndAnEndOnceTheyAnswer()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var parent = await worker.CreateIdAsync("parent");
        var child = await worker.CreateIdAsync("child", EngineWorker.DependsOn(parent));
        var created = await ETagAsync(parent);

        var token = (await worker.ClaimOneAsync()).GetProperty("lease_token").GetInt64();
        var started = await ETagAsync(parent);
        Assert.Equal([parent], await IdsAsync("running"));
        Assert.Equal([child], await IdsAsync("pending"));
        using (var waiting = await worker.Client.GetAsync($"/api/v1/tasks/{child}"))
            Assert.Equal(1, (await waiting.ReadJsonAsync()).GetProperty("waiting_on").GetProperty("parents").GetInt32());

        using (var completed = await worker.CompleteAsync(parent, token))
            Assert.Equal(HttpStatusCode.OK, completed.StatusCode);
        Assert.Equal([parent], await IdsAsync("succeeded"));
        Assert.Empty(await IdsAsync("running"));
        Assert.NotEqual(created, started);
        Assert.NotEqual(started, await ETagAsync(parent));
        // waiting_on is left out of a task that may start now.
        using var childRead = await worker.Client.GetAsync($"/api/v1/tasks/{child}");
        Assert.False((await childRead.ReadJsonAsync()).TryGetProperty("waiting_on", out _));

        async Task<List<Guid>> IdsAsync(string status)
        {
            using var response = await worker.Client.GetAsync($"/api/v1/tasks?project_id={worker.ProjectId}&status={status}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await response.ReadJsonAsync()).GetProperty("data").EnumerateArray().Select(item => item.GetProperty("id").GetGuid()).ToList();
        }

        async Task<string> ETagAsync(Guid id)
        {
            using var response = await worker.Client.GetAsync($"/api/v1/tasks/{id}");
            return response.Headers.ETag!.Tag;
        }
    }

    [Fact]
    public async Task ABatchCompleteShowsAtOnceInTheStatusFilterAndTheUpdatedOrder()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
            ids.Add(await worker.CreateIdAsync($"batch {i}"));
        var untouched = await worker.CreateIdAsync("created last, never started");
        var claimed = await worker.ClaimAsync(limit: 3);
        Assert.Equal(ids.Order().ToList(), Ids(claimed).Order().ToList());

        using (var reported = await worker.PostAsync("/api/v1/tasks/complete", new JsonObject
        {
            ["reports"] = new JsonArray(claimed.Select(task => (JsonNode)new JsonObject
            {
                ["task_id"] = task.GetProperty("id").GetString(), ["lease_token"] = task.GetProperty("lease_token").GetInt64(),
                ["status"] = "succeeded",
            }).ToArray()),
        }))
            Assert.Equal(HttpStatusCode.OK, reported.StatusCode);

        Assert.Equal(ids.Order().ToList(), (await ListAsync("status=succeeded")).Order().ToList());
        Assert.Empty(await ListAsync("status=running"));
        Assert.Equal([untouched], await ListAsync("status=pending"));
        // The three ended after the fourth was last written: they lead the newest-updated order, the fourth comes last.
        var byUpdate = await ListAsync("sort=-updated_at");
        Assert.Equal(ids.Order().ToList(), byUpdate.Take(3).Order().ToList());
        Assert.Equal(untouched, byUpdate[3]);
        Assert.Equal(ids.Order().ToList(), (await ListAsync("sort=-status&status=succeeded,pending")).Take(3).Order().ToList());

        async Task<List<Guid>> ListAsync(string query)
        {
            using var response = await worker.Client.GetAsync($"/api/v1/tasks?project_id={worker.ProjectId}&{query}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return Ids((await response.ReadJsonAsync()).GetProperty("data").EnumerateArray());
        }

        static List<Guid> Ids(IEnumerable<JsonElement> tasks) => tasks.Select(task => task.GetProperty("id").GetGuid()).ToList();
    }

    [Fact]
    public async Task ADedupeKeyIsHeldWhileItsTaskRunsAndFreedWhenItEnds()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var body = new JsonObject { ["project_id"] = worker.ProjectId.ToString(), ["title"] = "nightly", ["dedupe_key"] = "nightly-run" };
        var first = await worker.CreateIdAsync("nightly", task => task["dedupe_key"] = "nightly-run");
        var token = (await worker.ClaimOneAsync()).GetProperty("lease_token").GetInt64();

        using var whileRunning = await worker.Client.PostAsync("/api/v1/tasks", TestJson.Raw(body.ToJsonString()));
        using (var completed = await worker.CompleteAsync(first, token))
            Assert.Equal(HttpStatusCode.OK, completed.StatusCode);
        using var afterTheEnd = await worker.Client.PostAsync("/api/v1/tasks", TestJson.Raw(body.ToJsonString()));

        Assert.Equal(HttpStatusCode.OK, whileRunning.StatusCode);
        Assert.Equal(first, (await whileRunning.ReadJsonAsync()).GetProperty("id").GetGuid());
        Assert.Equal(HttpStatusCode.Created, afterTheEnd.StatusCode);
        Assert.NotEqual(first, (await afterTheEnd.ReadJsonAsync()).GetProperty("id").GetGuid());
    }

    [Fact]
    public async Task StartsAndEndsAreHotUpdatesOfTheTaskRow()
    {
        using var worker = await EngineWorker.StartAsync(service);
        using (var created = await worker.PostAsync("/api/v1/tasks/bulk", new JsonObject
        {
            ["tasks"] = new JsonArray(Enumerable.Range(0, 20).Select(i => (JsonNode)new JsonObject
            {
                ["project_id"] = worker.ProjectId.ToString(), ["title"] = $"hot {i}", ["metadata"] = new JsonObject { ["n"] = i },
            }).ToArray()),
        }))
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var before = await HotUpdatesAsync();

        var claimed = await worker.ClaimAsync(limit: 20);
        using (var reported = await worker.PostAsync("/api/v1/tasks/complete", new JsonObject
        {
            ["reports"] = new JsonArray(claimed.Select(task => (JsonNode)new JsonObject
            {
                ["task_id"] = task.GetProperty("id").GetString(), ["lease_token"] = task.GetProperty("lease_token").GetInt64(),
                ["status"] = "succeeded", ["output"] = new JsonObject { ["ok"] = true },
            }).ToArray()),
        }))
            Assert.Equal(HttpStatusCode.OK, reported.StatusCode);

        // 40 updates of task rows (20 starts, 20 ends); a status change that wrote the indexes of tasks would count none.
        // The server publishes table statistics a moment after each transaction, hence the wait.
        await Eventually.Until(async () => await HotUpdatesAsync() - before >= 36,
            "fewer than 36 of the 40 engine updates of the task rows were HOT");

        Task<long> HotUpdatesAsync() => service.ScalarAsync<long>("SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'tasks'");
    }
}
