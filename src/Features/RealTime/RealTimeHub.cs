using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Events;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.RealTime;

/// <summary>
/// The node's open sockets. It hands each batch of the event feed to every socket (each keeps only what its subscriptions
/// cover and its caller may read), tells the sockets of a credential or user that changed on the auth channel to look
/// again, and closes every socket with 1012 and its resume id when the node begins to drain. It reads the event log only
/// from the first socket on.
/// </summary>
public sealed class RealTimeHub(EventFeed feed, NotificationBus bus, ShutdownState shutdown, IOptions<RealTimeOptions> options)
    : IHostedService, IDisposable
{
    /// <summary>Why the WebSocket endpoints answer 404 on a node with <see cref="EventsOptions.Enabled"/> false.</summary>
    public const string EventLogOffDetail =
        "Real-time events are turned off on this service (Events:Enabled is false): read the API instead.";

    private readonly Lock gate = new();
    private readonly HashSet<SocketConnection> sockets = [];
    private readonly Dictionary<Guid, int> socketsPerUser = [];
    private IDisposable? feedSubscription;
    private IDisposable? authSubscription;
    private CancellationTokenRegistration drain;
    private EventPosition? lastPosition;

    /// <summary>Sockets open on this node.</summary>
    public int Count
    {
        get
        {
            lock (gate)
                return sockets.Count;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        authSubscription = bus.Subscribe(Channels.Auth, OnAuthChange, OnAuthChangesMissed);
        drain = shutdown.DrainStarted.Register(CloseAllForShutdown);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Reads the log from now on (once), and waits until the feed knows where it starts, so a replay leaves no gap before it.</summary>
    public async Task<EventPosition> StartFeedAsync(CancellationToken cancellationToken)
    {
        lock (gate)
            feedSubscription ??= feed.Subscribe(OnEvents);
        return await feed.Started.WaitAsync(cancellationToken);
    }

    /// <summary>Adds a socket unless its user already holds as many as allowed on this node.</summary>
    public bool TryAdd(SocketConnection socket, EventPosition feedStart)
    {
        lock (gate)
        {
            var userId = socket.Credential.UserId;
            var held = socketsPerUser.GetValueOrDefault(userId);
            if (held >= options.Value.MaxSocketsPerUser)
                return false;
            socketsPerUser[userId] = held + 1;
            sockets.Add(socket);
            socket.Watermark = lastPosition ?? feedStart;
            return true;
        }
    }

    public void Remove(SocketConnection socket)
    {
        lock (gate)
        {
            if (!sockets.Remove(socket))
                return;
            var userId = socket.Credential.UserId;
            if (--socketsPerUser[userId] == 0)
                socketsPerUser.Remove(userId);
        }
    }

    private void OnEvents(IReadOnlyList<LoggedEvent> batch)
    {
        var messages = new EventMessages(batch);
        lock (gate)
        {
            foreach (var socket in sockets)
                socket.Deliver(batch, messages);
            lastPosition = batch[^1].Position;
        }
    }

    /// <summary>A session, an API key (named by its prefix, which sockets do not keep: every key's socket looks) or a user changed.</summary>
    private void OnAuthChange(string change)
    {
        Func<SocketConnection, bool> concerned =
            change.StartsWith(AuthChanges.SessionPrefix, StringComparison.Ordinal)
            && Guid.TryParse(change.AsSpan(AuthChanges.SessionPrefix.Length), out var sessionId)
                ? socket => socket.Credential.SessionId == sessionId
            : change.StartsWith(AuthChanges.UserPrefix, StringComparison.Ordinal)
            && Guid.TryParse(change.AsSpan(AuthChanges.UserPrefix.Length), out var userId)
                ? socket => socket.Credential.UserId == userId
            : change.StartsWith(AuthChanges.ApiKeyPrefix, StringComparison.Ordinal)
                ? socket => socket.Credential.ApiKeyId is not null
            : _ => true;
        foreach (var socket in Snapshot())
            if (concerned(socket))
                socket.ScheduleRecheck();
    }

    private void OnAuthChangesMissed()
    {
        foreach (var socket in Snapshot())
            socket.ScheduleRecheck();
    }

    private void CloseAllForShutdown()
    {
        foreach (var socket in Snapshot())
            socket.CloseForShutdown();
    }

    private List<SocketConnection> Snapshot()
    {
        lock (gate)
            return [.. sockets];
    }

    public void Dispose()
    {
        drain.Dispose();
        authSubscription?.Dispose();
        feedSubscription?.Dispose();
    }
}
