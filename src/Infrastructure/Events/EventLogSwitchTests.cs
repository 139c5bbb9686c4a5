using System.Net;
using TaskRunner.Features.RealTime;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Events;

public sealed class EventLogOffFixture : ServiceFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        [.. BaseSettings(connectionString), new("Events:Enabled", "false")];
}

/// <summary>
/// <c>Events:Enabled=false</c>: the node's changes, the engine's included, write no event, and its WebSocket endpoints say
/// that real time is off instead of opening sockets that would never hear anything.
/// </summary>
public sealed class EventLogSwitchTests(EventLogOffFixture service) : IClassFixture<EventLogOffFixture>
{
    private Task<long> EventsOfTaskAsync(Guid task) => service.ScalarAsync<long>("SELECT count(*) FROM events WHERE task_id = $1", task);

    private Task<long> MemberEventsAsync(Guid project, Guid user) =>
        service.ScalarAsync<long>("SELECT count(*) FROM events WHERE project_id = $1 AND user_id = $2", project, user);

    private static async Task ChangeEverythingClientsWatchAsync(HttpClient client, EngineWorker worker, Guid task, Guid newMember)
    {
        using var renamed = await client.PatchAsync($"/api/v1/tasks/{task}", TestJson.Body(("title", "renamed")));
        Assert.Equal(HttpStatusCode.OK, renamed.StatusCode);
        using var commented = await client.PostAsync($"/api/v1/tasks/{task}/comments", TestJson.Body(("body", "looks good")));
        Assert.Equal(HttpStatusCode.Created, commented.StatusCode);
        using var added = await client.PostAsync($"/api/v1/projects/{worker.ProjectId}/members",
            TestJson.Body(("user_id", newMember.ToString()), ("role", "viewer")));
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
    }

    [Fact]
    public async Task ANodeWithTheEventLogOffWritesNoEventsWhileANodeWithItOnStillDoes()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var quiet = await worker.CreateIdAsync("changed through the node with the log off");
        var quietMember = await service.CreateUserAsync();
        await ChangeEverythingClientsWatchAsync(worker.Client, worker, quiet, quietMember.Id);
        await worker.RunAsync(quiet);

        await using var logging = await SecondNode.StartAsync(service);
        using var loggingClient = logging.CreateClient().WithBearer(worker.Client.DefaultRequestHeaders.Authorization!.Parameter!);
        using var created = await loggingClient.PostAsync("/api/v1/tasks",
            TestJson.Body(("project_id", worker.ProjectId.ToString()), ("title", "changed through the node with the log on")));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var logged = Guid.Parse((await created.ReadJsonAsync()).GetProperty("id").GetString()!);
        var loggedMember = await service.CreateUserAsync();
        await ChangeEverythingClientsWatchAsync(loggingClient, worker, logged, loggedMember.Id);

        Assert.Equal(0, await EventsOfTaskAsync(quiet));
        Assert.Equal(0, await MemberEventsAsync(worker.ProjectId, quietMember.Id));
        Assert.Equal(3, await EventsOfTaskAsync(logged)); // created, updated, comment.created
        Assert.Equal(1, await MemberEventsAsync(worker.ProjectId, loggedMember.Id));
    }

    [Fact]
    public async Task TheSocketEndpointsAnswerNotFoundWhileTheEventLogIsOff()
    {
        using var client = await service.ClientForNewUserAsync();

        using var ticket = await client.PostAsync("/api/v1/ws/ticket", null);
        var problem = await ticket.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(RealTimeHub.EventLogOffDetail, problem.GetProperty("detail").GetString());
        var token = client.DefaultRequestHeaders.Authorization!.Parameter!;
        Assert.Equal(HttpStatusCode.NotFound, await TestSocket.RefusedAsync(TestSocket.Address(service.BaseAddress), options =>
        {
            options.AddSubProtocol("bearer");
            options.AddSubProtocol(token);
        }));
    }
}
