using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using TaskRunner.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace TaskRunner.Features.Execution;

/// <summary>The fixture's node serves the API but never leads, so a test can start the leader itself and kill it.</summary>
public sealed class ApiOnlyNodeFixture : FastEngineFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        [.. base.Settings(connectionString), new("Cluster:CanLead", "false")];
}

public sealed class LeaderTakeoverTests(ApiOnlyNodeFixture service, ITestOutputHelper output) : IClassFixture<ApiOnlyNodeFixture>
{
    private const int Tasks = 10000;
    private const int MaxRunning = 5;

    [Fact]
    public async Task PushAndPullOnTwoNodesStartEveryTaskOnceWhileTheLeaderIsKilledMidRun()
    {
        var leaderSettings = FastEngineFixture.FastEngine(ServiceFixture.BaseSettings(service.ConnectionString)).ToList();
        var first = await SecondNode.StartAsync(service, leaderSettings);
        await service.WaitForAsync("SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1",
            (long)(uint)(Infrastructure.Cluster.LeaderElection.LockKey & 0xffffffff));
        await using var standby = await SecondNode.StartAsync(service, leaderSettings);

        using var admin = await service.ClientForNewUserAsync("admin");
        var key = "takeover-" + Guid.NewGuid().ToString("N");
        using (var rule = await admin.PostAsync("/api/v1/concurrency-rules", TestJson.Body(("concurrency_key", key), ("max_running", MaxRunning))))
            Assert.Equal(HttpStatusCode.Created, rule.StatusCode);
        using var owner = await EngineWorker.StartAsync(service);
        var random = new Random(11);
        // Bulk creation takes up to 1,000 tasks: Tasks / 1,000 random DAGs.
        for (var b = 0; b < Tasks / 1000; b++)
        {
            var tasks = Enumerable.Range(0, 1000).Select(i =>
            {
                var parents = i == 0 ? [] : Enumerable.Range(0, random.Next(3)).Select(_ => random.Next(i)).Distinct()
                    .Select(parent => (JsonNode)new JsonObject { ["ref"] = $"t{parent}", ["require"] = random.Next(4) == 0 ? "completion" : "success" })
                    .ToArray();
                var task = new JsonObject { ["ref"] = $"t{i}", ["title"] = $"task {b}.{i}", ["priority"] = random.Next(101), ["depends_on"] = new JsonArray(parents) };
                if (random.Next(2) == 0)
                    task["actions"] = PushedTasks.StartAction();
                if (random.Next(3) == 0)
                    task["concurrency_key"] = key;
                return (JsonNode)task;
            }).ToArray();
            using (var bulk = await owner.Client.PostAsync("/api/v1/tasks/bulk", TestJson.Raw(new JsonObject
            {
                ["project_id"] = owner.ProjectId.ToString(), ["tasks"] = new JsonArray(tasks),
            }.ToJsonString())))
                Assert.Equal(HttpStatusCode.Created, bulk.StatusCode);
        }

        var token = owner.Client.DefaultRequestHeaders.Authorization!;
        HttpClient Client(Uri address)
        {
            var client = new HttpClient { BaseAddress = address };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(token.Scheme, token.Parameter);
            return client;
        }

        var claimed = new ConcurrentDictionary<Guid, int>();
        var completed = 0;
        var maxRunningSeen = 0;
        var killed = false;
        var killedAt = DateTime.MaxValue;
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));

        async Task CompleteAsync(HttpClient client, List<(Guid Id, long Token)> batch)
        {
            var body = new JsonObject
            {
                ["reports"] = new JsonArray(batch.Select(task => (JsonNode)new JsonObject
                {
                    ["task_id"] = task.Id.ToString(), ["lease_token"] = task.Token, ["status"] = "succeeded",
                }).ToArray()),
            }.ToJsonString();
            // A worker retries a report the service could not take (503: its database pool busy under this load), as real
            // workers do; nothing else is retried.
            var report = await client.PostAsync("/api/v1/tasks/complete", TestJson.Raw(body), stop.Token);
            while (report.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                report.Dispose();
                await Task.Delay(50, stop.Token);
                report = await client.PostAsync("/api/v1/tasks/complete", TestJson.Raw(body), stop.Token);
            }
            using var answered = report;
            var text = await report.Content.ReadAsStringAsync();
            Assert.True(report.StatusCode == HttpStatusCode.OK, $"report answered {(int)report.StatusCode}: {text}");
            var results = JsonDocument.Parse(text).RootElement.GetProperty("results");
            Assert.All(results.EnumerateArray(), result => Assert.Equal("ok", result.GetProperty("status").GetString()));
            Interlocked.Add(ref completed, batch.Count);
        }

        // Pull workers on the API-only node and the standby.
        var pullers = new[] { service.BaseAddress, standby.BaseAddress, service.BaseAddress }.Select(address => Task.Run(async () =>
        {
            using var client = Client(address);
            while (Volatile.Read(ref completed) < Tasks && !stop.IsCancellationRequested)
            {
                using var claim = await client.PostAsync("/api/v1/tasks/claim", TestJson.Raw(
                    new JsonObject { ["limit"] = 20, ["lease_seconds"] = 120, ["wait_seconds"] = 1 }.ToJsonString()), stop.Token);
                var batch = JsonDocument.Parse(await claim.Content.ReadAsStringAsync()).RootElement.GetProperty("tasks").EnumerateArray()
                    .Select(task => (Id: Guid.Parse(task.GetProperty("id").GetString()!), Token: task.GetProperty("lease_token").GetInt64())).ToList();
                foreach (var (id, _) in batch)
                    claimed.AddOrUpdate(id, 1, (_, count) => count + 1);
                if (batch.Count > 0)
                    await CompleteAsync(client, batch);
            }
        })).ToList();

        // The webhook receiver of pushed tasks: takes each start delivery once and reports with its lease token. The nodes'
        // own delivery workers also try these rows (their URL refuses connections, so they retry later): rows a worker holds
        // are skipped, and the status is checked again on the row actually updated. ARRAY(...) runs the locking subquery
        // once: as IN (SELECT ...) a plan may run it again per row, each run skipping other rows, and take more than 50.
        var receiver = Task.Run(async () =>
        {
            using var client = Client(service.BaseAddress);
            await using var connection = new NpgsqlConnection(service.ConnectionString);
            await connection.OpenAsync();
            while (Volatile.Read(ref completed) < Tasks && !stop.IsCancellationRequested)
            {
                var batch = new List<(Guid Id, long Token)>();
                await using (var take = new NpgsqlCommand("""
                    UPDATE outbox SET status = 'delivered'
                    WHERE id = ANY (ARRAY(SELECT id FROM outbox WHERE trigger = 'start' AND status = 'pending' ORDER BY created_at
                                          LIMIT 50 FOR UPDATE SKIP LOCKED))
                      AND status = 'pending'
                    RETURNING task_id, (payload->>'lease_token')::bigint
                    """, connection))
                await using (var reader = await take.ExecuteReaderAsync())
                    while (await reader.ReadAsync())
                        batch.Add((reader.GetGuid(0), reader.GetInt64(1)));
                if (batch.Count == 0)
                {
                    await Task.Delay(20);
                    continue;
                }
                await CompleteAsync(client, batch);
            }
        });

        var sampler = Task.Run(async () =>
        {
            while (Volatile.Read(ref completed) < Tasks && !stop.IsCancellationRequested)
            {
                maxRunningSeen = Math.Max(maxRunningSeen,
                    (int)await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE concurrency_key = $1 AND status = 'running'", key));
                if (!killed && Volatile.Read(ref completed) >= Tasks / 3)
                {
                    // Kill the leader mid-run: the standby must take over dispatch and sweeping.
                    killed = true;
                    await first.DisposeAsync();
                    killedAt = DateTime.UtcNow;
                }
                await Task.Delay(10);
            }
        });
        var started = DateTime.UtcNow;
        await Task.WhenAll([.. pullers, receiver, sampler]);
        output.WriteLine($"{Tasks} tasks in {(DateTime.UtcNow - started).TotalSeconds:F1} s, max running under the limit {maxRunningSeen}");

        Assert.True(killed);
        Assert.True(await service.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE trigger = 'start' AND created_at > $1", killedAt) > 0,
            "the standby never dispatched");
        Assert.Equal(Tasks, Volatile.Read(ref completed));
        Assert.All(claimed.Values, count => Assert.Equal(1, count));
        Assert.Equal(0L, await service.ScalarAsync<long>(
            "SELECT count(*) FROM (SELECT task_id FROM outbox WHERE trigger = 'start' GROUP BY task_id HAVING count(*) > 1) doubled"));
        var pushed = await service.ScalarAsync<long>("SELECT count(*) FROM outbox o JOIN tasks t ON t.id = o.task_id WHERE t.project_id = $1 AND o.trigger = 'start'", owner.ProjectId);
        Assert.Equal((long)Tasks, pushed + claimed.Count);
        Assert.Empty(await service.QueryTextAsync(
            "SELECT id::text FROM tasks WHERE id = ANY ($1) AND actions @> '[{\"trigger\": \"start\"}]'", claimed.Keys.ToArray()));
        Assert.Equal((long)Tasks, await service.ScalarAsync<long>(
            "SELECT count(*) FROM tasks WHERE project_id = $1 AND status = 'succeeded' AND attempt = 1", owner.ProjectId));
        Assert.InRange(maxRunningSeen, 1, MaxRunning);
    }
}
