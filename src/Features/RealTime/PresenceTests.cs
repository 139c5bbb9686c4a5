using System.Net;
using System.Text.Json;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.RealTime;

/// <summary>Heartbeats every second, and a node silent for three seconds loses its presence within a second more.</summary>
public sealed class FastPresenceFixture : ServiceFixture
{
    public const int NodeTimeoutSeconds = 3;

    public static IEnumerable<KeyValuePair<string, string?>> FastPresence(string connectionString) =>
    [
        .. BaseSettings(connectionString),
        new("Cluster:HeartbeatSeconds", "1"),
        new("RealTime:PresenceNodeTimeoutSeconds", NodeTimeoutSeconds.ToString()),
        new("RealTime:PresenceReapSeconds", "1"),
    ];

    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) => FastPresence(connectionString);
}

/// <summary>Who is online and who views which task: announced to the project's readers only, right across nodes, and a dead node's presence goes.</summary>
public sealed class PresenceTests(FastPresenceFixture service) : IClassFixture<FastPresenceFixture>
{
    private static bool IsPresence(JsonElement message, string type, Guid userId, Guid? taskId = null) =>
        TestSocket.Type(message) == type && TestSocket.Data(message, "user_id") == userId.ToString()
        && (taskId is null || TestSocket.Data(message, "task_id") == taskId.ToString());

    private static int CountOf(TestSocket socket, string type, Guid userId) => socket.Events.Count(message => IsPresence(message, type, userId));

    private static async Task<JsonElement> PresenceAsync(HttpClient client, Guid projectId)
    {
        using var response = await client.GetAsync($"/api/v1/projects/{projectId}/presence");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.ReadJsonAsync();
    }

    private static List<Guid> OnlineIds(JsonElement presence) =>
        [.. presence.GetProperty("online").EnumerateArray().Select(user => user.GetProperty("user_id").GetGuid())];

    private static Dictionary<Guid, List<Guid>> Viewers(JsonElement presence) =>
        presence.GetProperty("viewers").EnumerateArray().ToDictionary(task => task.GetProperty("task_id").GetGuid(),
            task => task.GetProperty("user_ids").EnumerateArray().Select(user => user.GetGuid()).ToList());

    private static async Task ViewAsync(TestSocket socket, Guid? taskId)
    {
        var before = socket.Received.Count;
        await socket.SendAsync(taskId is { } id ? $$"""{"type":"view","task_id":"{{id}}"}""" : """{"type":"view","task_id":null}""");
        await socket.WaitForAsync(message => TestSocket.Type(message) is "viewing" or "error", "no answer to view", skip: before);
    }

    [Fact]
    public async Task AUserIsOnlineWhileHoldingAnySocketAndOnlyTheProjectsReadersAreTold()
    {
        using var project = await service.CreateProjectAsync();
        var (member, memberClient) = await service.MemberAsync(project, ProjectRoles.Viewer);
        using var _ = memberClient;
        using var outsider = await service.CreateProjectAsync();
        await using var reader = await TestSocket.OpenAsync(service.BaseAddress, project.OwnerClient);
        await reader.SubscribeAsync("project_id", project.Id);
        await using var stranger = await TestSocket.OpenAsync(service.BaseAddress, outsider.OwnerClient);
        await stranger.SubscribeAsync("project_id", outsider.Id);

        var first = await TestSocket.OpenAsync(service.BaseAddress, memberClient);
        var online = await reader.WaitForAsync(message => IsPresence(message, "user.online", member.Id), "the reader was not told the member came online");
        Assert.Equal(project.Id.ToString(), TestSocket.Data(online, "project_id"));
        Assert.Contains(member.Id, OnlineIds(await PresenceAsync(project.OwnerClient, project.Id)));
        var second = await TestSocket.OpenAsync(service.BaseAddress, memberClient);
        await first.DisposeAsync();
        await second.DisposeAsync();
        await reader.WaitForAsync(message => IsPresence(message, "user.offline", member.Id), "the reader was not told the member went offline");

        // Events arrive in log order: once the stranger has its own later event, any presence event for it would be in too.
        var marker = await service.CreateTaskAsync(outsider, "after the member left");
        await stranger.WaitForAsync(message => TestSocket.Data(message, "task_id") == marker.ToString(), "the stranger's own event never came");
        Assert.DoesNotContain(stranger.Events, message => TestSocket.Data(message, "user_id") == member.Id.ToString());
        // The second socket neither came online again nor left the member online.
        Assert.Equal(1, CountOf(reader, "user.online", member.Id));
        Assert.Equal(1, CountOf(reader, "user.offline", member.Id));
        Assert.DoesNotContain(member.Id, OnlineIds(await PresenceAsync(project.OwnerClient, project.Id)));
    }

    [Fact]
    public async Task ViewersOfATaskOnAnotherNodeAreAnnouncedToItsSubscribersAndListed()
    {
        using var project = await service.CreateProjectAsync();
        var (member, memberClient) = await service.MemberAsync(project, ProjectRoles.Viewer);
        using var _ = memberClient;
        var task = await service.CreateTaskAsync(project, "viewed");
        var other = await service.CreateTaskAsync(project, "viewed next");
        await using var second = await SecondNode.StartAsync(service, FastPresenceFixture.FastPresence(service.ConnectionString));
        await using var watcher = await TestSocket.OpenAsync(service.BaseAddress, project.OwnerClient);
        await watcher.SubscribeAsync("task_id", task);

        await using var viewer = await TestSocket.OpenAsync(second.BaseAddress, memberClient);
        await ViewAsync(viewer, task);
        await watcher.WaitForAsync(message => IsPresence(message, "task.viewer_joined", member.Id, task), "the task's subscriber never saw the viewer join");
        Assert.Equal([member.Id], Viewers(await PresenceAsync(project.OwnerClient, project.Id))[task]);

        await ViewAsync(viewer, other);
        await watcher.WaitForAsync(message => IsPresence(message, "task.viewer_left", member.Id, task), "viewing another task did not leave the first");
        Assert.Equal([other], Viewers(await PresenceAsync(project.OwnerClient, project.Id)).Keys);
        await ViewAsync(viewer, null);
        await Eventually.Until(async () => Viewers(await PresenceAsync(project.OwnerClient, project.Id)).Count == 0, "viewing none left a viewer");
    }

    [Fact]
    public async Task ViewingATaskTheCallerMayNotReadIsRefusedAndListsNothing()
    {
        using var project = await service.CreateProjectAsync();
        using var outsider = await service.CreateProjectAsync();
        var hidden = await service.CreateTaskAsync(project, "hidden");
        await using var socket = await TestSocket.OpenAsync(service.BaseAddress, outsider.OwnerClient);

        await ViewAsync(socket, hidden);
        await socket.SendAsync("""{"type":"view","task_id":42}""");

        await socket.WaitForAsync(message => TestSocket.Data(message, "code") == "invalid_message", "a malformed view was not refused");
        var refused = socket.Received.First(message => TestSocket.Type(message) == "error");
        Assert.Equal(("not_found", hidden.ToString()), (TestSocket.Data(refused, "code"), TestSocket.Data(refused, "task_id")));
        Assert.Empty(Viewers(await PresenceAsync(project.OwnerClient, project.Id)));
    }

    [Fact]
    public async Task ThePresenceOfAProjectIsForItsReadersOnly()
    {
        using var project = await service.CreateProjectAsync();
        using var stranger = await service.ClientForNewUserAsync();
        using var admin = await service.ClientForNewUserAsync(Roles.Admin);

        using var hidden = await stranger.GetAsync($"/api/v1/projects/{project.Id}/presence");
        using var missing = await project.OwnerClient.GetAsync($"/api/v1/projects/{Guid.NewGuid()}/presence");
        using var anonymous = await service.CreateClient().GetAsync($"/api/v1/projects/{project.Id}/presence");

        await hidden.AssertProblemAsync(HttpStatusCode.NotFound);
        await missing.AssertProblemAsync(HttpStatusCode.NotFound);
        await anonymous.AssertProblemAsync(HttpStatusCode.Unauthorized);
        var presence = await PresenceAsync(admin, project.Id);
        Assert.Empty(OnlineIds(presence));
        Assert.Empty(Viewers(presence));
    }

    [Fact]
    public async Task AKilledNodesPresenceIsRemovedAndAnnouncedWithinTheConfiguredTime()
    {
        using var project = await service.CreateProjectAsync();
        var (member, memberClient) = await service.MemberAsync(project, ProjectRoles.Viewer);
        using var _ = memberClient;
        var task = await service.CreateTaskAsync(project, "viewed on a node that dies");
        await using var watcher = await TestSocket.OpenAsync(service.BaseAddress, project.OwnerClient);
        await watcher.SubscribeAsync("project_id", project.Id);
        await using var doomed = ServiceProcess.Start(FastPresenceFixture.FastPresence(service.ConnectionString));
        Assert.True(await doomed.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)), doomed.Output);
        await using var viewer = await TestSocket.OpenAsync(doomed.BaseAddress, memberClient);
        await ViewAsync(viewer, task);
        await watcher.WaitForAsync(message => IsPresence(message, "task.viewer_joined", member.Id, task), "the viewer never joined");

        doomed.Kill();
        Assert.NotNull(await doomed.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        var killedAt = DateTime.UtcNow;

        // The timeout, a reap interval, a heartbeat that may have just beaten, and the event's way to the socket.
        var bound = TimeSpan.FromSeconds(FastPresenceFixture.NodeTimeoutSeconds + 1 + 1 + 2);
        await watcher.WaitForAsync(message => IsPresence(message, "user.offline", member.Id), "the dead node's user never went offline",
            bound + TimeSpan.FromSeconds(10));
        var removedAfter = DateTime.UtcNow - killedAt;
        Assert.True(removedAfter < bound, $"the dead node's presence was removed after {removedAfter}, more than {bound}");
        Assert.Contains(watcher.Events, message => IsPresence(message, "task.viewer_left", member.Id, task));
        var presence = await PresenceAsync(project.OwnerClient, project.Id);
        Assert.Equal([project.Owner.Id], OnlineIds(presence));
        Assert.Empty(Viewers(presence));
    }
}
