using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// The service on a PostgreSQL server of this class's own, which the test stops and starts. Deliveries are polled only
/// once an hour, so a webhook that goes out after the restart proves the outbox listener is back.
/// </summary>
public sealed class RestartableDatabaseFixture : ServiceFixture
{
    public PrivateDatabaseServer Server { get; private set; } = null!;

    public IEnumerable<KeyValuePair<string, string?>> NodeSettings() => Settings(ConnectionString);

    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
    [
        .. FastEngineFixture.FastEngine(BaseSettings(connectionString)),
        new("Webhooks:PollSeconds", "3600"),
        new("Database:ConnectionTimeoutSeconds", "2"),
    ];

    protected override async Task<string> CreateDatabaseAsync()
    {
        Server = await PrivateDatabaseServer.StartAsync("restart");
        return await Server.CreateDatabaseAsync();
    }

    protected override async Task DropDatabaseAsync() => await Server.DisposeAsync();
}

/// <summary>
/// PostgreSQL stopped and started while a load generator runs against the service: the service must answer 503 with
/// Retry-After (never a 500, never a dropped connection), say it is not ready, recover by itself, and every listener of
/// every node must be back (ready tasks, outbox, auth changes) together with the leader's lock; no task lost or stuck.
/// </summary>
public sealed class DatabaseRestartTests(RestartableDatabaseFixture service, ITestOutputHelper output) : IClassFixture<RestartableDatabaseFixture>
{
    private static readonly string[] ApiKinds = ["read", "create", "claim", "complete"];

    [Fact]
    public async Task ADatabaseRestartUnderLoadAnswersOnly503sWithRetryAfterAndEverythingRecovers()
    {
        await using var secondNode = await SecondNode.StartAsync(service, service.NodeSettings());
        await using var receiver = await WebhookReceiver.StartAsync();
        using var worker = await EngineWorker.StartAsync(service);
        var known = await worker.CreateIdAsync("read under load");
        var token = worker.Client.DefaultRequestHeaders.Authorization!;
        var load = new LoadRecorder();
        var created = new ConcurrentBag<Guid>();
        using var stop = new CancellationTokenSource();

        HttpClient Client()
        {
            var client = service.CreateClient();
            client.Timeout = TimeSpan.FromSeconds(30);
            client.DefaultRequestHeaders.Authorization = token;
            return client;
        }

        async Task ReadAsync()
        {
            using var client = Client();
            while (!stop.IsCancellationRequested)
                await load.SendAsync(client, "read", () => new HttpRequestMessage(HttpMethod.Get, $"/api/v1/tasks/{known}"), stop.Token);
        }

        async Task CreateAsync()
        {
            using var client = Client();
            while (!stop.IsCancellationRequested)
            {
                var body = new JsonObject { ["project_id"] = worker.ProjectId.ToString(), ["title"] = "created under load", ["max_retries"] = 5 }.ToJsonString();
                if (await load.SendAsync(client, "create", () => new HttpRequestMessage(HttpMethod.Post, "/api/v1/tasks") { Content = TestJson.Raw(body) }, stop.Token)
                    is { Status: 201 } answer)
                    created.Add(Guid.Parse(JsonDocument.Parse(answer.Body).RootElement.GetProperty("id").GetString()!));
            }
        }

        // Short leases: a claim whose answer the outage swallowed comes back to pending within seconds.
        async Task WorkAsync()
        {
            using var client = Client();
            while (!stop.IsCancellationRequested)
            {
                var claim = new JsonObject { ["limit"] = 10, ["lease_seconds"] = 5, ["wait_seconds"] = 1 }.ToJsonString();
                if (await load.SendAsync(client, "claim", () => new HttpRequestMessage(HttpMethod.Post, "/api/v1/tasks/claim") { Content = TestJson.Raw(claim) }, stop.Token)
                    is not { Status: 200 } claimed)
                    continue;
                var report = CompletionReport(claimed.Body);
                if (report is null)
                    continue;
                // A worker sends its report again until the service takes it, as real workers do.
                while (!stop.IsCancellationRequested && await load.SendAsync(client, "complete",
                           () => new HttpRequestMessage(HttpMethod.Post, "/api/v1/tasks/complete") { Content = TestJson.Raw(report) }, stop.Token) is not { Status: 200 })
                    await Task.Delay(100, stop.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
        }

        async Task WatchReadinessAsync()
        {
            using var client = service.CreateClient();
            while (!stop.IsCancellationRequested)
            {
                await load.SendAsync(client, "ready", () => new HttpRequestMessage(HttpMethod.Get, "/health/ready"), stop.Token);
                await Task.Delay(50, stop.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
        }

        var generators = new List<Task> { WatchReadinessAsync() };
        generators.AddRange(Enumerable.Range(0, 4).Select(_ => Task.Run(ReadAsync)));
        generators.AddRange(Enumerable.Range(0, 2).Select(_ => Task.Run(CreateAsync)));
        generators.AddRange(Enumerable.Range(0, 2).Select(_ => Task.Run(WorkAsync)));

        await WaitUntilAsync(() => ApiKinds.All(kind => load.Outcomes.Any(outcome => outcome.Kind == kind && outcome.Status is >= 200 and < 300)),
            "the load never got going", load);

        var stopped = load.Now;
        await service.Server.StopAsync();
        // Down long enough for every kind of request to meet the outage, and readiness to say so.
        // A worker meets it in its claim or in its report, whichever it is sending.
        bool MetTheOutage(params string[] kinds) => load.Outcomes.Any(outcome => kinds.Contains(outcome.Kind) && outcome.Started > stopped && outcome.Status == 503);
        await WaitUntilAsync(() => MetTheOutage("ready") && MetTheOutage("read") && MetTheOutage("create") && MetTheOutage("claim", "complete"),
            "the outage was not seen by every kind of request", load);
        var restarted = load.Now;
        await service.Server.StartAsync();
        NpgsqlConnection.ClearAllPools();

        await WaitUntilAsync(() => ApiKinds.Append("ready").All(kind => load.Outcomes.Any(outcome => outcome.Kind == kind && outcome.Started > restarted && outcome.Status is >= 200 and < 300)),
            "the service did not recover after the database came back", load, seconds: 60);
        var recovered = load.Outcomes.Where(outcome => outcome.Started > restarted && outcome.Status is >= 200 and < 300)
            .GroupBy(outcome => outcome.Kind).Max(kind => kind.Min(outcome => outcome.Ended)) - restarted;
        // The service is "recovered" once every kind of request succeeds again and stays so: the last failure after it.
        var lastFailure = load.Outcomes.Where(outcome => outcome.Started > restarted && outcome.Status is not (>= 200 and < 300)).Select(outcome => outcome.Ended).DefaultIfEmpty(restarted).Max() - restarted;
        await stop.CancelAsync();
        await Task.WhenAll(generators);

        FaultFigures.Report(output, "db_restart_downtime_seconds", (restarted - stopped).TotalSeconds);
        FaultFigures.Report(output, "db_restart_recovery_seconds", recovered.TotalSeconds);
        FaultFigures.Report(output, "db_restart_last_failure_seconds", lastFailure.TotalSeconds);
        FaultFigures.Report(output, "db_restart_requests", load.Outcomes.Count);
        FaultFigures.Report(output, "db_restart_503", load.Outcomes.Count(outcome => outcome.Status == 503 && outcome.Kind != "ready"));

        var outcomes = load.Outcomes;
        var unanswered = outcomes.Where(outcome => outcome.Status == 0).ToList();
        Assert.True(unanswered.Count == 0, "requests got no answer:\n" + LoadRecorder.Describe(unanswered));
        var wrong = outcomes.Where(outcome => outcome.Kind != "ready" && outcome.Status is not ((>= 200 and < 300) or 503)).ToList();
        Assert.True(wrong.Count == 0, "requests got neither a success nor a 503:\n" + LoadRecorder.Describe(wrong));
        var bare = outcomes.Where(outcome => outcome.Status == 503 && outcome.Kind != "ready" && !outcome.HasRetryAfter).ToList();
        Assert.True(bare.Count == 0, "503s without Retry-After:\n" + LoadRecorder.Describe(bare));
        var readiness = outcomes.Where(outcome => outcome.Kind == "ready" && outcome.Status is not (200 or 503)).ToList();
        Assert.True(readiness.Count == 0, "readiness answered neither 200 nor 503:\n" + LoadRecorder.Describe(readiness));

        await EveryListenerIsBackAsync();
        await NoTaskIsLostOrStuckAsync(worker, created.ToArray());
        await ALongPollIsWokenByATaskCreatedAfterTheRestartAsync(worker);
        await APushedTaskIsDispatchedAndDeliveredAfterTheRestartAsync(worker, receiver);
        await ARevocationOnOneNodeReachesTheOtherAfterTheRestartAsync(worker, secondNode);
    }

    private async Task EveryListenerIsBackAsync()
    {
        // One listening connection per node carries every channel (ready tasks, outbox, auth changes, schedules).
        await service.WaitForAsync(
            "SELECT count(*) = 2 FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND query LIKE 'LISTEN %'",
            Events.NotificationBus.ApplicationName, seconds: 30);
        await service.WaitForAsync("SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1",
            (long)(uint)(Cluster.LeaderElection.LockKey & 0xffffffff), seconds: 30);
    }

    /// <summary>Without the ready-task listener the long poll would wait out its 20 s and answer empty.</summary>
    private static async Task ALongPollIsWokenByATaskCreatedAfterTheRestartAsync(EngineWorker worker)
    {
        var claim = worker.ClaimAsync(limit: 1, waitSeconds: 20);
        // Gives the long poll time to find nothing and start waiting; were it slower, it would find the task at once, which
        // proves less but is still correct.
        await Task.Delay(500);
        var woken = await worker.CreateIdAsync("wakes the long poll");
        Assert.Equal(woken.ToString(), Assert.Single(await claim).GetProperty("id").GetString());
    }

    /// <summary>Deliveries are polled once an hour here: only the leader's dispatch and the outbox NOTIFY send this one.</summary>
    private static async Task APushedTaskIsDispatchedAndDeliveredAfterTheRestartAsync(EngineWorker worker, WebhookReceiver receiver)
    {
        var pushed = await worker.CreateIdAsync("pushed after the restart", body => body["actions"] = new JsonArray(
            new JsonObject { ["trigger"] = "start", ["url"] = receiver.Url() }));
        await receiver.WaitForAsync(webhooks => webhooks.Any(webhook => webhook.TaskId == pushed), TimeSpan.FromSeconds(30));
    }

    private static async Task ARevocationOnOneNodeReachesTheOtherAfterTheRestartAsync(EngineWorker worker, SecondNode secondNode)
    {
        using var created = await worker.PostAsync("/api/v1/auth/api-keys", new JsonObject { ["name"] = "revoked after the restart" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = await created.ReadJsonAsync();
        using var onSecondNode = secondNode.CreateClient().WithApiKey(key.GetProperty("key").GetString()!);
        using (var cached = await onSecondNode.GetAsync("/api/v1/users/me"))
            Assert.Equal(HttpStatusCode.OK, cached.StatusCode);

        using (var revoked = await worker.Client.DeleteAsync($"/api/v1/auth/api-keys/{key.GetProperty("id").GetString()}"))
            Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);

        await WaitUntilAsync(async () =>
        {
            using var after = await onSecondNode.GetAsync("/api/v1/users/me");
            return after.StatusCode == HttpStatusCode.Unauthorized;
        }, "the second node still accepts a key revoked on the first", seconds: 10);
    }

    /// <summary>Every task the service said it created exists, and a worker can finish all of them.</summary>
    private async Task NoTaskIsLostOrStuckAsync(EngineWorker worker, Guid[] created)
    {
        Assert.Equal((long)created.Length, await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE id = ANY ($1)", created));
        await WaitUntilAsync(async () =>
        {
            var claimed = await worker.ClaimAsync(limit: 100, leaseSeconds: 60);
            if (claimed.Count > 0)
                using (var done = await worker.PostAsync("/api/v1/tasks/complete", new JsonObject
                       {
                           ["reports"] = new JsonArray(claimed.Select(task => (JsonNode)new JsonObject
                           {
                               ["task_id"] = task.GetProperty("id").GetString(), ["lease_token"] = task.GetProperty("lease_token").GetInt64(), ["status"] = "succeeded",
                           }).ToArray()),
                       }))
                    Assert.Equal(HttpStatusCode.OK, done.StatusCode);
            return await service.ScalarAsync<long>("SELECT count(*) FROM tasks WHERE id = ANY ($1) AND status <> 'succeeded'", created) == 0;
        }, "tasks created under load never finished", seconds: 60);
    }

    private static string? CompletionReport(string claimBody)
    {
        var tasks = JsonDocument.Parse(claimBody).RootElement.GetProperty("tasks").EnumerateArray().ToList();
        return tasks.Count == 0 ? null : new JsonObject
        {
            ["reports"] = new JsonArray(tasks.Select(task => (JsonNode)new JsonObject
            {
                ["task_id"] = task.GetProperty("id").GetString(), ["lease_token"] = task.GetProperty("lease_token").GetInt64(), ["status"] = "succeeded",
            }).ToArray()),
        }.ToJsonString();
    }

    private static Task WaitUntilAsync(Func<bool> condition, string failure, LoadRecorder load, double seconds = 30) =>
        WaitUntilAsync(() => Task.FromResult(condition()), () => failure + "; last outcomes:\n" + LoadRecorder.Describe(load.Outcomes.TakeLast(20)), seconds);

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string failure, double seconds) => WaitUntilAsync(condition, () => failure, seconds);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, Func<string> failure, double seconds) =>
        await Eventually.Until(condition, static met => met, _ => failure(), TimeSpan.FromSeconds(seconds));
}
