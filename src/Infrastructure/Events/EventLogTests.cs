using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Events;

/// <summary>
/// The event log: every change clients see is an event written with it, and readers never skip an event that commits
/// after a later one was read.
/// </summary>
public sealed class EventLogTests(ServiceFixture service) : IClassFixture<ServiceFixture>, IAsyncLifetime
{
    private NpgsqlDataSource dataSource = null!;

    public Task InitializeAsync()
    {
        dataSource = NpgsqlDataSource.Create(service.ConnectionString);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await dataSource.DisposeAsync();

    private sealed record Recorded(long Xid, string Type, Guid? TaskId, Guid? BatchId, Guid? UserId, JsonElement Data);

    private async Task<List<Recorded>> EventsOfProjectAsync(Guid projectId)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT xid::text::bigint, type, task_id, batch_id, user_id, data::text FROM events WHERE project_id = $1 ORDER BY xid, id");
        command.Parameters.AddWithValue(projectId);
        await using var reader = await command.ExecuteReaderAsync();
        var events = new List<Recorded>();
        while (await reader.ReadAsync())
            events.Add(new Recorded(reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetGuid(2),
                reader.IsDBNull(3) ? null : reader.GetGuid(3), reader.IsDBNull(4) ? null : reader.GetGuid(4),
                JsonDocument.Parse(reader.GetString(5)).RootElement.Clone()));
        return events;
    }

    private static async Task ExpectAsync(HttpStatusCode status, Task<HttpResponseMessage> request)
    {
        using var response = await request;
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    [Fact]
    public async Task EveryChangeOfATaskAndItsCommentsIsAnEventOfItsProject()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var task = await worker.CreateIdAsync("watched");
        await ExpectAsync(HttpStatusCode.OK, worker.Client.PatchAsync($"/api/v1/tasks/{task}", TestJson.Body(("title", "renamed"))));
        await worker.ClaimOneAsync();
        using var commented = await worker.Client.PostAsync($"/api/v1/tasks/{task}/comments", TestJson.Body(("body", "looks good")));
        Assert.Equal(HttpStatusCode.Created, commented.StatusCode);
        var comment = (await commented.ReadJsonAsync()).GetProperty("id").GetString()!;
        await ExpectAsync(HttpStatusCode.NoContent, worker.Client.DeleteAsync($"/api/v1/comments/{comment}"));
        await ExpectAsync(HttpStatusCode.NoContent, worker.Client.DeleteAsync($"/api/v1/tasks/{task}"));

        var events = (await EventsOfProjectAsync(worker.ProjectId)).Where(recorded => recorded.TaskId == task).ToList();

        Assert.Equal(["task.created", "task.updated", "task.status_changed", "comment.created", "comment.deleted", "task.deleted"],
            events.Select(recorded => recorded.Type));
        var started = events.Single(recorded => recorded.Type == "task.status_changed").Data;
        Assert.Equal(("pending", "running"), (started.GetProperty("from").GetString(), started.GetProperty("status").GetString()));
        Assert.Equal(comment, events.Single(recorded => recorded.Type == "comment.created").Data.GetProperty("comment_id").GetString());
    }

    [Fact]
    public async Task AddingAndRemovingAMemberAreEventsOfTheProjectNamingTheUser()
    {
        var owner = await service.CreateUserAsync();
        var member = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(owner);
        using var client = await service.ClientForAsync(owner);

        await ExpectAsync(HttpStatusCode.Created, client.PostAsync($"/api/v1/projects/{project}/members",
            TestJson.Body(("user_id", member.Id.ToString()), ("role", "viewer"))));
        await ExpectAsync(HttpStatusCode.NoContent, client.DeleteAsync($"/api/v1/projects/{project}/members/{member.Id}"));

        var events = (await EventsOfProjectAsync(project)).Where(recorded => recorded.UserId == member.Id).ToList();
        Assert.Equal(["project.member_added", "project.member_removed"], events.Select(recorded => recorded.Type));
        Assert.All(events, recorded => Assert.Equal("viewer", recorded.Data.GetProperty("role").GetString()));
    }

    [Fact]
    public async Task AStatementThatMovesABatchWritesItsEventsAndOneProgressEventInItsTransaction()
    {
        using var worker = await EngineWorker.StartAsync(service);
        using var created = await worker.PostAsync("/api/v1/tasks/bulk", new JsonObject
        {
            ["project_id"] = worker.ProjectId.ToString(),
            ["tasks"] = new JsonArray(Enumerable.Range(0, 3).Select(i => (JsonNode)new JsonObject { ["ref"] = $"t{i}", ["title"] = $"t{i}" }).ToArray()),
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var batch = Guid.Parse((await created.ReadJsonAsync()).GetProperty("batch_id").GetString()!);

        Assert.Equal(3, (await worker.ClaimAsync(limit: 3)).Count);

        var moved = (await EventsOfProjectAsync(worker.ProjectId))
            .Where(recorded => recorded.BatchId == batch && recorded.Type is "task.status_changed" or "batch.progress").ToList();
        Assert.Equal(4, moved.Count);
        Assert.Single(moved.Select(recorded => recorded.Xid).Distinct());
        var progress = Assert.Single(moved, recorded => recorded.Type == "batch.progress");
        Assert.Equal(3, progress.Data.GetProperty("statuses").GetProperty("running").GetInt32());
    }

    [Fact]
    public async Task AnEventThatCommitsAfterALaterOneIsDeliveredFirstAndNeverSkipped()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var early = await worker.CreateIdAsync("takes its event id first");
        var late = await worker.CreateIdAsync("takes its event id second");
        var start = await EventLog.CurrentPositionAsync(dataSource, CancellationToken.None);

        await using var slow = await dataSource.OpenConnectionAsync();
        await using var open = await slow.BeginTransactionAsync();
        await using (var first = new NpgsqlCommand("UPDATE tasks SET priority = 10 WHERE id = $1", slow, open))
        {
            first.Parameters.AddWithValue(early);
            await first.ExecuteNonQueryAsync();
        }
        await service.ExecuteSqlAsync("UPDATE tasks SET priority = 20 WHERE id = $1", late);

        // The later event has committed, but the earlier one may still commit before it in the log's order: nothing yet.
        var whileOpen = await EventLog.ReadAsync(dataSource, start, 100, CancellationToken.None);
        Assert.DoesNotContain(whileOpen.Events, logged => logged.TaskId == late);
        var resumeFrom = whileOpen.Events.Count > 0 ? whileOpen.Events[^1].Position : start;
        await open.CommitAsync();

        var afterCommit = await Eventually.Until(() => EventLog.ReadAsync(dataSource, resumeFrom, 100, CancellationToken.None),
            batch => batch.Events.Any(logged => logged.TaskId == late), _ => "the committed events never settled");
        Assert.Equal([early, late], afterCommit.Events.Where(logged => logged.Type == "task.updated").Select(logged => logged.TaskId!.Value));
        Assert.True(afterCommit.Events.SequenceEqual(afterCommit.Events.OrderBy(logged => logged.Xid).ThenBy(logged => logged.Id)));
    }

    [Fact]
    public void APositionReadsBackAsItWasWritten()
    {
        var position = new EventPosition(9_000_000_123, 42);

        Assert.True(EventPosition.TryParse(position.ToString(), out var parsed));
        Assert.Equal(position, parsed);
        Assert.False(EventPosition.TryParse("42", out _));
        Assert.False(EventPosition.TryParse("-1-2", out _));
        Assert.False(EventPosition.TryParse("1-x", out _));
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task TheFeedDeliversEveryEventOnceInLogOrder()
    {
        var feed = service.Services!.GetRequiredService<EventFeed>();
        var delivered = new ConcurrentQueue<LoggedEvent>();
        using var subscription = feed.Subscribe(events =>
        {
            foreach (var logged in events)
                delivered.Enqueue(logged);
        });
        using var worker = await EngineWorker.StartAsync(service);
        // The feed starts at the log's position when it is first subscribed to: wait until it reads, then write.
        var marker = await worker.CreateIdAsync("marker");
        await Eventually.Until(() => delivered.Any(logged => logged.TaskId == marker), "the feed delivered nothing");

        var created = new List<Guid>();
        for (var i = 0; i < 5; i++)
            created.Add(await worker.CreateIdAsync($"fed {i}"));

        await Eventually.Until(() => created.All(id => delivered.Any(logged => logged.TaskId == id)), "the feed missed an event");
        var positions = delivered.Select(logged => logged.Position).ToList();
        Assert.Equal(positions.Distinct(), positions);
        Assert.Equal(positions.OrderBy(position => position.Xid).ThenBy(position => position.Id), positions);
    }

    [Fact]
    public async Task ASweepDeletesOnlyEventsOlderThanTheRetention()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var kept = await worker.CreateIdAsync("recent");
        var expired = await worker.CreateIdAsync("old");
        await service.ExecuteSqlAsync("UPDATE events SET at = now() - interval '61 minutes' WHERE task_id = $1", expired);
        await using var metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();

        var sweep = TestBackground.Retention(dataSource, metrics, meters =>
            EventLog.Retention(new EventsOptions { RetentionMinutes = 60, RetentionBatchSize = 1, RetentionSweepSeconds = 60 }, meters));
        await sweep.SweepAsync(CancellationToken.None);

        Assert.Equal(0, await service.ScalarAsync<long>("SELECT count(*) FROM events WHERE task_id = $1", expired));
        Assert.Equal(1, await service.ScalarAsync<long>("SELECT count(*) FROM events WHERE task_id = $1", kept));
    }
}
