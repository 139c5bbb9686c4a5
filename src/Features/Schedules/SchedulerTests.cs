using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using TaskRunner.Infrastructure.Cluster;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Schedules;

/// <summary>
/// The scheduler on a real database. A schedule is created disabled, then "armed" straight in the database with a
/// next_fire_at in the past, which is what a node finds after downtime; the leader (polling every second) or the test
/// itself then fires it.
/// </summary>
public sealed class SchedulerTests(FastClusterFixture service) : IClassFixture<FastClusterFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private async Task<(HttpClient Client, Guid ProjectId)> EditorWithProjectAsync()
    {
        var account = await service.CreateUserAsync();
        return (await service.ClientForAsync(account), await service.CreateProjectAsync(account));
    }

    private static async Task<Guid> CreateDisabledAsync(HttpClient client, Guid project, string cron, string overlap, int catchUpSeconds)
    {
        using var response = await client.PostAsync("/api/v1/schedules", TestJson.Raw(new JsonObject
        {
            ["project_id"] = project.ToString(),
            ["cron"] = cron,
            ["timezone"] = "UTC",
            ["enabled"] = false,
            ["overlap_policy"] = overlap,
            ["catch_up_seconds"] = catchUpSeconds,
            ["task"] = new JsonObject { ["title"] = "Scheduled run", ["kind"] = "report" },
        }.ToJsonString()));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return Guid.Parse((await response.ReadJsonAsync()).GetProperty("id").GetString()!);
    }

    /// <summary>Enables the schedule with <paramref name="nextFireAt"/> as its next fire time; returns the database's now.</summary>
    private async Task<DateTime> ArmAsync(Guid scheduleId, DateTime nextFireAt)
    {
        await using var connection = new NpgsqlConnection(service.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "UPDATE schedules SET enabled = true, next_fire_at = $2 WHERE id = $1 RETURNING now()", connection);
        command.Parameters.AddWithValue(scheduleId);
        command.Parameters.AddWithValue(nextFireAt);
        return ((DateTime)(await command.ExecuteScalarAsync())!).ToUniversalTime();
    }

    private Task<DateTime> DatabaseNowAsync() => service.ScalarAsync<DateTime>("SELECT now()");

    private sealed record Fire(DateTime FireTime, string Status, string? Reason, Guid? TaskId, DateTime RecordedAt);

    private async Task<List<Fire>> FiresAsync(Guid scheduleId, DateTime upTo)
    {
        await using var connection = new NpgsqlConnection(service.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT fire_time, status, reason, task_id, recorded_at FROM schedule_fires
            WHERE schedule_id = $1 AND fire_time <= $2 ORDER BY fire_time
            """, connection);
        command.Parameters.AddWithValue(scheduleId);
        command.Parameters.AddWithValue(upTo);
        var fires = new List<Fire>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            fires.Add(new Fire(reader.GetDateTime(0).ToUniversalTime(), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetGuid(3), reader.GetDateTime(4).ToUniversalTime()));
        return fires;
    }

    private Task<List<Fire>> WaitForFiresAsync(Guid scheduleId, DateTime upTo, int count) =>
        Eventually.Until(() => FiresAsync(scheduleId, upTo), fires => fires.Count >= count, fires => $"{fires.Count} of {count} fires recorded",
            Patience, TimeSpan.FromMilliseconds(200));

    private Task<List<string>> TaskFireTimesAsync(Guid scheduleId) => service.QueryTextAsync(
        "SELECT metadata->>'schedule_fire_time' FROM tasks WHERE metadata->>'schedule_id' = $1 ORDER BY 1", scheduleId.ToString());

    private static List<DateTime> Expected(string cron, DateTime from, DateTime to) =>
        ScheduleRules.FiresBetween(ScheduleRules.Parse(cron), TimeZoneInfo.Utc, from, to).ToList();

    private static string Iso(DateTime time) => time.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    [Fact]
    public async Task FiresWithinTheCatchUpWindowAreCreatedAndOlderOnesRecordedAsMissed()
    {
        var (client, project) = await EditorWithProjectAsync();
        var id = await CreateDisabledAsync(client, project, "* * * * *", ScheduleRules.Allow, catchUpSeconds: 150);
        var from = (await DatabaseNowAsync()).AddMinutes(-10);

        var armedAt = await ArmAsync(id, from);
        var expected = Expected("* * * * *", from, armedAt);
        var fires = await WaitForFiresAsync(id, armedAt, expected.Count);

        Assert.Equal(expected, fires.Select(fire => fire.FireTime));
        foreach (var fire in fires)
        {
            var inWindow = fire.FireTime >= fire.RecordedAt.AddSeconds(-150);
            Assert.Equal(inWindow ? ("created", null) : ("skipped", "missed"), (fire.Status, fire.Reason));
        }
        var created = fires.Where(fire => fire.Status == "created").ToList();
        Assert.InRange(created.Count, 2, 3);
        Assert.Contains(fires, fire => fire.Reason == "missed");
        // allow: every fire in the window has its own task, though the earlier ones are still pending.
        var taskFireTimes = await TaskFireTimesAsync(id);
        foreach (var fire in created)
            Assert.Single(taskFireTimes, time => time == Iso(fire.FireTime));
    }

    [Fact]
    public async Task WithSkipAFireWhilePreviousTaskIsUnfinishedIsRecordedSkippedAndCounted()
    {
        var (client, project) = await EditorWithProjectAsync();
        var id = await CreateDisabledAsync(client, project, "* * * * *", ScheduleRules.Skip, catchUpSeconds: 3600);
        using var overlaps = new NodeMeasurements(service, "taskrunner.schedules.skipped_fires", "taskrunner_schedules_skipped_fires_total", ("reason", "overlap"));
        var overlapsBefore = await overlaps.ValueAsync();
        var from = (await DatabaseNowAsync()).AddMinutes(-5);

        var armedAt = await ArmAsync(id, from);
        var expected = Expected("* * * * *", from, armedAt);
        var fires = await WaitForFiresAsync(id, armedAt, expected.Count);

        Assert.Equal(expected, fires.Select(fire => fire.FireTime));
        Assert.Equal(("created", (string?)null), (fires[0].Status, fires[0].Reason));
        Assert.All(fires.Skip(1), fire => Assert.Equal(("skipped", "overlap"), (fire.Status, fire.Reason)));
        Assert.Equal([Iso(fires[0].FireTime)], (await TaskFireTimesAsync(id)).Where(time => DateTime.Parse(time, CultureInfo.InvariantCulture).ToUniversalTime() <= armedAt));
        await Eventually.Until(async () => await overlaps.ValueAsync() - overlapsBefore >= fires.Count - 1,
            "taskrunner.schedules.skipped_fires{reason=overlap} did not grow by the skipped fires", Patience, TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task AFireTimeCreatesExactlyOneTaskWhenTwoNodesRunTheSchedulerAtOnce()
    {
        var (client, project) = await EditorWithProjectAsync();
        var now = await DatabaseNowAsync();
        var minute = new DateTime(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, DateTimeKind.Utc);
        // Fires once a year, at this very minute: due now, and never again during the test.
        var id = await CreateDisabledAsync(client, project, $"{minute.Minute} {minute.Hour} {minute.Day} {minute.Month} *", ScheduleRules.Allow, 3600);
        await using var second = new InProcessHost(FastClusterFixture.FastSettings(service.ConnectionString));
        var schedulers = new[] { service.Services!, second.Services }.Select(services => services.GetRequiredService<Scheduler>()).ToList();

        await ArmAsync(id, minute);
        var created = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => schedulers[i % 2].RunDueAsync(CancellationToken.None)));

        var fires = await WaitForFiresAsync(id, minute, 1);
        Assert.Equal(("created", minute), (fires.Single().Status, fires.Single().FireTime));
        Assert.Equal([Iso(minute)], await TaskFireTimesAsync(id));
        Assert.InRange(created.Sum(), 0, 1); // 0 when the leader's own tick got there first
        Assert.Equal(1, await service.ScalarAsync<long>(
            "SELECT count(*) FROM audit_log WHERE action = 'task.create' AND diff->'schedule_id'->>'to' = $1", id.ToString()));
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task EverySecondOfABacklogIsFiredOnceAcrossRacingNodes()
    {
        var (client, project) = await EditorWithProjectAsync();
        var id = await CreateDisabledAsync(client, project, "* * * * * *", ScheduleRules.Allow, 3600);
        await using var second = new InProcessHost(FastClusterFixture.FastSettings(service.ConnectionString));
        var schedulers = new[] { service.Services!, second.Services }.Select(services => services.GetRequiredService<Scheduler>()).ToList();
        var from = (await DatabaseNowAsync()).AddSeconds(-20);

        var armedAt = await ArmAsync(id, from);
        for (var round = 0; round < 3; round++)
            await Task.WhenAll(Enumerable.Range(0, 4).Select(i => schedulers[i % 2].RunDueAsync(CancellationToken.None)));
        await service.ExecuteSqlAsync("UPDATE schedules SET enabled = false, next_fire_at = NULL WHERE id = $1", id);
        // A leader tick that read the schedule before it was disabled may still be committing: wait until no other
        // session of this database is inside a transaction; any later tick finds the schedule disabled.
        await Eventually.Until(() => service.ScalarAsync<bool>("""
                SELECT count(*) = 0 FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND state NOT IN ('idle') AND backend_type = 'client backend'
                """),
            "a scheduler transaction never finished", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));

        var expected = Expected("* * * * * *", from, armedAt);
        var fires = await FiresAsync(id, DateTime.MaxValue.ToUniversalTime());
        Assert.Equal(expected, fires.Where(fire => fire.FireTime <= armedAt).Select(fire => fire.FireTime));
        Assert.All(fires, fire => Assert.Equal("created", fire.Status));
        Assert.Equal(fires.Select(fire => Iso(fire.FireTime)), await TaskFireTimesAsync(id));
    }
}
