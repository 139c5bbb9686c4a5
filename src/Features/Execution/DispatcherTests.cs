using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

public sealed class DispatcherTests(FastEngineFixture service) : IClassFixture<FastEngineFixture>
{
    [Fact]
    public async Task TheLeaderStartsATaskWithAStartActionOnceAndItsReceiverReportsWithTheLeaseToken()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var parent = await worker.CreateIdAsync("extract");
        var child = await worker.CreateIdAsync("load", PushedTasks.Pushed(EngineWorker.DependsOn(parent)));
        var claimedParent = await worker.ClaimOneAsync();
        using (var done = await worker.CompleteAsync(parent, claimedParent.GetProperty("lease_token").GetInt64(), output: new JsonObject { ["rows"] = 42 }))
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);

        await service.WaitForAsync("SELECT status = 'running' FROM tasks WHERE id = $1", child);
        await service.AfterAnotherDispatchAsync(worker);

        var payload = Assert.Single(await service.StartPayloadsAsync(child));
        Assert.Equal(1, payload.GetProperty("attempt").GetInt32());
        Assert.Equal(42, payload.GetProperty("parents")[0].GetProperty("output").GetProperty("rows").GetInt32());
        var token = payload.GetProperty("lease_token").GetInt64();
        Assert.Equal(token.ToString(), (await service.QueryTextAsync("SELECT lease_token::text FROM task_leases WHERE task_id = $1 AND worker = 'push'", child)).Single());
        using var report = await worker.CompleteAsync(child, token);
        Assert.Equal("succeeded", (await report.ReadJsonAsync()).GetProperty("status").GetString());
        Assert.Single(await service.StartPayloadsAsync(child));
    }

    [Fact]
    public async Task ClaimsNeverReturnAPushedTaskAndAScheduledOneIsPushedWhenDue()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var pushed = await worker.CreateIdAsync("pushed", PushedTasks.Pushed(body => body["scheduled_at"] = DateTime.UtcNow.AddSeconds(2).ToString("O")));
        var pulled = await worker.CreateIdAsync("pulled");

        // Claim over and over, before and after the pushed task comes due, until the leader has pushed it.
        var claimed = new List<string?>();
        var watch = Stopwatch.StartNew();
        while (await worker.StatusAsync(pushed) != "running")
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), "the scheduled task was never pushed");
            claimed.AddRange((await worker.ClaimAsync(limit: 10, waitSeconds: 1)).Select(task => task.GetProperty("id").GetString()));
        }

        Assert.Equal([pulled.ToString()], claimed);
        Assert.Single(await service.StartPayloadsAsync(pushed));
    }

    [Fact]
    public async Task PushedAndClaimedTasksShareAKeysLimit()
    {
        var admin = await service.ClientForNewUserAsync("admin");
        using var worker = await EngineWorker.StartAsync(service);
        var key = "pushed-" + Guid.NewGuid().ToString("N");
        using (var rule = await admin.PostAsync("/api/v1/concurrency-rules", TestJson.Body(("concurrency_key", key), ("max_running", 2))))
            Assert.Equal(HttpStatusCode.Created, rule.StatusCode);
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++)
            ids.Add(await worker.CreateIdAsync($"pushed {i}", PushedTasks.Pushed(body => body["concurrency_key"] = key)));
        await worker.CreateIdAsync("pulled", body => body["concurrency_key"] = key);

        await service.WaitForAsync("SELECT count(*) = 2 FROM tasks WHERE concurrency_key = $1 AND status = 'running'", key);
        await service.AfterAnotherDispatchAsync(worker);
        Assert.Equal(2L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE concurrency_key = $1 AND status = 'running'", key));
        Assert.Empty(await worker.ClaimAsync(limit: 10, concurrencyKey: key));

        // Oldest first at equal priority; a report frees a slot that the next push takes.
        Assert.Equal(ids.Take(2).Select(id => id.ToString()).Order(),
            (await service.QueryTextAsync("SELECT id::text FROM tasks WHERE concurrency_key = $1 AND status = 'running'", key)).Order());
        var token = Assert.Single(await service.StartPayloadsAsync(ids[0])).GetProperty("lease_token").GetInt64();
        using (var done = await worker.CompleteAsync(ids[0], token))
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        await service.WaitForAsync("SELECT status = 'running' FROM tasks WHERE id = $1", ids[2], seconds: 5);
        Assert.Equal(2L, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE concurrency_key = $1 AND status = 'running'", key));
    }

    [Fact]
    public async Task TheLeaderReportsDispatchesSweepsAndTheReadyQueue()
    {
        using var dispatches = new NodeMeasurements(service, "taskrunner.engine.dispatches", "taskrunner_engine_dispatches_total");
        using var pushedStarts = new NodeMeasurements(service, "taskrunner.tasks.started", "taskrunner_tasks_started_total", ("via", "push"));
        using var sweeps = new NodeMeasurements(service, "taskrunner.engine.sweeper.runs", "taskrunner_engine_sweeper_runs_total");
        using var readyToPull = new NodeMeasurements(service, "taskrunner.engine.ready_queue.depth", "taskrunner_engine_ready_queue_depth", ("via", "pull"));
        using var worker = await EngineWorker.StartAsync(service);
        var pushed = await worker.CreateIdAsync("pushed", PushedTasks.Pushed());
        await worker.CreateIdAsync("waits for a worker");
        await service.WaitForAsync("SELECT status = 'running' FROM tasks WHERE id = $1", pushed);

        // The sweeper and the ready-queue gauge report on their own cadence: wait until a sweep has counted the waiting task.
        await Eventually.Until(async () => await sweeps.ValueAsync() > 0 && await readyToPull.ValueAsync() > 0,
            "no sweep reported the ready queue", TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(100));
        Assert.True(await dispatches.ValueAsync() >= 1);
        Assert.True(await pushedStarts.ValueAsync() >= 1);
    }
}
