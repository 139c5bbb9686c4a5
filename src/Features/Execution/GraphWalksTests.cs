using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Execution;

/// <summary>A fast engine whose graph walks lock at most ten tasks per transaction and are resumed a second after they stall.</summary>
public sealed class SmallWalkBatchesFixture : FastEngineFixture
{
    public const int BatchSize = 10;

    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
    [
        .. base.Settings(connectionString),
        new("Engine:GraphWalkBatchSize", BatchSize.ToString(CultureInfo.InvariantCulture)),
        new("Engine:GraphWalkResumeSeconds", "1"),
    ];
}

/// <summary>
/// Propagation larger than Engine:GraphWalkBatchSize runs in transactions of that size, the request answering once all are
/// done; a walk whose request stopped is finished by the sweeper; the graph ends as one transaction would have left it.
/// </summary>
public sealed class GraphWalksTests(SmallWalkBatchesFixture service) : IClassFixture<SmallWalkBatchesFixture>
{
    private const int Middle = 20;
    private const int Lower = 100;
    private const int Leaves = 200;
    private const int Cleanups = 10;

    // Every task below the root requires its parents' success (diamonds at each level); the cleanups wait on one lower
    // task each through a completion edge, so a failure above releases them.
    private static async Task<Dictionary<string, Guid>> CreateDagAsync(EngineWorker worker, Guid? secondRoot = null)
    {
        JsonNode Task(string reference, params JsonNode[] parents) => new JsonObject
        {
            ["ref"] = reference, ["title"] = reference, ["max_retries"] = 0, ["depends_on"] = new JsonArray(parents),
        };
        JsonNode On(string reference, string require = "success") => new JsonObject { ["ref"] = reference, ["require"] = require };
        var extra = secondRoot is { } other ? new[] { (JsonNode)other.ToString() } : [];
        var tasks = new List<JsonNode> { new JsonObject { ["ref"] = "root", ["title"] = "root", ["max_retries"] = 0 } };
        tasks.AddRange(Enumerable.Range(0, Middle).Select(i => Task($"a{i}", [On("root"), .. extra.Select(node => node.DeepClone())])));
        tasks.AddRange(Enumerable.Range(0, Lower).Select(i => Task($"b{i}", On($"a{i % Middle}"), On($"a{(i + 1) % Middle}"))));
        tasks.AddRange(Enumerable.Range(0, Leaves).Select(i => Task($"c{i}", On($"b{i % Lower}"), On($"b{(i + 7) % Lower}"))));
        tasks.AddRange(Enumerable.Range(0, Cleanups).Select(i => Task($"cleanup{i}", On($"b{i}", "completion"))));
        using var response = await worker.PostAsync("/api/v1/tasks/bulk",
            new JsonObject { ["project_id"] = worker.ProjectId.ToString(), ["tasks"] = new JsonArray([.. tasks]) });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("refs").EnumerateObject()
            .ToDictionary(entry => entry.Name, entry => Guid.Parse(entry.Value.GetString()!));
    }

    /// <summary>Runs a whole counting statement (<see cref="OfProject"/> and a constant condition) on the project's tasks.</summary>
    private Task<long> CountAsync(Guid projectId, string statement) => service.ScalarAsync<long>(statement, projectId);

    private const string OfProject = "SELECT count(*) FROM tasks t WHERE t.project_id = $1 AND ";

    private const int Doomed = Middle + Lower + Leaves;

    private const string CancelledUpstream = OfProject + "t.title ~ '^[abc][0-9]+$' AND t.status = 'cancelled' AND t.cancel_reason = 'upstream_failed'";

    /// <summary>
    /// What one transaction would have left: no unfinished task waits on a different number of parents than are unfinished
    /// as its edges count them, none waits on a parent whose failure should have cancelled it, and no walk is left over.
    /// </summary>
    private async Task AssertConsistentAsync(Guid projectId)
    {
        Assert.Equal(0L, await CountAsync(projectId, OfProject + """
            t.status IN ('pending', 'paused') AND t.pending_parents <>
                (SELECT count(*) FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id
                 WHERE d.child_id = t.id
                   AND CASE d.require WHEN 'success' THEN p.status <> 'succeeded'
                                      ELSE p.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out') END)
            """));
        Assert.Equal(0L, await CountAsync(projectId, OfProject + """
            t.status IN ('pending', 'paused') AND EXISTS
                (SELECT FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id
                 WHERE d.child_id = t.id AND d.require = 'success' AND p.status IN ('failed', 'cancelled', 'timed_out'))
            """));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM graph_walks"));
    }

    private async Task<long> MetricAsync(string name, string? label = null)
    {
        using var client = service.CreateClient();
        var text = await client.GetStringAsync("/metrics");
        return text.Split('\n')
            .Where(line => line.StartsWith(name + "{", StringComparison.Ordinal) && (label is null || line.Contains(label, StringComparison.Ordinal)))
            .Sum(line => (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    private async Task WaitForMetricAsync(string name, long atLeast, string? label = null)
    {
        // Generous: the suites share a loaded machine; the wait ends as soon as the value is there.
        await Eventually.Until(async () => await MetricAsync(name, label) >= atLeast, $"{name} did not reach {atLeast} within 60 s",
            TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task ACancelLargerThanTheBatchSizeMarksEveryDescendantInBoundedTransactionsBeforeItAnswers()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);
        var batchesBefore = await MetricAsync("taskrunner_engine_graph_walk_batches_total");

        using (var cancel = await worker.PostAsync($"/api/v1/tasks/{dag["root"]}/cancel"))
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);

        // Read right after the answer: the whole walk is done by then.
        Assert.Equal(Doomed, await CountAsync(worker.ProjectId, CancelledUpstream));
        Assert.Equal(Cleanups, await CountAsync(worker.ProjectId, OfProject + "t.title LIKE 'cleanup%' AND t.status = 'pending' AND t.pending_parents = 0"));
        await AssertConsistentAsync(worker.ProjectId);
        // Each continuing transaction locked at most BatchSize tasks: the walk needed at least this many of them.
        var minimumBatches = (Doomed + Cleanups) / SmallWalkBatchesFixture.BatchSize - 1;
        await WaitForMetricAsync("taskrunner_engine_graph_walk_batches_total", batchesBefore + minimumBatches);
    }

    [Fact]
    public async Task AWalkWhoseRequestStoppedIsFinishedByTheSweeper()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);
        var resumedBefore = await MetricAsync("taskrunner_engine_graph_walk_resumed_total");

        // A leaf locked by someone else stalls the walk when it gets there, after its first transactions committed.
        await using var blocker = new NpgsqlConnection(service.ConnectionString);
        await blocker.OpenAsync();
        await using var blocking = await blocker.BeginTransactionAsync();
        await using (var lockLeaf = new NpgsqlCommand("SELECT id FROM tasks WHERE id = $1 FOR UPDATE", blocker, blocking))
        {
            lockLeaf.Parameters.AddWithValue(dag[$"c{Leaves - 1}"]);
            await lockLeaf.ExecuteScalarAsync();
        }
        using var abort = new CancellationTokenSource();
        var cancel = worker.Client.PostAsync($"/api/v1/tasks/{dag["root"]}/cancel", TestJson.Raw("{}"), abort.Token);
        await service.WaitForAsync("""
            SELECT EXISTS (SELECT FROM graph_walk_frontier f JOIN tasks t ON t.id = f.task_id WHERE t.project_id = $1)
               AND EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock')
            """, worker.ProjectId, seconds: 60);

        // The request goes away mid-walk as it would with its process: the client gives up and the database session that
        // holds the walk ends (a process that dies does not get to cancel its statements). The sweeper then takes the walk
        // over once it has stalled for a second.
        await abort.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancel);
        await service.ScalarAsync<bool>("""
            SELECT coalesce(bool_and(pg_terminate_backend(pid)), true) FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
            """);
        await WaitForMetricAsync("taskrunner_engine_graph_walk_resumed_total", resumedBefore + 1);
        await blocking.RollbackAsync();

        await service.WaitForAsync(
            "SELECT NOT EXISTS (SELECT FROM graph_walk_frontier f JOIN tasks t ON t.id = f.task_id WHERE t.project_id = $1)", worker.ProjectId,
            seconds: 60);
        Assert.Equal(Doomed, await CountAsync(worker.ProjectId, CancelledUpstream));
        Assert.Equal(Cleanups, await CountAsync(worker.ProjectId, OfProject + "t.title LIKE 'cleanup%' AND t.status = 'pending' AND t.pending_parents = 0"));
        await AssertConsistentAsync(worker.ProjectId);
    }

    [Fact]
    public async Task ClaimsAndCompletionsDuringABatchedWalkLeaveTheGraphConsistent()
    {
        using var worker = await EngineWorker.StartAsync(service);
        // A second root that every middle task also requires: it succeeds while the first root's cancel walks below.
        var other = await worker.CreateIdAsync("other root", body => body["max_retries"] = 0);
        var dag = await CreateDagAsync(worker, other);
        var claimed = await worker.ClaimAsync(limit: 2);
        Assert.Equal(2, claimed.Count);
        var lease = claimed.Single(task => task.GetProperty("id").GetString() == other.ToString()).GetProperty("lease_token").GetInt64();

        using var start = new SemaphoreSlim(0);
        async Task CancelAsync()
        {
            await start.WaitAsync();
            using var cancel = await worker.PostAsync($"/api/v1/tasks/{dag["root"]}/cancel");
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        }
        async Task CompleteAndRunReleasedAsync()
        {
            await start.WaitAsync();
            using (var complete = await worker.CompleteAsync(other, lease))
                Assert.Equal(HttpStatusCode.OK, complete.StatusCode);
            // Cleanups become ready as the walk releases them: claim and finish whatever is ready, as workers would.
            for (var round = 0; round < 20; round++)
            {
                foreach (var task in await worker.ClaimAsync(limit: 5))
                {
                    using var done = await worker.CompleteAsync(Guid.Parse(task.GetProperty("id").GetString()!),
                        task.GetProperty("lease_token").GetInt64());
                    Assert.Equal(HttpStatusCode.OK, done.StatusCode);
                }
            }
        }
        var racing = new[] { CancelAsync(), CompleteAndRunReleasedAsync() };
        start.Release(racing.Length);
        await Task.WhenAll(racing);

        Assert.Equal(Doomed, await CountAsync(worker.ProjectId, CancelledUpstream));
        Assert.Equal("succeeded", await worker.StatusAsync(other));
        Assert.Equal(Cleanups, await CountAsync(worker.ProjectId,
            OfProject + "t.title LIKE 'cleanup%' AND (t.status = 'succeeded' OR (t.status = 'pending' AND t.pending_parents = 0))"));
        await AssertConsistentAsync(worker.ProjectId);
    }
}
