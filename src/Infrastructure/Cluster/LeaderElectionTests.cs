using System.Diagnostics;
using System.Net;
using System.Text.Json;
using TaskRunner.Infrastructure.Observability;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Cluster;

/// <summary>A service whose heartbeats, leader retries and scheduler polls run every second, so tests finish in seconds.</summary>
public class FastClusterFixture : ServiceFixture
{
    public static IEnumerable<KeyValuePair<string, string?>> FastSettings(string connectionString, bool canLead = true) =>
    [
        .. BaseSettings(connectionString),
        new("Cluster:HeartbeatSeconds", "1"),
        new("Cluster:LeaderRetrySeconds", "1"),
        new("Cluster:CanLead", canLead ? "true" : "false"),
        new("Schedules:PollSeconds", "1"),
    ];

    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) => FastSettings(connectionString);
}

/// <summary>The fixture's own node never leads, so the tests decide which nodes stand for leader.</summary>
public sealed class FollowerFixture : FastClusterFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        FastSettings(connectionString, canLead: false);
}

public sealed class LeaderElectionTests(FollowerFixture service) : IClassFixture<FollowerFixture>
{
    private static readonly TimeSpan Takeover = TimeSpan.FromSeconds(10);

    private static async Task<List<JsonElement>> NodesAsync(HttpClient admin)
    {
        using var response = await admin.GetAsync("/api/v1/nodes");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("data").EnumerateArray().ToList();
    }

    /// <summary>Polls the registry until <paramref name="predicate"/> holds for the list, and returns that list.</summary>
    private static Task<List<JsonElement>> WaitForNodesAsync(HttpClient admin, Func<List<JsonElement>, bool> predicate, TimeSpan timeout) =>
        Eventually.Until(() => NodesAsync(admin), predicate, nodes => "the nodes never reached the expected state: " + string.Join(", ", nodes),
            timeout, TimeSpan.FromMilliseconds(200));

    private static string? LeaderId(List<JsonElement> nodes) =>
        nodes.Where(node => node.GetProperty("is_leader").GetBoolean()).Select(node => node.GetProperty("id").GetString()).SingleOrDefault();

    private static HashSet<string> AliveIds(List<JsonElement> nodes) =>
        nodes.Where(node => node.GetProperty("status").GetString() == "alive").Select(node => node.GetProperty("id").GetString()!).ToHashSet();

    [Fact]
    public async Task AnotherNodeTakesOverWithinSecondsWhenTheLeaderStops()
    {
        var admin = await service.ClientForNewUserAsync(Roles.Admin);
        var before = AliveIds(await NodesAsync(admin));
        var first = await SecondNode.StartAsync(service, FastClusterFixture.FastSettings(service.ConnectionString));
        var nodes = await WaitForNodesAsync(admin, list => LeaderId(list) is { } id && !before.Contains(id), Takeover);
        var firstId = LeaderId(nodes)!;

        await using var second = await SecondNode.StartAsync(service, FastClusterFixture.FastSettings(service.ConnectionString));
        nodes = await WaitForNodesAsync(admin, list => AliveIds(list).Except(before).Count() == 2, Takeover);
        var secondId = AliveIds(nodes).Except(before).Single(id => id != firstId);
        Assert.Equal(firstId, LeaderId(nodes));

        var clock = Stopwatch.StartNew();
        await first.DisposeAsync();
        nodes = await WaitForNodesAsync(admin, list => LeaderId(list) == secondId, Takeover);

        Assert.True(clock.Elapsed < Takeover, $"took over after {clock.Elapsed}");
        Assert.Equal("stopped", nodes.Single(node => node.GetProperty("id").GetString() == firstId).GetProperty("status").GetString());
    }

    [Fact]
    public async Task ALeaderWhoseLockConnectionDiesStepsDownAndTheLockIsTakenAgain()
    {
        var admin = await service.ClientForNewUserAsync(Roles.Admin);
        var before = AliveIds(await NodesAsync(admin));
        await using var node = await SecondNode.StartAsync(service, FastClusterFixture.FastSettings(service.ConnectionString));
        var nodes = await WaitForNodesAsync(admin, list => LeaderId(list) is { } id && !before.Contains(id), Takeover);
        var leaderId = LeaderId(nodes)!;
        var since = nodes.Single(n => n.GetProperty("id").GetString() == leaderId).GetProperty("leader_since").GetDateTime();

        await service.ExecuteSqlAsync("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE application_name = 'taskrunner-leader' AND datname = current_database()
            """);

        await WaitForNodesAsync(admin, list => list.Any(n => n.GetProperty("id").GetString() == leaderId
            && n.GetProperty("is_leader").GetBoolean() && n.GetProperty("leader_since").GetDateTime() > since), Takeover);
        Assert.Equal(1, await service.ScalarAsync<long>("""
            SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND ((classid::bigint << 32) | objid::bigint) = $1
            """, LeaderElection.LockKey));
    }

    [Fact]
    public async Task TheServerFreesTheLockOfAFrozenLeaderAnotherNodeTakesOverAndTheThawedNodeDoesNotLead()
    {
        var admin = await service.ClientForNewUserAsync(Roles.Admin);
        var before = AliveIds(await NodesAsync(admin));
        await using var frozen = ServiceProcess.Start(FastClusterFixture.FastSettings(service.ConnectionString));
        Assert.True(await frozen.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)), frozen.Output);
        var nodes = await WaitForNodesAsync(admin, list => LeaderId(list) is { } id && !before.Contains(id), Takeover);
        var frozenId = LeaderId(nodes)!;
        await using var standby = await SecondNode.StartAsync(service, FastClusterFixture.FastSettings(service.ConnectionString));
        nodes = await WaitForNodesAsync(admin, list => AliveIds(list).Except(before).Count() == 2, Takeover);
        var standbyId = AliveIds(nodes).Except(before).Single(id => id != frozenId);

        // Cut off as by a partition: its lock session stays open, idle, with nobody to close it but the server.
        frozen.Pause();
        try
        {
            await WaitForNodesAsync(admin, list => LeaderId(list) == standbyId, Takeover);
        }
        finally
        {
            frozen.Resume();
        }

        using var frozenClient = new HttpClient { BaseAddress = frozen.BaseAddress };
        await Eventually.Until(() => ReportsFollowerAsync(frozenClient), "the thawed node still reports itself leader", Takeover,
            TimeSpan.FromMilliseconds(100));
        Assert.Equal(1, await service.ScalarAsync<long>("""
            SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND ((classid::bigint << 32) | objid::bigint) = $1
            """, LeaderElection.LockKey));
        Assert.Equal(standbyId, LeaderId(await NodesAsync(admin)));
    }

    /// <summary>Whether the node's own gauge says it does not lead (taskrunner_cluster_is_leader 0).</summary>
    private static async Task<bool> ReportsFollowerAsync(HttpClient node)
    {
        var metrics = await node.GetStringAsync("/metrics");
        return metrics.Split('\n').Any(line => line.StartsWith("taskrunner_cluster_is_leader", StringComparison.Ordinal)
            && line.EndsWith(" 0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OnlyAdminsListTheNodesWithVersionHeartbeatAndStaleness()
    {
        var member = await service.ClientForNewUserAsync();
        using (var forbidden = await member.GetAsync("/api/v1/nodes"))
            await forbidden.AssertProblemAsync(HttpStatusCode.Forbidden);
        using (var anonymous = await service.CreateClient().GetAsync("/api/v1/nodes"))
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        var silent = Guid.CreateVersion7();
        await service.ExecuteSqlAsync("""
            INSERT INTO nodes (id, name, version, started_at, last_heartbeat_at)
            VALUES ($1, 'gone/1', '0.0.1', now() - interval '2 hours', now() - interval '1 hour')
            """, silent);

        var admin = await service.ClientForNewUserAsync(Roles.Admin);
        var nodes = await WaitForNodesAsync(admin, list => list.Any(node => node.GetProperty("status").GetString() == "alive"), Takeover);

        var self = nodes.First(node => node.GetProperty("status").GetString() == "alive");
        Assert.Equal(ServiceVersion.Current, self.GetProperty("version").GetString());
        Assert.InRange(self.GetProperty("last_heartbeat_at").GetDateTime().ToUniversalTime(), DateTime.UtcNow.AddSeconds(-10), DateTime.UtcNow.AddSeconds(5));
        var stale = nodes.Single(node => node.GetProperty("id").GetString() == silent.ToString());
        Assert.Equal("stale", stale.GetProperty("status").GetString());
        Assert.False(stale.GetProperty("is_leader").GetBoolean());
    }
}
