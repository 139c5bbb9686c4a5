using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace TaskRunner.Features.Execution;

public sealed class TwoNodeEngineTests(ServiceFixture service, ITestOutputHelper output) : IClassFixture<ServiceFixture>
{
    private const int Batches = 5;
    private const int TasksPerBatch = 1000;
    private const int MaxRunning = 4;
    private const int WorkersPerNode = 3;

    [Fact]
    public async Task WorkersOnTwoNodesStartEveryTaskOnceFinishEveryTaskAndNeverExceedALimit()
    {
        await using var second = await SecondNode.StartAsync(service);
        using var admin = await service.ClientForNewUserAsync("admin");
        var key = "two-nodes-" + Guid.NewGuid().ToString("N");
        using (var rule = await admin.PostAsync("/api/v1/concurrency-rules", TestJson.Body(("concurrency_key", key), ("max_running", MaxRunning))))
            Assert.Equal(HttpStatusCode.Created, rule.StatusCode);
        using var owner = await EngineWorker.StartAsync(service);
        var random = new Random(7);
        for (var b = 0; b < Batches; b++)
        {
            // Random DAG: each task depends on up to two earlier tasks of its batch, some through completion edges.
            var tasks = Enumerable.Range(0, TasksPerBatch).Select(i =>
            {
                var parents = i == 0 ? [] : Enumerable.Range(0, random.Next(3)).Select(_ => random.Next(i)).Distinct()
                    .Select(parent => (JsonNode)new JsonObject { ["ref"] = $"t{parent}", ["require"] = random.Next(4) == 0 ? "completion" : "success" })
                    .ToArray();
                var task = new JsonObject { ["ref"] = $"t{i}", ["title"] = $"task {b}.{i}", ["priority"] = random.Next(101), ["depends_on"] = new JsonArray(parents) };
                if (random.Next(2) == 0)
                    task["concurrency_key"] = key;
                return (JsonNode)task;
            }).ToArray();
            using var bulk = await owner.Client.PostAsync("/api/v1/tasks/bulk", TestJson.Raw(new JsonObject
            {
                ["project_id"] = owner.ProjectId.ToString(), ["tasks"] = new JsonArray(tasks),
            }.ToJsonString()));
            Assert.Equal(HttpStatusCode.Created, bulk.StatusCode);
        }
        const int total = Batches * TasksPerBatch;
        var token = owner.Client.DefaultRequestHeaders.Authorization!;
        var clients = Enumerable.Range(0, WorkersPerNode * 2).Select(i =>
        {
            var client = i % 2 == 0 ? service.CreateClient() : second.CreateClient();
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(token.Scheme, token.Parameter);
            return client;
        }).ToList();

        var starts = new ConcurrentDictionary<Guid, int>();
        var completed = 0;
        var maxRunningSeen = 0;
        var samples = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var sampler = Task.Run(async () =>
        {
            while (Volatile.Read(ref completed) < total && !stop.IsCancellationRequested)
            {
                var running = (int)await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE concurrency_key = $1 AND status = 'running'", key);
                maxRunningSeen = Math.Max(maxRunningSeen, running);
                samples++;
                await Task.Delay(5);
            }
        });
        var started = DateTime.UtcNow;
        var workers = clients.Select(client => Task.Run(async () =>
        {
            while (Volatile.Read(ref completed) < total && !stop.IsCancellationRequested)
            {
                using var claim = await client.PostAsync("/api/v1/tasks/claim", TestJson.Raw(
                    new JsonObject { ["limit"] = 10, ["lease_seconds"] = 120, ["wait_seconds"] = 1 }.ToJsonString()));
                var claimed = JsonDocument.Parse(await claim.Content.ReadAsStringAsync()).RootElement.GetProperty("tasks").EnumerateArray()
                    .Select(task => (Id: Guid.Parse(task.GetProperty("id").GetString()!), Token: task.GetProperty("lease_token").GetInt64())).ToList();
                if (claimed.Count == 0)
                    continue;
                foreach (var (id, _) in claimed)
                    starts.AddOrUpdate(id, 1, (_, count) => count + 1);
                using var report = await client.PostAsync("/api/v1/tasks/complete", TestJson.Raw(new JsonObject
                {
                    ["reports"] = new JsonArray(claimed.Select(task => (JsonNode)new JsonObject
                    {
                        ["task_id"] = task.Id.ToString(), ["lease_token"] = task.Token, ["status"] = "succeeded",
                    }).ToArray()),
                }.ToJsonString()));
                var results = JsonDocument.Parse(await report.Content.ReadAsStringAsync()).RootElement.GetProperty("results");
                Assert.All(results.EnumerateArray(), result => Assert.Equal("ok", result.GetProperty("status").GetString()));
                Interlocked.Add(ref completed, claimed.Count);
            }
        })).ToList();
        await Task.WhenAll(workers);
        await sampler;
        var elapsed = DateTime.UtcNow - started;
        output.WriteLine($"{total} tasks in {elapsed.TotalSeconds:F1} s ({total / elapsed.TotalSeconds:F0} tasks/s), " +
            $"{samples} samples, max running under the limit {maxRunningSeen}");

        Assert.Equal(total, starts.Count);
        Assert.All(starts.Values, count => Assert.Equal(1, count));
        Assert.Equal(total, Volatile.Read(ref completed));
        Assert.Equal((long)total, await service.ScalarAsync<long>(
            "SELECT count(*) FROM tasks WHERE project_id = $1 AND status = 'succeeded' AND attempt = 1", owner.ProjectId));
        Assert.InRange(maxRunningSeen, 1, MaxRunning);
        Assert.True(samples > 10, $"only {samples} samples");
        foreach (var client in clients)
            client.Dispose();
    }
}
