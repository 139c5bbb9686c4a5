using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using TaskRunner.Infrastructure.Security;
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

    private const int Descendants = Doomed + Cleanups;

    private const string Batches = "taskrunner_engine_graph_walk_batches_total";

    // Each continuing transaction locked at most BatchSize tasks: a walk over this many needed at least this many of them.
    private const int MinimumBatches = Descendants / SmallWalkBatchesFixture.BatchSize - 1;

    private const string DeletedWithRoot = OfProject + """
        t.deleted_at = (SELECT r.deleted_at FROM tasks r WHERE r.project_id = $1 AND r.title = 'root')
        """;

    private const string Revived = OfProject + "t.title ~ '^[abc][0-9]+$' AND t.status = 'pending'";

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

    /// <summary>A leaf locked by someone else: a walk stalls when it gets there, after its first transactions committed.</summary>
    private async Task<Blocker> BlockLastLeafAsync(Dictionary<string, Guid> dag)
    {
        var connection = new NpgsqlConnection(service.ConnectionString);
        await connection.OpenAsync();
        var transaction = await connection.BeginTransactionAsync();
        await using (var lockLeaf = new NpgsqlCommand("SELECT id FROM tasks WHERE id = $1 FOR UPDATE", connection, transaction))
        {
            lockLeaf.Parameters.AddWithValue(dag[$"c{Leaves - 1}"]);
            await lockLeaf.ExecuteScalarAsync();
        }
        return new Blocker(connection, transaction);
    }

    private sealed class Blocker(NpgsqlConnection connection, NpgsqlTransaction transaction) : IAsyncDisposable
    {
        public Task ReleaseAsync() => transaction.RollbackAsync();

        public async ValueTask DisposeAsync()
        {
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
        }
    }

    private const string WalkingInProject = """
        EXISTS (SELECT FROM graph_walk_frontier f JOIN tasks t ON t.id = f.task_id WHERE t.project_id = $1)
        """;

    private Task WaitUntilStalledAsync(Guid projectId) => service.WaitForAsync($"""
        SELECT {WalkingInProject}
           AND EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock')
        """, projectId, seconds: 60);

    /// <summary>Until a second request racing the stalled walk has finished, or waits for a lock too.</summary>
    private Task WaitUntilFinishedOrWaitingAsync(Task request) => Eventually.Until(async () => request.IsCompleted || await service.ScalarAsync<bool>("""
        SELECT count(*) >= 2 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
        """), "the racing request neither finished nor waited for a lock", TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(50));

    private Task WaitUntilWalkedAsync(Guid projectId) => service.WaitForAsync($"SELECT NOT {WalkingInProject}", projectId, seconds: 60);

    /// <summary>
    /// The request goes away mid-walk as it would with its process: the client gives up and the database session that
    /// holds the walk ends (a process that dies does not get to cancel its statements).
    /// </summary>
    private async Task AbandonAsync(CancellationTokenSource abort, Task<HttpResponseMessage> request)
    {
        await abort.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        await service.ScalarAsync<bool>("""
            SELECT coalesce(bool_and(pg_terminate_backend(pid)), true) FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
            """);
    }

    [Fact]
    public async Task ACancelLargerThanTheBatchSizeMarksEveryDescendantInBoundedTransactionsBeforeItAnswers()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);
        var batchesBefore = await MetricAsync(Batches);

        using (var cancel = await worker.PostAsync($"/api/v1/tasks/{dag["root"]}/cancel"))
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);

        // Read right after the answer: the whole walk is done by then.
        Assert.Equal(Doomed, await CountAsync(worker.ProjectId, CancelledUpstream));
        Assert.Equal(Cleanups, await CountAsync(worker.ProjectId, OfProject + "t.title LIKE 'cleanup%' AND t.status = 'pending' AND t.pending_parents = 0"));
        await AssertConsistentAsync(worker.ProjectId);
        await WaitForMetricAsync(Batches, batchesBefore + MinimumBatches);
    }

    [Fact]
    public async Task AWalkWhoseRequestStoppedIsFinishedByTheSweeper()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);
        var resumedBefore = await MetricAsync("taskrunner_engine_graph_walk_resumed_total");

        await using var blocker = await BlockLastLeafAsync(dag);
        using var abort = new CancellationTokenSource();
        var cancel = worker.Client.PostAsync($"/api/v1/tasks/{dag["root"]}/cancel", TestJson.Raw("{}"), abort.Token);
        await WaitUntilStalledAsync(worker.ProjectId);
        await AbandonAsync(abort, cancel);
        await WaitForMetricAsync("taskrunner_engine_graph_walk_resumed_total", resumedBefore + 1);
        await blocker.ReleaseAsync();

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

    /// <summary>The ids the audit rows of a task's cascade list, over the request's row and those of the batches that continued it.</summary>
    private Task<long> CascadedInAuditAsync(string action, Guid root) => service.ScalarAsync<long>("""
        SELECT count(DISTINCT cascaded.id) FROM audit_log a, jsonb_array_elements_text(a.diff->'cascaded_ids'->'to') AS cascaded (id)
        WHERE a.action = $1 AND a.resource_id = $2
        """, action, root.ToString());

    [Fact]
    public async Task ACascadingDeleteLargerThanTheBatchSizeTakesEveryDescendantBeforeItAnswersAndARestoreBringsEveryOneBack()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);
        var root = dag["root"];
        var batchesBefore = await MetricAsync(Batches);

        using (var delete = await worker.Client.DeleteAsync($"/api/v1/tasks/{root}?cascade=true"))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        // Read right after the answer: every descendant is gone, at the root's instant.
        Assert.Equal(1 + Descendants, await CountAsync(worker.ProjectId, DeletedWithRoot));
        Assert.Equal(0L, await CountAsync(worker.ProjectId, OfProject + "t.deleted_at IS NULL"));
        Assert.Equal(Descendants, await CascadedInAuditAsync("task.delete", root));
        await WaitForMetricAsync(Batches, batchesBefore + MinimumBatches);

        batchesBefore = await MetricAsync(Batches);
        using (var restore = await worker.Client.PostAsync($"/api/v1/tasks/{root}/restore?cascade=true", null))
            Assert.Equal(HttpStatusCode.OK, restore.StatusCode);

        Assert.Equal(0L, await CountAsync(worker.ProjectId, OfProject + "t.deleted_at IS NOT NULL"));
        Assert.Equal(Descendants, await CascadedInAuditAsync("task.restore", root));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM graph_walks"));
        await WaitForMetricAsync(Batches, batchesBefore + MinimumBatches);
    }

    [Fact]
    public async Task ADeleteCascadeWhoseRequestStoppedIsFinishedByTheSweeper()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);
        var resumedBefore = await MetricAsync("taskrunner_engine_graph_walk_resumed_total");

        await using var blocker = await BlockLastLeafAsync(dag);
        using var abort = new CancellationTokenSource();
        var delete = worker.Client.DeleteAsync($"/api/v1/tasks/{dag["root"]}?cascade=true", abort.Token);
        await WaitUntilStalledAsync(worker.ProjectId);
        await AbandonAsync(abort, delete);
        await WaitForMetricAsync("taskrunner_engine_graph_walk_resumed_total", resumedBefore + 1);
        await blocker.ReleaseAsync();

        await WaitUntilWalkedAsync(worker.ProjectId);
        Assert.Equal(1 + Descendants, await CountAsync(worker.ProjectId, DeletedWithRoot));
        Assert.Equal(Descendants, await CascadedInAuditAsync("task.delete", dag["root"]));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM graph_walks"));
    }

    [Fact]
    public async Task ARestoreRacingADeleteCascadeWaitsForItAndBringsBackEverythingItTook()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);
        var root = dag["root"];

        Task<HttpResponseMessage> delete;
        Task<HttpResponseMessage> restore;
        await using (var blocker = await BlockLastLeafAsync(dag))
        {
            delete = worker.Client.DeleteAsync($"/api/v1/tasks/{root}?cascade=true");
            await WaitUntilStalledAsync(worker.ProjectId);
            // The root is deleted (its transaction committed) while the cascade still walks below it.
            restore = worker.Client.PostAsync($"/api/v1/tasks/{root}/restore?cascade=true", null);
            await WaitUntilFinishedOrWaitingAsync(restore);
            await blocker.ReleaseAsync();
        }

        using (var deleted = await delete)
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using (var restored = await restore)
            Assert.Equal(HttpStatusCode.OK, restored.StatusCode);
        // As if one ran after the other: the restore brought back every task the delete took.
        Assert.Equal(0L, await CountAsync(worker.ProjectId, OfProject + "t.deleted_at IS NOT NULL"));
        Assert.Equal(Descendants, await CascadedInAuditAsync("task.restore", root));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM graph_walks"));
    }

    [Fact]
    public async Task ARetryRevivesEveryDescendantItsCancelWalkCoveredInBoundedTransactionsBeforeItAnswers()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);
        using (var cancel = await worker.PostAsync($"/api/v1/tasks/{dag["root"]}/cancel"))
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal(Doomed, await CountAsync(worker.ProjectId, CancelledUpstream));
        var batchesBefore = await MetricAsync(Batches);

        using (var retry = await worker.PostAsync($"/api/v1/tasks/{dag["root"]}/retry"))
            Assert.Equal(HttpStatusCode.OK, retry.StatusCode);

        // Read right after the answer: everything below waits again, the cleanups for their parent's new end.
        Assert.Equal(Doomed, await CountAsync(worker.ProjectId, Revived));
        Assert.Equal(Cleanups, await CountAsync(worker.ProjectId, OfProject + "t.title LIKE 'cleanup%' AND t.status = 'pending' AND t.pending_parents = 1"));
        await AssertConsistentAsync(worker.ProjectId);
        await WaitForMetricAsync(Batches, batchesBefore + Doomed / SmallWalkBatchesFixture.BatchSize - 1);
    }

    [Fact]
    public async Task ARetryRacingTheCancelWalkBelowItLeavesWhatRetryingAfterTheWalkWould()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);

        Task<HttpResponseMessage> cancel;
        Task<HttpResponseMessage> retry;
        await using (var blocker = await BlockLastLeafAsync(dag))
        {
            cancel = worker.PostAsync($"/api/v1/tasks/{dag["root"]}/cancel");
            await WaitUntilStalledAsync(worker.ProjectId);
            // The root is cancelled (its transaction committed) while the walk still cancels below it.
            retry = worker.PostAsync($"/api/v1/tasks/{dag["root"]}/retry");
            await WaitUntilFinishedOrWaitingAsync(retry);
            await blocker.ReleaseAsync();
        }

        using (var cancelled = await cancel)
            Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        using (var retried = await retry)
            Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        Assert.Equal("pending", await worker.StatusAsync(dag["root"]));
        Assert.Equal(Doomed, await CountAsync(worker.ProjectId, Revived));
        Assert.Equal(Cleanups, await CountAsync(worker.ProjectId, OfProject + "t.title LIKE 'cleanup%' AND t.status = 'pending' AND t.pending_parents = 1"));
        await AssertConsistentAsync(worker.ProjectId);
    }

    private Task<long> CountAllAsync(Guid projectId) => CountAsync(projectId, OfProject + "true");

    [Fact]
    public async Task APermanentCascadingDeleteLargerThanTheBatchSizeRemovesEveryDescendantInBoundedTransactionsBeforeItAnswers()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);
        var batchesBefore = await MetricAsync(Batches);

        using (var delete = await admin.DeleteAsync($"/api/v1/tasks/{dag["root"]}?cascade=true&permanent=true"))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        // Read right after the answer: every row is gone.
        Assert.Equal(0L, await CountAllAsync(worker.ProjectId));
        Assert.Equal(Descendants, await CascadedInAuditAsync("task.delete", dag["root"]));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM graph_walks"));
        await WaitForMetricAsync(Batches, batchesBefore + MinimumBatches);
    }

    [Fact]
    public async Task APermanentDeleteCascadeWhoseRequestStoppedIsFinishedByTheSweeper()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);
        var resumedBefore = await MetricAsync("taskrunner_engine_graph_walk_resumed_total");

        await using var blocker = await BlockLastLeafAsync(dag);
        using var abort = new CancellationTokenSource();
        var delete = admin.DeleteAsync($"/api/v1/tasks/{dag["root"]}?cascade=true&permanent=true", abort.Token);
        await WaitUntilStalledAsync(worker.ProjectId);
        await AbandonAsync(abort, delete);
        await WaitForMetricAsync("taskrunner_engine_graph_walk_resumed_total", resumedBefore + 1);
        await blocker.ReleaseAsync();

        await WaitUntilWalkedAsync(worker.ProjectId);
        Assert.Equal(0L, await CountAllAsync(worker.ProjectId));
        Assert.Equal(Descendants, await CascadedInAuditAsync("task.delete", dag["root"]));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM graph_walks"));
    }

    [Fact]
    public async Task ABulkCascadingDeleteLargerThanTheBatchSizeTakesEveryDescendantBeforeItAnswersAtOneInstant()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var dag = await CreateDagAsync(worker);
        var root = dag["root"];
        var batchesBefore = await MetricAsync(Batches);

        using (var delete = await worker.Client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/api/v1/tasks/bulk")
               {
                   Content = TestJson.Raw(new JsonObject { ["ids"] = new JsonArray(root.ToString()), ["cascade"] = true }.ToJsonString()),
               }))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
            Assert.Equal("deleted", (await delete.ReadJsonAsync()).GetProperty("results")[0].GetProperty("status").GetString());
        }

        Assert.Equal(1 + Descendants, await CountAsync(worker.ProjectId, DeletedWithRoot));
        Assert.Equal(Descendants, await service.ScalarAsync<long>("""
            SELECT count(DISTINCT cascaded.id) FROM audit_log a, jsonb_array_elements_text(a.diff->'cascaded_ids'->'to') AS cascaded (id)
            WHERE a.action = 'task.bulk_delete' AND cascaded.id IN (SELECT id::text FROM tasks WHERE project_id = $1)
            """, worker.ProjectId));
        await WaitForMetricAsync(Batches, batchesBefore + MinimumBatches);
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM graph_walks"));

        // The descendants carry the instant of the tasks the request named, so a cascading restore brings them back.
        using (var restore = await worker.Client.PostAsync($"/api/v1/tasks/{root}/restore?cascade=true", null))
            Assert.Equal(HttpStatusCode.OK, restore.StatusCode);
        Assert.Equal(0L, await CountAsync(worker.ProjectId, OfProject + "t.deleted_at IS NOT NULL"));
    }

    /// <summary>A root with 30 children, each with a dedupe_key of its own, deleted by a cascade; the children in id order.</summary>
    private static async Task<(Guid Root, List<(Guid Id, string Key)> Children)> CreateDeletedFanAsync(EngineWorker worker)
    {
        var tasks = new List<JsonNode> { new JsonObject { ["ref"] = "root", ["title"] = "root" } };
        tasks.AddRange(Enumerable.Range(0, 30).Select(i => (JsonNode)new JsonObject
        {
            ["ref"] = $"child{i}", ["title"] = $"child{i}", ["dedupe_key"] = $"{worker.ProjectId}-{i}",
            ["depends_on"] = new JsonArray(new JsonObject { ["ref"] = "root" }),
        }));
        using var created = await worker.PostAsync("/api/v1/tasks/bulk",
            new JsonObject { ["project_id"] = worker.ProjectId.ToString(), ["tasks"] = new JsonArray([.. tasks]) });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var refs = (await created.ReadJsonAsync()).GetProperty("refs").EnumerateObject()
            .ToDictionary(entry => entry.Name, entry => Guid.Parse(entry.Value.GetString()!));
        var root = refs["root"];
        using (var delete = await worker.Client.DeleteAsync($"/api/v1/tasks/{root}?cascade=true"))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        var children = (await worker.Service.QueryTextAsync("""
            SELECT t.id::text || ' ' || t.dedupe_key FROM task_dependencies d JOIN tasks t ON t.id = d.child_id
            WHERE d.parent_id = $1 ORDER BY t.id
            """, root)).Select(line => line.Split(' ')).Select(parts => (Guid.Parse(parts[0]), parts[1])).ToList();
        return (root, children);
    }

    [Fact]
    public async Task ARestoreWhoseCascadeReachesATaskWhoseDedupeKeyWasTakenIsRefusedWholeNamingTheHolder()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var (root, children) = await CreateDeletedFanAsync(worker);
        // Beyond the restore's first transaction: the last child in id order.
        var holder = await worker.CreateIdAsync("holder", body => body["dedupe_key"] = children[^1].Key);

        using var restore = await worker.Client.PostAsync($"/api/v1/tasks/{root}/restore?cascade=true", null);

        var problem = await restore.AssertProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal([holder.ToString()], problem.GetProperty("dedupe_holders").EnumerateArray().Select(id => id.GetString()));
        Assert.Equal(31L, await CountAsync(worker.ProjectId, OfProject + "t.deleted_at IS NOT NULL"));
    }

    [Fact]
    public async Task ATaskTakingADedupeKeyWhileARestoreWalksWinsItAndEveryOtherTaskComesBack()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var (root, children) = await CreateDeletedFanAsync(worker);
        // The restore's first transaction takes 10 children; its second stalls on the 16th, with the 17th in the same statement.
        var (stalled, clashing) = (children[15].Id, children[16]);

        Task<HttpResponseMessage> restore;
        Guid holder;
        await using (var connection = new NpgsqlConnection(service.ConnectionString))
        {
            await connection.OpenAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await using (var lockChild = new NpgsqlCommand("SELECT id FROM tasks WHERE id = $1 FOR UPDATE", connection, transaction))
            {
                lockChild.Parameters.AddWithValue(stalled);
                await lockChild.ExecuteScalarAsync();
            }
            restore = worker.Client.PostAsync($"/api/v1/tasks/{root}/restore?cascade=true", null);
            await WaitUntilStalledAsync(worker.ProjectId);
            // Created while the batch waits: the statement's snapshot predates it, the unique index does not.
            holder = await worker.CreateIdAsync("holder", body => body["dedupe_key"] = clashing.Key);
            await transaction.RollbackAsync();
        }

        using (var restored = await restore)
            Assert.Equal(HttpStatusCode.OK, restored.StatusCode);
        Assert.Equal(1L, await CountAsync(worker.ProjectId, OfProject + "t.deleted_at IS NOT NULL"));
        Assert.True(await service.ScalarAsync<bool>("SELECT deleted_at IS NOT NULL FROM tasks WHERE id = $1", clashing.Id));
        Assert.Equal("pending", await worker.StatusAsync(holder));
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM graph_walks"));
    }

    [Fact]
    public async Task RetryingABatchWhoseWorkHasMoreWaitingChildrenThanABatchHoldsCountsItOnceForItsCleanup()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var tasks = new List<JsonNode> { new JsonObject { ["ref"] = "work", ["title"] = "work", ["priority"] = 90, ["max_retries"] = 0 } };
        JsonNode AfterWork() => new JsonArray(new JsonObject { ["ref"] = "work", ["require"] = "completion" });
        // More children waiting on the work than one batch locks, and the cleanup after them in id order. Ids made in the
        // same millisecond are not ordered, so the cleanup is the waiter with the greatest id, moved ahead in the queue.
        tasks.AddRange(Enumerable.Range(0, 2 * SmallWalkBatchesFixture.BatchSize + 1).Select(i => (JsonNode)new JsonObject
        {
            ["ref"] = $"waiter{i}", ["title"] = $"waiter{i}", ["priority"] = 1, ["max_retries"] = 0, ["depends_on"] = AfterWork(),
        }));
        using var bulk = await worker.PostAsync("/api/v1/tasks/bulk",
            new JsonObject { ["project_id"] = worker.ProjectId.ToString(), ["tasks"] = new JsonArray([.. tasks]) });
        Assert.Equal(HttpStatusCode.Created, bulk.StatusCode);
        var body = await bulk.ReadJsonAsync();
        var batch = body.GetProperty("batch_id").GetString();
        var ids = body.GetProperty("refs").EnumerateObject().ToDictionary(entry => entry.Name, entry => Guid.Parse(entry.Value.GetString()!));
        // PostgreSQL orders uuids as their text.
        var cleanup = ids.Where(entry => entry.Key.StartsWith("waiter", StringComparison.Ordinal))
            .MaxBy(entry => entry.Value.ToString(), StringComparer.Ordinal).Value;
        using (var promoted = await worker.Client.PatchAsync($"/api/v1/tasks/{cleanup}", TestJson.Raw("""{"priority":80}""")))
            Assert.Equal(HttpStatusCode.OK, promoted.StatusCode);
        Assert.True(await service.ScalarAsync<long>("SELECT count(*) FROM task_dependencies WHERE parent_id = $1 AND child_id < $2",
            ids["work"], cleanup) > SmallWalkBatchesFixture.BatchSize);
        await worker.RunAsync(ids["work"], "failed");
        await worker.RunAsync(cleanup, "failed");

        using (var retried = await worker.PostAsync($"/api/v1/batches/{batch}/retry"))
            Assert.Equal(HttpStatusCode.OK, retried.StatusCode);

        Assert.Equal(1L, await service.ScalarAsync<long>("SELECT pending_parents::bigint FROM tasks WHERE id = $1", cleanup));
        await AssertConsistentAsync(worker.ProjectId);
        // The cleanup is ready as soon as the work ends again.
        await worker.RunAsync(ids["work"]);
        await worker.RunAsync(cleanup);
    }
}
