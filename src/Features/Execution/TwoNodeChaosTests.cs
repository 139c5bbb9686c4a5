using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace TaskRunner.Features.Execution;

/// <summary>
/// Two engine nodes (separate processes) lead, dispatch and deliver while pull workers and a webhook receiver finish a
/// load of tasks; a follower is SIGKILLed mid-run and replaced, then the leader is SIGKILLed. No task may start twice,
/// no completion may be lost, and no lease may stay past its expiry. `make test` runs 4,000 tasks; load/chaos-bench.sh
/// runs 100,000 through TASKRUNNER_CHAOS_TASKS.
/// </summary>
public sealed class TwoNodeChaosTests(BystanderNodeFixture service, ITestOutputHelper output) : IClassFixture<BystanderNodeFixture>
{
    private static readonly int Tasks = FaultFigures.Scale("TASKRUNNER_CHAOS_TASKS", 4000) / 1000 * 1000;

    private IEnumerable<KeyValuePair<string, string?>> EngineNode() =>
    [
        .. FastEngineFixture.FastEngine(ServiceFixture.BaseSettings(service.ConnectionString)),
        new("Webhooks:LeaseSeconds", "10"),
        new("Webhooks:AttemptTimeoutSeconds", "5"),
        new("Webhooks:TotalTimeoutSeconds", "5"),
        new("Webhooks:PollSeconds", "1"),
        new("Webhooks:RetrySchedule", "1,1,1,1,1,1,1,1,1,1"),
    ];

    [Fact]
    public async Task KillingAFollowerAndThenTheLeaderStartsNoTaskTwiceLosesNoCompletionAndLeavesNoLeaseBehind()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var pushedStarts = new ConcurrentDictionary<Guid, ConcurrentDictionary<long, byte>>();
        receiver.Answer = (webhook, _) =>
        {
            var data = webhook.Json.GetProperty("data");
            pushedStarts.GetOrAdd(webhook.TaskId, _ => new()).TryAdd(data.GetProperty("lease_token").GetInt64(), 0);
            return new ReceiverAnswer(200, """{"status":"succeeded"}""");
        };
        using var owner = await EngineWorker.StartAsync(service);
        await CreateTasksAsync(owner, receiver.Url());

        var leaderKey = (long)(uint)(Infrastructure.Cluster.LeaderElection.LockKey & 0xffffffff);
        const string LeaderPidSql = "SELECT coalesce((SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1 LIMIT 1), 0)";
        await using var leader = await StartNodeAsync();
        await service.WaitForAsync("SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1", leaderKey, seconds: 60);
        var leaderPid = await service.ScalarAsync<int>(LeaderPidSql, leaderKey);
        await using var follower = await StartNodeAsync();
        Task<ServiceProcess>? replacement = null;

        var claimed = new ConcurrentDictionary<Guid, int>();
        var completed = 0;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(Math.Max(4, Tasks / 1000)));

        // Pull workers on the node that is never killed: a claim answer lost with its node would only prove a lease expiry.
        var pullers = Enumerable.Range(0, 2).Select(_ => UntilStopped(async () =>
        {
            using var client = service.CreateClient();
            client.DefaultRequestHeaders.Authorization = owner.Client.DefaultRequestHeaders.Authorization;
            while (!Finished() && !stop.IsCancellationRequested)
            {
                using var claim = await client.PostAsync("/api/v1/tasks/claim", TestJson.Raw(
                    new JsonObject { ["limit"] = 50, ["lease_seconds"] = 120, ["wait_seconds"] = 1 }.ToJsonString()), stop.Token);
                var batch = JsonDocument.Parse(await claim.Content.ReadAsStringAsync()).RootElement.GetProperty("tasks").EnumerateArray()
                    .Select(task => (Id: task.GetProperty("id").GetString()!, Token: task.GetProperty("lease_token").GetInt64())).ToList();
                if (batch.Count == 0)
                    continue;
                foreach (var (id, _) in batch)
                    claimed.AddOrUpdate(Guid.Parse(id), 1, (_, count) => count + 1);
                using var report = await client.PostAsync("/api/v1/tasks/complete", TestJson.Raw(new JsonObject
                {
                    ["reports"] = new JsonArray(batch.Select(task => (JsonNode)new JsonObject
                    {
                        ["task_id"] = task.Id, ["lease_token"] = task.Token, ["status"] = "succeeded",
                    }).ToArray()),
                }.ToJsonString()), stop.Token);
                var text = await report.Content.ReadAsStringAsync();
                Assert.True(report.StatusCode == HttpStatusCode.OK, $"report answered {(int)report.StatusCode}: {text}");
                Assert.All(JsonDocument.Parse(text).RootElement.GetProperty("results").EnumerateArray(),
                    result => Assert.Equal("ok", result.GetProperty("status").GetString()));
                Interlocked.Add(ref completed, batch.Count);
            }
        })).ToList();

        // The deadline ends the loops quietly, so that a stall fails with what is stuck rather than a cancelled request;
        // a loop that fails stops the others, so the test fails with its error at once.
        async Task UntilStopped(Func<Task> loop)
        {
            try
            {
                await Task.Run(loop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch
            {
                await stop.CancelAsync();
                throw;
            }
        }

        bool Finished() => Volatile.Read(ref completed) + pushedStarts.Count >= Tasks;

        var leaseOverdueSeen = 0L;
        double? takeover = null, followerKilledAt = null, leaderKilledAt = null;
        var chaos = UntilStopped(async () =>
        {
            while (!Finished() && !stop.IsCancellationRequested)
            {
                // A lease the sweeper (every second) should long have taken back; the margin covers the takeover itself.
                leaseOverdueSeen = Math.Max(leaseOverdueSeen, await service.ScalarAsync<long>("""
                    SELECT count(*) FROM task_leases l JOIN tasks t ON t.id = l.task_id
                    WHERE t.project_id = $1 AND l.expires_at < now() - interval '15 seconds'
                    """, owner.ProjectId));
                if (replacement is { IsFaulted: true })
                    await replacement; // a replacement that could not start fails the test now, not at the deadline
                var done = Volatile.Read(ref completed) + pushedStarts.Count;
                if (followerKilledAt is null && done >= Tasks / 3)
                {
                    follower.Kill();
                    followerKilledAt = clock.Elapsed.TotalSeconds;
                    // Not awaited here: on a busy machine the load could finish while the replacement starts, and the
                    // leader must still be killed at two thirds.
                    replacement = StartNodeAsync();
                }
                else if (leaderKilledAt is null && followerKilledAt is not null && done >= Tasks * 2 / 3)
                {
                    leader.Kill();
                    leaderKilledAt = clock.Elapsed.TotalSeconds;
                }
                else if (leaderKilledAt is not null && takeover is null
                         && await service.ScalarAsync<int>(LeaderPidSql, leaderKey) is var pid && pid != 0 && pid != leaderPid)
                    takeover = clock.Elapsed.TotalSeconds - leaderKilledAt;
                await Task.Delay(20);
            }
        });
        await Task.WhenAll([.. pullers, chaos]);
        var elapsed = clock.Elapsed.TotalSeconds;
        // The load may finish before another node holds the lock; the takeover must still happen.
        while (leaderKilledAt is not null && takeover is null && clock.Elapsed.TotalSeconds - leaderKilledAt < 30)
        {
            if (await service.ScalarAsync<int>(LeaderPidSql, leaderKey) is var pid && pid != 0 && pid != leaderPid)
                takeover = clock.Elapsed.TotalSeconds - leaderKilledAt;
            await Task.Delay(20);
        }
        var stall = Finished() ? null
            : $"{Volatile.Read(ref completed)} pulled and {pushedStarts.Count} pushed of {Tasks} tasks after {elapsed:0} s; "
              + $"follower killed at {followerKilledAt:0.0} s, leader at {leaderKilledAt:0.0} s, takeover {takeover:0.0} s; "
              + $"replacement {(replacement is null ? "not started" : replacement.Status.ToString())}\n"
              + await service.ScalarAsync<string>(StallSql, owner.ProjectId)
              + (replacement is { IsCompletedSuccessfully: true } ? "\nreplacement's output:\n" + Tail((await replacement).Output) : "")
              + "\nleader's output:\n" + Tail(leader.Output);
        if (replacement is not null)
            await (await replacement).DisposeAsync();
        if (stall is not null)
            Assert.Fail(stall);

        FaultFigures.Report(output, "chaos_tasks", Tasks);
        FaultFigures.Report(output, "chaos_seconds", elapsed);
        FaultFigures.Report(output, "chaos_tasks_per_second", Tasks / elapsed);
        FaultFigures.Report(output, "chaos_leader_takeover_seconds", takeover ?? -1);

        Assert.NotNull(followerKilledAt);
        Assert.NotNull(leaderKilledAt);
        Assert.NotNull(takeover);
        Assert.Equal(0L, leaseOverdueSeen);
        // Zero double starts: one claim per pulled task, one lease token per pushed task, one start row per task.
        Assert.All(claimed.Values, count => Assert.Equal(1, count));
        Assert.All(pushedStarts.Values, tokens => Assert.Single(tokens));
        Assert.Equal(0L, await service.ScalarAsync<long>("""
            SELECT count(*) FROM (SELECT o.task_id FROM outbox o JOIN tasks t ON t.id = o.task_id
                                  WHERE t.project_id = $1 AND o.trigger = 'start' GROUP BY o.task_id HAVING count(*) > 1) doubled
            """, owner.ProjectId));
        Assert.Empty(claimed.Keys.Intersect(pushedStarts.Keys));
        Assert.Equal(Tasks, claimed.Count + pushedStarts.Count);
        // Zero lost completions: every task ended once, in its first attempt, and holds no lease.
        await service.WaitForAsync("SELECT count(*) = 0 FROM tasks WHERE project_id = $1 AND status <> 'succeeded'", owner.ProjectId, seconds: 60);
        Assert.Equal((long)Tasks, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE project_id = $1 AND attempt = 1", owner.ProjectId));
        Assert.Equal(0L, await service.ScalarAsync<long>(
            "SELECT count(*) FROM task_leases l JOIN tasks t ON t.id = l.task_id WHERE t.project_id = $1", owner.ProjectId));
    }

    // Where the unfinished tasks of a stalled run stand: by status, their start deliveries, their leases, a few of them.
    private const string StallSql = """
        WITH unfinished AS (
            SELECT t.id, t.status, t.pending_parents, t.actions IS NOT NULL AND t.actions <> '[]' AS pushed
            FROM tasks t WHERE t.project_id = $1 AND t.status <> 'succeeded'
        )
        SELECT concat_ws(E'\n',
            'unfinished by status: ' || (SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM unfinished GROUP BY status) s),
            'their start deliveries: ' || (SELECT string_agg(status || ' ' || n, ', ') FROM (
                SELECT o.status, count(*) n FROM outbox o JOIN unfinished u ON u.id = o.task_id WHERE o.trigger = 'start' GROUP BY o.status) s),
            'their leases: ' || (SELECT count(*) FROM task_leases l JOIN unfinished u ON u.id = l.task_id),
            'a few: ' || (SELECT string_agg(format('%s %s parents=%s pushed=%s lease_expires=%s deliveries=%s', u.id, u.status, u.pending_parents, u.pushed,
                    (SELECT l.expires_at - now() FROM task_leases l WHERE l.task_id = u.id),
                    (SELECT string_agg(o.trigger || ':' || o.status || '/' || o.attempts, ' ') FROM outbox o WHERE o.task_id = u.id)), E'\n  ')
                FROM (SELECT * FROM unfinished ORDER BY pending_parents > 0, status DESC, id LIMIT 8) u))
        """;

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];

    private async Task<ServiceProcess> StartNodeAsync()
    {
        var node = ServiceProcess.Start(EngineNode());
        if (await node.WaitUntilListeningAsync(TimeSpan.FromSeconds(120)))
            return node;
        await node.DisposeAsync();
        throw new InvalidOperationException("an engine node did not start:\n" + node.Output);
    }

    /// <summary>Chains of ten, each task depending on the one before; every other chain pushed to the receiver.</summary>
    private static async Task CreateTasksAsync(EngineWorker owner, string receiverUrl)
    {
        for (var batch = 0; batch < Tasks / 1000; batch++)
        {
            var tasks = Enumerable.Range(0, 1000).Select(i =>
            {
                var task = new JsonObject { ["ref"] = $"t{i}", ["title"] = $"chaos {batch}.{i}", ["priority"] = i % 101 };
                if (i % 10 != 0)
                    task["depends_on"] = new JsonArray(new JsonObject { ["ref"] = $"t{i - 1}" });
                if (i / 10 % 2 == 0)
                    task["actions"] = new JsonArray(new JsonObject { ["trigger"] = "start", ["url"] = receiverUrl });
                return (JsonNode)task;
            }).ToArray();
            using var bulk = await owner.PostAsync("/api/v1/tasks/bulk", new JsonObject { ["project_id"] = owner.ProjectId.ToString(), ["tasks"] = new JsonArray(tasks) });
            Assert.Equal(HttpStatusCode.Created, bulk.StatusCode);
        }
    }
}
