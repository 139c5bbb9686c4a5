using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

public sealed class SweeperTests(FastEngineFixture service) : IClassFixture<FastEngineFixture>
{
    private static Action<JsonObject> Hooks(params string[] triggers) => body => body["actions"] =
        new JsonArray(triggers.Select(trigger => (JsonNode)new JsonObject { ["trigger"] = trigger, ["url"] = $"http://127.0.0.1:9/{trigger}" }).ToArray());

    [Fact]
    public async Task ATaskPastItsTimeoutTimesOutCancelsItsSuccessChildrenAndReleasesItsCompletionChildren()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var slow = await worker.CreateIdAsync("slow", body =>
        {
            body["timeout_seconds"] = 1;
            Hooks("timeout", "end", "failure")(body);
        });
        var needsSuccess = await worker.CreateIdAsync("needs success", EngineWorker.DependsOn(slow));
        var cleanup = await worker.CreateIdAsync("cleanup", EngineWorker.DependsOn((slow, "completion")));
        var token = (await worker.ClaimOneAsync()).GetProperty("lease_token").GetInt64();

        await service.WaitForAsync("SELECT status = 'timed_out' FROM tasks WHERE id = $1", slow);

        Assert.Equal(Sweeper.TimedOutError, (await service.QueryTextAsync("SELECT error FROM tasks WHERE id = $1", slow)).Single());
        Assert.Equal("cancelled", await worker.StatusAsync(needsSuccess));
        Assert.Equal("upstream_failed", await worker.CancelReasonAsync(needsSuccess));
        Assert.Equal(["end", "timeout"], (await service.QueryTextAsync("SELECT trigger FROM outbox WHERE task_id = $1 ORDER BY trigger", slow)));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM task_leases WHERE task_id = $1", slow));
        using var late = await worker.CompleteAsync(slow, token);
        await late.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal(cleanup.ToString(), (await worker.ClaimOneAsync()).GetProperty("id").GetString());
    }

    [Fact]
    public async Task ATimedOutTaskWithRetriesLeftRunsAgainAfterBackoff()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var flaky = await worker.CreateIdAsync("flaky", body =>
        {
            body["timeout_seconds"] = 1;
            body["max_retries"] = 1;
        });
        var child = await worker.CreateIdAsync("child", EngineWorker.DependsOn(flaky));
        await worker.ClaimOneAsync();

        await service.WaitForAsync("SELECT status = 'pending' AND error IS NOT NULL FROM tasks WHERE id = $1", flaky);
        var again = Assert.Single(await worker.ClaimAsync(waitSeconds: 10));

        Assert.Equal(flaky.ToString(), again.GetProperty("id").GetString());
        Assert.Equal(2, again.GetProperty("attempt").GetInt32());
        Assert.Equal("pending", await worker.StatusAsync(child));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE task_id = $1", flaky));
    }

    [Fact]
    public async Task HeartbeatsPushTheTimeoutDeadlineForward()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("long", body => body["timeout_seconds"] = 4);
        var token = (await worker.ClaimOneAsync()).GetProperty("lease_token").GetInt64();
        var firstDeadline = await service.ScalarAsync<DateTime>("SELECT timeout_at FROM task_leases WHERE task_id = $1", id);

        // Beat until, by the database's clock, the deadline the claim set is 3 s past: the leader sweeps every second
        // (FastEngineFixture), so it has looked at the task at least twice since. Each beat moves the deadline 4 s past
        // itself, room enough for a busy machine between beats.
        var watch = Stopwatch.StartNew();
        while (!await service.ScalarAsync<bool>("SELECT now() > $1 + interval '3 seconds'", firstDeadline))
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), "the first deadline never passed");
            using (var beat = await worker.PostAsync($"/api/v1/tasks/{id}/heartbeat", new JsonObject { ["lease_token"] = token }))
                Assert.Equal(HttpStatusCode.OK, beat.StatusCode);
            await Task.Delay(100);
        }
        Assert.Equal("running", await worker.StatusAsync(id));
        Assert.True(await service.ScalarAsync<bool>("SELECT timeout_at > $2 FROM task_leases WHERE task_id = $1", id, firstDeadline));

        // Without beats, the last deadline passes and the sweeper times the task out.
        await service.WaitForAsync("SELECT status = 'timed_out' FROM tasks WHERE id = $1", id, seconds: 12);
    }

    [Fact]
    public async Task AnExpiredLeaseWithRetriesLeftIsReadyAgainAndTheOldWorkersReportIsRefused()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("crashy", body => body["max_retries"] = 1);
        var oldToken = (await worker.ClaimAsync(leaseSeconds: 5)).Single().GetProperty("lease_token").GetInt64();

        await service.WaitForAsync("SELECT status = 'pending' FROM tasks WHERE id = $1", id, seconds: 12);
        var again = Assert.Single(await worker.ClaimAsync(waitSeconds: 5));
        using var stale = await worker.CompleteAsync(id, oldToken);

        await stale.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal(2, again.GetProperty("attempt").GetInt32());
        using var current = await worker.CompleteAsync(id, again.GetProperty("lease_token").GetInt64());
        Assert.Equal("succeeded", (await current.ReadJsonAsync()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task AnExpiredLeaseWithoutRetriesLeftFailsTheTaskAndPropagates()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var id = await worker.CreateIdAsync("lost", Hooks("failure"));
        var child = await worker.CreateIdAsync("child", EngineWorker.DependsOn(id));
        var token = (await worker.ClaimOneAsync()).GetProperty("lease_token").GetInt64();
        await service.ExecuteSqlAsync("UPDATE task_leases SET expires_at = now() - interval '1 second' WHERE task_id = $1", id);

        await service.WaitForAsync("SELECT status = 'failed' FROM tasks WHERE id = $1", id);
        using var stale = await worker.CompleteAsync(id, token);

        await stale.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal(Sweeper.LeaseExpiredError, (await service.QueryTextAsync("SELECT error FROM tasks WHERE id = $1", id)).Single());
        Assert.Equal("upstream_failed", await worker.CancelReasonAsync(child));
        Assert.Equal(["failure"], await service.QueryTextAsync("SELECT trigger FROM outbox WHERE task_id = $1", id));
    }
}
