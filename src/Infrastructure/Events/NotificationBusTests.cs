using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Events;

/// <summary>The scheduler polls only every minute here, so only the schedules notification can make it look sooner.</summary>
public sealed class SlowPollingFixture : ServiceFixture
{
    public static IEnumerable<KeyValuePair<string, string?>> SlowPolling(string connectionString, bool canLead = true) =>
    [
        .. FastEngineFixture.FastEngine(BaseSettings(connectionString)),
        new("Schedules:PollSeconds", "60"),
        new("Cluster:CanLead", canLead ? "true" : "false"),
    ];

    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) => SlowPolling(connectionString);
}

/// <summary>Every node listens on one connection for every channel, reconnects by itself, and wakes whoever waits.</summary>
public sealed class NotificationBusTests(SlowPollingFixture service) : IClassFixture<SlowPollingFixture>
{
    private const string ListeningConnections = """
        SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND backend_type = 'client backend' AND query LIKE 'LISTEN %'
        """;

    /// <summary>Which channels it carries is proved by what they wake (the tests of claims, deliveries, revocations, schedules).</summary>
    [Fact]
    public async Task ANodeHoldsOneListeningConnection()
    {
        await Eventually.Until(() => service.ScalarAsync<long>(ListeningConnections), count => count == 1,
            count => $"{count} listening connections for one node");
        Assert.Equal(1, await service.ScalarAsync<long>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            NotificationBus.ApplicationName));
    }

    [Fact]
    public async Task AListeningConnectionThatIsKilledComesBackAndWakesLongPollsAgain()
    {
        using var worker = await EngineWorker.StartAsync(service);
        await Eventually.Until(() => service.ScalarAsync<long>(ListeningConnections), count => count == 1, _ => "the node is not listening");

        await service.ExecuteSqlAsync(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            NotificationBus.ApplicationName);
        await Eventually.Until(() => service.ScalarAsync<long>(ListeningConnections), count => count == 1,
            _ => "the listening connection did not come back", TimeSpan.FromSeconds(30));
        var claim = worker.ClaimAsync(limit: 1, waitSeconds: 20);
        // Gives the long poll time to find nothing and start waiting; were it slower, it would find the task at once, which
        // proves less but is still correct.
        await Task.Delay(500);
        var waited = Stopwatch.StartNew();
        var woken = await worker.CreateIdAsync("wakes the long poll");

        Assert.Equal(woken.ToString(), Assert.Single(await claim).GetProperty("id").GetString());
        Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), $"the long poll answered after {waited.Elapsed}, not woken by the notification");
    }

    [Fact]
    public async Task AScheduleCreatedOnAnotherNodeWakesTheLeadersScheduler()
    {
        // The fixture's node leads: the second one cannot.
        await using var second = await SecondNode.StartAsync(service, SlowPollingFixture.SlowPolling(service.ConnectionString, canLead: false));
        // Leader locks of other test databases on the same server share the key: this database's only.
        await service.WaitForAsync(
            "SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1 "
            + "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (long)(uint)(Cluster.LeaderElection.LockKey & 0xffffffff));
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        using var onFirstNode = await service.ClientForAsync(account);
        using var onSecondNode = second.CreateClient().WithBearer(onFirstNode.DefaultRequestHeaders.Authorization!.Parameter!);

        using var created = await onSecondNode.PostAsync("/api/v1/schedules", TestJson.Raw(new JsonObject
        {
            ["project_id"] = project.ToString(),
            ["cron"] = "* * * * * *",
            ["timezone"] = "UTC",
            ["task"] = new JsonObject { ["title"] = "Scheduled run", ["kind"] = "report" },
        }.ToJsonString()));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var schedule = (await created.ReadJsonAsync()).GetProperty("id").GetString()!;

        await service.WaitForAsync("SELECT count(*) > 0 FROM schedule_fires WHERE schedule_id = $1::uuid", schedule, seconds: 10);
    }
}
