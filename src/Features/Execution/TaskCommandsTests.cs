using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

public sealed class TaskCommandsTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    /// <summary>Puts a fresh task into <paramref name="status"/> through the API.</summary>
    private static async Task<Guid> TaskInAsync(EngineWorker worker, string status)
    {
        var id = await worker.CreateIdAsync(status);
        switch (status)
        {
            case "paused":
                (await worker.PostAsync($"/api/v1/tasks/{id}/pause")).Dispose();
                break;
            case "running" or "succeeded" or "failed":
                var claimed = Assert.Single(await worker.ClaimAsync(limit: 1));
                Assert.Equal(id.ToString(), claimed.GetProperty("id").GetString());
                if (status != "running")
                    (await worker.CompleteAsync(id, claimed.GetProperty("lease_token").GetInt64(), status)).Dispose();
                break;
            case "cancelled":
                (await worker.PostAsync($"/api/v1/tasks/{id}/cancel")).Dispose();
                break;
        }
        Assert.Equal(status, await worker.StatusAsync(id));
        return id;
    }

    [Theory]
    [InlineData("pause", "pending", "paused")]
    [InlineData("resume", "paused", "pending")]
    [InlineData("cancel", "pending", "cancelled")]
    [InlineData("cancel", "paused", "cancelled")]
    [InlineData("cancel", "running", "cancelled")]
    [InlineData("retry", "failed", "pending")]
    [InlineData("retry", "cancelled", "pending")]
    public async Task ALegalCommandMovesTheTask(string command, string from, string to)
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await TaskInAsync(worker, from);

        using var response = await worker.PostAsync($"/api/v1/tasks/{id}/{command}");

        var task = await response.ReadJsonAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(to, task.GetProperty("status").GetString());
        Assert.Equal(to == "cancelled" ? "requested" : null, task.TryGetProperty("cancel_reason", out var reason) ? reason.GetString() : null);
        Assert.Equal(1L, await service.ScalarAsync<long>("SELECT count(*) FROM audit_log WHERE action = $1 AND resource_id = $2", "task." + command, id.ToString()));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM task_leases WHERE task_id = $1", id));
    }

    [Theory]
    [InlineData("pause", "paused")]
    [InlineData("pause", "running")]
    [InlineData("pause", "succeeded")]
    [InlineData("resume", "pending")]
    [InlineData("resume", "running")]
    [InlineData("cancel", "succeeded")]
    [InlineData("cancel", "failed")]
    [InlineData("cancel", "cancelled")]
    [InlineData("retry", "pending")]
    [InlineData("retry", "running")]
    [InlineData("retry", "succeeded")]
    public async Task AnIllegalCommandIsAConflictAndChangesNothing(string command, string from)
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await TaskInAsync(worker, from);

        using var response = await worker.PostAsync($"/api/v1/tasks/{id}/{command}");

        await response.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal(from, await worker.StatusAsync(id));
    }

    [Fact]
    public async Task CommandsNeedAnEditorAndAVisibleTask()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("guarded");
        var viewer = await service.CreateUserAsync();
        await service.ExecuteSqlAsync("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'viewer')", worker.ProjectId, viewer.Id);
        using var viewerClient = await service.ClientForAsync(viewer);
        using var stranger = await service.ClientForNewUserAsync();

        using var asViewer = await viewerClient.PostAsync($"/api/v1/tasks/{id}/cancel", TestJson.Raw("{}"));
        using var asStranger = await stranger.PostAsync($"/api/v1/tasks/{id}/cancel", TestJson.Raw("{}"));

        await asViewer.AssertProblemAsync(HttpStatusCode.Forbidden);
        await asStranger.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal("pending", await worker.StatusAsync(id));
    }

    [Fact]
    public async Task CancellingPropagatesToSuccessEdgeDescendantsOnly()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var root = await worker.CreateIdAsync("root");
        var child = await worker.CreateIdAsync("child", EngineWorker.DependsOn(root));
        var grandchild = await worker.CreateIdAsync("grandchild", EngineWorker.DependsOn(child));
        var cleanup = await worker.CreateIdAsync("cleanup", EngineWorker.DependsOn((child, "completion")));

        (await worker.PostAsync($"/api/v1/tasks/{root}/cancel")).Dispose();

        Assert.Equal("requested", await worker.CancelReasonAsync(root));
        Assert.Equal("upstream_failed", await worker.CancelReasonAsync(child));
        Assert.Equal("upstream_failed", await worker.CancelReasonAsync(grandchild));
        Assert.Equal("pending", await worker.StatusAsync(cleanup));
        Assert.Equal(cleanup.ToString(), (await worker.ClaimOneAsync()).GetProperty("id").GetString());
    }

    [Fact]
    public async Task AGrandchildCreatedWhileItsGrandparentsCancelPropagatesIsCancelledToo()
    {
        using var worker = await EngineWorker.StartAsync(service);
        const int Rounds = 40;
        var grandchildren = new List<Guid>();
        for (var round = 0; round < Rounds; round++)
        {
            var root = await worker.CreateIdAsync($"root {round}");
            var child = await worker.CreateIdAsync($"child {round}", EngineWorker.DependsOn(root));
            // The create and the cancel race: the grandchild's edge is written while the cancel walks down through child.
            var created = worker.CreateIdAsync($"grandchild {round}", EngineWorker.DependsOn(child));
            var cancelled = worker.PostAsync($"/api/v1/tasks/{root}/cancel");
            await Task.WhenAll(created, cancelled);
            using (var response = await cancelled)
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            grandchildren.Add(await created);
        }

        // Whichever came first, none is left pending under a cancelled parent.
        foreach (var grandchild in grandchildren)
            Assert.Equal("upstream_failed", await worker.CancelReasonAsync(grandchild));
    }

    [Fact]
    public async Task RetryRevivesTheDescendantsItsFailureCancelled()
    {
        using var worker = await EngineWorker.StartAsync(service);
        // Created in the order the worker will claim them (equal priority: oldest first).
        var root = await worker.CreateIdAsync("root");
        var elsewhere = await worker.CreateIdAsync("fails elsewhere");
        var otherParent = await worker.CreateIdAsync("other parent");
        var left = await worker.CreateIdAsync("left", EngineWorker.DependsOn(root));
        var right = await worker.CreateIdAsync("right", EngineWorker.DependsOn(root));
        var join = await worker.CreateIdAsync("join", EngineWorker.DependsOn(left, right, otherParent));
        var blocked = await worker.CreateIdAsync("blocked twice", EngineWorker.DependsOn(left, elsewhere));
        var cleanup = await worker.CreateIdAsync("cleanup", EngineWorker.DependsOn((root, "completion")));
        await worker.RunAsync(root, "failed");
        await worker.RunAsync(elsewhere, "failed");
        Assert.Equal("upstream_failed", await worker.CancelReasonAsync(join));

        using var response = await worker.PostAsync($"/api/v1/tasks/{root}/retry");

        Assert.Equal("pending", (await response.ReadJsonAsync()).GetProperty("status").GetString());
        foreach (var revived in new[] { left, right, join })
            Assert.Equal("pending", await worker.StatusAsync(revived));
        Assert.Equal(1, await service.ScalarAsync<int>("SELECT pending_parents FROM tasks WHERE id = $1", left));
        Assert.Equal(3, await service.ScalarAsync<int>("SELECT pending_parents FROM tasks WHERE id = $1", join));
        Assert.Equal("cancelled", await worker.StatusAsync(blocked));
        Assert.Equal(1, await service.ScalarAsync<int>("SELECT pending_parents FROM tasks WHERE id = $1", cleanup));

        // The whole graph runs to the end once the root succeeds.
        await worker.RunAsync(root);
        await worker.RunAsync(otherParent);
        var next = await worker.ClaimAsync(limit: 10);
        Assert.Equal(new[] { left, right, cleanup }.Order(), next.Select(task => Guid.Parse(task.GetProperty("id").GetString()!)).Order());
    }

    [Fact]
    public async Task BatchCommandsActOnEveryApplicableTaskAndCountsFollow()
    {
        using var worker = await EngineWorker.StartAsync(service);
        using var bulk = await worker.Client.PostAsync("/api/v1/tasks/bulk", TestJson.Raw(new JsonObject
        {
            ["project_id"] = worker.ProjectId.ToString(),
            ["tasks"] = new JsonArray(
                new JsonObject { ["ref"] = "a", ["title"] = "a" },
                new JsonObject { ["ref"] = "b", ["title"] = "b", ["depends_on"] = new JsonArray("a") },
                new JsonObject { ["ref"] = "c", ["title"] = "c" }),
        }.ToJsonString()));
        var batch = (await bulk.ReadJsonAsync()).GetProperty("batch_id").GetString();
        var outside = await worker.CreateIdAsync("outside child");

        using var paused = await worker.PostAsync($"/api/v1/batches/{batch}/pause");
        Assert.Equal(3, (await paused.ReadJsonAsync()).GetProperty("counts").GetProperty("paused").GetInt32());
        using var pausedAgain = await worker.PostAsync($"/api/v1/batches/{batch}/pause");
        await pausedAgain.AssertProblemAsync(HttpStatusCode.Conflict);
        using var resumed = await worker.PostAsync($"/api/v1/batches/{batch}/resume");
        Assert.Equal(3, (await resumed.ReadJsonAsync()).GetProperty("counts").GetProperty("pending").GetInt32());
        await worker.ClaimOneAsync();
        using var cancelled = await worker.PostAsync($"/api/v1/batches/{batch}/cancel");
        using var read = await worker.Client.GetAsync($"/api/v1/batches/{batch}");
        using var unknown = await worker.Client.GetAsync($"/api/v1/batches/{Guid.NewGuid()}");

        var counts = (await read.ReadJsonAsync()).GetProperty("counts");
        Assert.Equal(3, counts.GetProperty("cancelled").GetInt32());
        Assert.Equal(0, counts.GetProperty("running").GetInt32());
        Assert.Equal(["batch_cancelled"], await service.QueryTextAsync(
            "SELECT DISTINCT cancel_reason FROM tasks WHERE batch_id = $1 AND status = 'cancelled'", Guid.Parse(batch!)));
        Assert.Equal("pending", await worker.StatusAsync(outside));
        await unknown.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task TheGraphShowsAncestorsAndDescendantsWithStatuses()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var a = await worker.CreateIdAsync("a");
        var b = await worker.CreateIdAsync("b", EngineWorker.DependsOn(a));
        var c = await worker.CreateIdAsync("c", EngineWorker.DependsOn(b));
        var d = await worker.CreateIdAsync("d", EngineWorker.DependsOn(b, a));
        await worker.RunAsync(a);

        using var response = await worker.Client.GetAsync($"/api/v1/tasks/{b}/graph");

        var graph = await response.ReadJsonAsync();
        Assert.Equal([a.ToString()], graph.GetProperty("ancestors").EnumerateArray().Select(node => node.GetProperty("id").GetString()));
        Assert.Equal("succeeded", graph.GetProperty("ancestors")[0].GetProperty("status").GetString());
        Assert.Equal(new[] { c, d }.Select(id => id.ToString()).Order(),
            graph.GetProperty("descendants").EnumerateArray().Select(node => node.GetProperty("id").GetString()).Order());
        Assert.Equal(4, graph.GetProperty("edges").GetArrayLength());
        Assert.False(graph.GetProperty("truncated").GetBoolean());
    }

    [Fact]
    public async Task RetryingABatchRerunsItsFailuresAndWhatTheyCancelledButNotItsSuccesses()
    {
        using var worker = await EngineWorker.StartAsync(service);
        using var bulk = await worker.Client.PostAsync("/api/v1/tasks/bulk", TestJson.Raw(new JsonObject
        {
            ["project_id"] = worker.ProjectId.ToString(),
            ["tasks"] = new JsonArray(
                new JsonObject { ["ref"] = "done", ["title"] = "done", ["priority"] = 90 },
                new JsonObject { ["ref"] = "broken", ["title"] = "broken", ["priority"] = 80, ["depends_on"] = new JsonArray("done") },
                new JsonObject { ["ref"] = "after", ["title"] = "after", ["depends_on"] = new JsonArray("broken") }),
        }.ToJsonString()));
        var body = await bulk.ReadJsonAsync();
        var batch = body.GetProperty("batch_id").GetString();
        var ids = body.GetProperty("refs").EnumerateObject().ToDictionary(entry => entry.Name, entry => Guid.Parse(entry.Value.GetString()!));
        await worker.RunAsync(ids["done"]);
        await worker.RunAsync(ids["broken"], "failed");
        Assert.Equal("upstream_failed", await worker.CancelReasonAsync(ids["after"]));

        using var retried = await worker.PostAsync($"/api/v1/batches/{batch}/retry");
        using var again = await worker.PostAsync($"/api/v1/batches/{batch}/retry");

        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        Assert.Equal(2, (await retried.ReadJsonAsync()).GetProperty("counts").GetProperty("pending").GetInt32());
        Assert.Equal("succeeded", await worker.StatusAsync(ids["done"]));
        Assert.Equal("pending", await worker.StatusAsync(ids["broken"]));
        Assert.Equal("pending", await worker.StatusAsync(ids["after"]));
        Assert.Null(await worker.CancelReasonAsync(ids["after"]));
        await again.AssertProblemAsync(HttpStatusCode.Conflict);
        await worker.RunAsync(ids["broken"]);
        await worker.RunAsync(ids["after"]);
    }

    [Fact]
    public async Task RetryingABatchWhoseTwoFailuresAreParentAndCompletionChildCountsTheParentOnce()
    {
        using var worker = await EngineWorker.StartAsync(service);
        using var bulk = await worker.Client.PostAsync("/api/v1/tasks/bulk", TestJson.Raw(new JsonObject
        {
            ["project_id"] = worker.ProjectId.ToString(),
            ["tasks"] = new JsonArray(
                new JsonObject { ["ref"] = "work", ["title"] = "work", ["priority"] = 90, ["max_retries"] = 0 },
                new JsonObject
                {
                    ["ref"] = "cleanup", ["title"] = "cleanup", ["max_retries"] = 0,
                    ["depends_on"] = new JsonArray(new JsonObject { ["ref"] = "work", ["require"] = "completion" }),
                }),
        }.ToJsonString()));
        var body = await bulk.ReadJsonAsync();
        var batch = body.GetProperty("batch_id").GetString();
        var ids = body.GetProperty("refs").EnumerateObject().ToDictionary(entry => entry.Name, entry => Guid.Parse(entry.Value.GetString()!));
        await worker.RunAsync(ids["work"], "failed");
        await worker.RunAsync(ids["cleanup"], "failed");

        using (var retried = await worker.PostAsync($"/api/v1/batches/{batch}/retry"))
            Assert.Equal(HttpStatusCode.OK, retried.StatusCode);

        // The cleanup waits for the work again, once: when the work ends, the cleanup is ready.
        Assert.Equal(1L, await service.ScalarAsync<long>("SELECT pending_parents::bigint FROM tasks WHERE id = $1", ids["cleanup"]));
        await worker.RunAsync(ids["work"]);
        await worker.RunAsync(ids["cleanup"]);
    }
}
