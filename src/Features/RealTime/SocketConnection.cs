using System.Buffers;
using System.Net.WebSockets;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Events;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.RealTime;

/// <summary>The close codes of docs/realtime.md; those the server closes with carry the resume id as their reason where one helps.</summary>
public static class SocketCloseCodes
{
    /// <summary>The node is shutting down; reconnect (to any node) with the resume id.</summary>
    public const WebSocketCloseStatus ServiceRestart = (WebSocketCloseStatus)1012;

    /// <summary>The session or API key behind the socket was revoked or expired, or its user disabled.</summary>
    public const WebSocketCloseStatus Revoked = (WebSocketCloseStatus)4401;

    /// <summary>The client read too slowly: its queue overflowed. Reconnect with the resume id.</summary>
    public const WebSocketCloseStatus Overflow = (WebSocketCloseStatus)4408;

    /// <summary>The client sent messages faster than the configured rate.</summary>
    public const WebSocketCloseStatus RateLimited = (WebSocketCloseStatus)4429;
}

/// <summary>
/// One client's socket: its credential, its subscriptions, and a bounded queue of messages that one writer sends in order.
/// Events reach it from the node's <see cref="RealTimeHub"/> on the event feed's loop, which never waits for a client: a
/// queue past its bounds closes the socket with <c>overflow</c> and a resume id instead. The receive loop runs on the
/// request that opened the socket; it reads client messages up to the size limit and the rate limit.
/// </summary>
public sealed partial class SocketConnection : IDisposable
{
    private const int ReplayPageSize = 500;

    private sealed class Subscription(SubscriptionTarget target, Guid projectId)
    {
        public SubscriptionTarget Target { get; } = target;

        /// <summary>The project the caller was allowed to read when subscribing: events of any other never go out on it.</summary>
        public Guid ProjectId { get; } = projectId;

        /// <summary>While the log is replayed for it: live events that arrive meanwhile, sent after the replay.</summary>
        public List<LoggedEvent>? Pending { get; set; }

        /// <summary>Where its replay ended: live events up to here were already sent by the replay.</summary>
        public EventPosition? ReplayedUpTo { get; set; }
    }

    /// <summary>A message waiting to be sent; <see cref="Event"/> when it is an event (its position bounds the resume id).</summary>
    private readonly record struct Outgoing(byte[] Bytes, string Type, LoggedEvent? Event, bool Live);

    private readonly record struct CloseRequest(WebSocketCloseStatus Status, string Reason, byte[]? LastMessage);

    private readonly RealTimeOptions options;
    private readonly RealTimeMetrics metrics;
    private readonly NpgsqlDataSource dataSource;
    private readonly Presence presence;
    private readonly TimeProvider clock;
    private readonly ILogger logger;
    private readonly Lock gate = new();
    private readonly Queue<Outgoing> queue = new();
    private readonly SemaphoreSlim queued = new(0);
    private readonly Dictionary<SubscriptionTarget, Subscription> subscriptions = [];
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WebSocket? socket;
    private long queuedBytes;
    private LoggedEvent? inFlight;
    private CloseRequest? closing;
    private int recheckScheduled;
    private readonly WakeSignal drained = new();
    private volatile bool replayWaiting;
    private double tokens;
    private long lastRefill;

    /// <summary>The project of the task the socket views (its presence row says which task), if any.</summary>
    private Guid? viewedProject;

    public SocketConnection(SocketCredential credential, EventPosition? resumeFrom, RealTimeOptions options, RealTimeMetrics metrics,
        NpgsqlDataSource dataSource, Presence presence, TimeProvider clock, ILogger logger)
    {
        Credential = credential;
        ResumeFrom = resumeFrom;
        this.options = options;
        this.metrics = metrics;
        this.dataSource = dataSource;
        this.presence = presence;
        this.clock = clock;
        this.logger = logger;
        tokens = options.InboundBurst;
        lastRefill = clock.GetTimestamp();
    }

    /// <summary>Its presence row's key.</summary>
    public Guid Id { get; } = Ids.New();

    public SocketCredential Credential { get; private set; }

    /// <summary>The position the client resumes from (<c>?last_event_id=</c>): each of its subscriptions first replays the log from here.</summary>
    public EventPosition? ResumeFrom { get; }

    /// <summary>How far the live feed has been handed to this socket: every matching event up to here is sent or queued.</summary>
    public EventPosition Watermark { get; set; }

    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>
    /// Where a client that lost this socket now resumes without missing anything: the watermark, or just before the oldest
    /// event not yet written, or the resume position of a replay still running, whichever is oldest.
    /// </summary>
    private EventPosition ResumeIdLocked()
    {
        var resume = Watermark;
        void Before(EventPosition position)
        {
            var justBefore = new EventPosition(position.Xid, position.Id - 1);
            if (Compare(justBefore, resume) < 0)
                resume = justBefore;
        }
        if (inFlight is not null)
            Before(inFlight.Position);
        foreach (var item in queue)
            if (item.Event is not null)
                Before(item.Event.Position);
        if (ResumeFrom is { } from && subscriptions.Values.Any(subscription => subscription.Pending is not null) && Compare(from, resume) < 0)
            resume = from;
        return resume;
    }

    private static int Compare(EventPosition left, EventPosition right) =>
        left.Xid != right.Xid ? left.Xid.CompareTo(right.Xid) : left.Id.CompareTo(right.Id);

    /// <summary>Queues a message; past the queue's bounds the socket overflows (and the message is not queued).</summary>
    private void EnqueueLocked(byte[] bytes, string type, LoggedEvent? logged = null, bool live = false)
    {
        if (closing is not null)
            return;
        if (queue.Count + 1 > options.MaxQueuedMessages || queuedBytes + bytes.Length > options.MaxQueuedBytes)
        {
            OverflowLocked();
            return;
        }
        queue.Enqueue(new Outgoing(bytes, type, logged, live));
        queuedBytes += bytes.Length;
        queued.Release();
    }

    /// <summary>The client reads too slowly: it is told where to resume, and closed, rather than let its queue grow.</summary>
    private void OverflowLocked()
    {
        var resume = ResumeIdLocked().ToString();
        BeginCloseLocked(SocketCloseCodes.Overflow, resume, "overflow", SocketMessages.Control(SocketMessages.Overflow, Now, ("last_event_id", resume)));
    }

    private void Send(byte[] bytes, string type)
    {
        lock (gate)
            EnqueueLocked(bytes, type);
    }

    /// <summary>
    /// Closes the socket from the server's side: what is queued is dropped (the resume id covers it), an optional last
    /// message and the close frame go out, and a client that does not finish the handshake in time is dropped.
    /// </summary>
    private void BeginCloseLocked(WebSocketCloseStatus status, string reason, string? dropReason, byte[]? lastMessage = null)
    {
        if (closing is not null)
            return;
        closing = new CloseRequest(status, reason, lastMessage);
        queue.Clear();
        queuedBytes = 0;
        queued.Release();
        if (dropReason is not null)
            metrics.Dropped(dropReason);
        _ = AbortIfStillOpenAsync();
    }

    private void BeginClose(WebSocketCloseStatus status, string reason, string? dropReason)
    {
        lock (gate)
            BeginCloseLocked(status, reason, dropReason);
    }

    /// <summary>On shutdown: close 1012 with the resume id, so the client reconnects elsewhere without a gap.</summary>
    public void CloseForShutdown()
    {
        lock (gate)
            BeginCloseLocked(SocketCloseCodes.ServiceRestart, ResumeIdLocked().ToString(), "shutdown");
    }

    private async Task AbortIfStillOpenAsync()
    {
        await Task.WhenAny(closed.Task, Task.Delay(TimeSpan.FromSeconds(options.CloseTimeoutSeconds), clock));
        if (!closed.Task.IsCompleted)
            socket?.Abort();
    }

    /// <summary>
    /// A batch of the feed, in log order: each event goes out once if a subscription covers it and its project is the one the
    /// caller was allowed to read; a membership removal ends the subscriptions it revokes before any later event is sent.
    /// </summary>
    public void Deliver(IReadOnlyList<LoggedEvent> batch, EventMessages messages)
    {
        lock (gate)
        {
            for (var i = 0; i < batch.Count && closing is null; i++)
            {
                var logged = batch[i];
                if (logged.Type == "project.member_removed" && logged.UserId == Credential.UserId && !Credential.AsCaller().IsAdmin)
                {
                    EndSubscriptionsLocked(subscription => subscription.ProjectId == logged.ProjectId);
                    if (viewedProject == logged.ProjectId)
                        LeaveViewLocked(logged.ProjectId);
                }
                Subscription? waiting = null;
                var sent = false;
                foreach (var subscription in subscriptions.Values)
                {
                    if (subscription.ProjectId != logged.ProjectId || !subscription.Target.Matches(logged))
                        continue;
                    if (subscription.ReplayedUpTo is { } replayed && Compare(logged.Position, replayed) <= 0)
                        continue;
                    if (subscription.Pending is null)
                    {
                        EnqueueLocked(messages.At(i), logged.Type, logged, live: true);
                        sent = true;
                        break;
                    }
                    waiting = subscription;
                }
                if (!sent && waiting is not null)
                {
                    if (waiting.Pending!.Count >= options.MaxQueuedMessages)
                        OverflowLocked();
                    else
                        waiting.Pending.Add(logged);
                }
            }
            Watermark = batch[^1].Position;
        }
    }

    /// <summary>Access to the viewed task's project ended: the socket stops viewing it (off the feed's thread).</summary>
    private void LeaveViewLocked(Guid projectId)
    {
        viewedProject = null;
        _ = Task.Run(async () =>
        {
            try
            {
                await presence.LeaveProjectAsync(Id, Credential.UserId, projectId, CancellationToken.None);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                // The row keeps the view until the socket closes or views another task; the viewer event was never sent to them anyway.
                LogLeaveViewFailed(logger, e.Message);
            }
        });
    }

    private void EndSubscriptionsLocked(Func<Subscription, bool> revoked)
    {
        foreach (var subscription in subscriptions.Values.Where(revoked).ToList())
        {
            subscriptions.Remove(subscription.Target);
            EnqueueLocked(SocketMessages.Target(SocketMessages.SubscriptionEnded, Now, subscription.Target, ("reason", "access_revoked")),
                SocketMessages.SubscriptionEnded);
        }
    }

    /// <summary>The credential or the user may have changed: look again, off the caller's thread, once however many changes arrive meanwhile.</summary>
    public void ScheduleRecheck()
    {
        if (Interlocked.Exchange(ref recheckScheduled, 1) == 0)
            _ = Task.Run(RecheckAsync);
    }

    private async Task RecheckAsync()
    {
        Interlocked.Exchange(ref recheckScheduled, 0);
        try
        {
            var current = await SocketAccess.CurrentAsync(dataSource, Credential, CancellationToken.None);
            if (current is null)
            {
                BeginClose(SocketCloseCodes.Revoked, "credential revoked", "revoked");
                return;
            }
            List<Guid> projects;
            lock (gate)
            {
                Credential = current;
                projects = subscriptions.Values.Select(subscription => subscription.ProjectId).Append(viewedProject ?? Guid.Empty)
                    .Where(project => project != Guid.Empty).Distinct().ToList();
            }
            if (projects.Count == 0)
                return;
            var readable = await SocketAccess.ReadableProjectsAsync(dataSource, current.AsCaller(), projects, CancellationToken.None);
            lock (gate)
            {
                EndSubscriptionsLocked(subscription => !readable.Contains(subscription.ProjectId));
                if (viewedProject is { } viewed && !readable.Contains(viewed))
                    LeaveViewLocked(viewed);
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            // Access cannot be confirmed: the client reconnects (and is checked afresh) rather than keep what it may have lost.
            LogRecheckFailed(logger, e.Message);
            BeginClose(WebSocketCloseStatus.InternalServerError, "access could not be rechecked", "recheck_failed");
        }
    }

    /// <summary>Serves the accepted socket until it closes: the writer in the background, the reader here.</summary>
    public async Task RunAsync(WebSocket accepted, bool resync, CancellationToken cancellationToken)
    {
        socket = accepted;
        metrics.Opened();
        try
        {
            if (resync)
                Send(SocketMessages.Control(SocketMessages.Resync, Now, ("reason", "the log no longer holds last_event_id: read the current state again")),
                    SocketMessages.Resync);
            var writer = WriteAsync(cancellationToken);
            await ReadAsync(cancellationToken);
            // The client went away or the close handshake is done: the writer ends at once (or is aborted by the close timeout).
            BeginClose(WebSocketCloseStatus.NormalClosure, "", dropReason: null);
            await writer;
        }
        finally
        {
            closed.TrySetResult();
            metrics.Closed();
        }
    }

    private async Task WriteAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await queued.WaitAsync(cancellationToken);
                Outgoing item;
                CloseRequest? close;
                lock (gate)
                {
                    close = closing;
                    if (close is null)
                    {
                        if (!queue.TryDequeue(out item))
                            continue;
                        queuedBytes -= item.Bytes.Length;
                        inFlight = item.Event;
                    }
                    else
                        item = default;
                }
                if (close is { } request)
                {
                    if (request.LastMessage is not null && socket!.State == WebSocketState.Open)
                        await socket.SendAsync(request.LastMessage, WebSocketMessageType.Text, true, cancellationToken);
                    if (socket!.State is WebSocketState.Open or WebSocketState.CloseReceived)
                        await socket.CloseOutputAsync(request.Status, request.Reason, cancellationToken);
                    return;
                }
                await socket!.SendAsync(item.Bytes, WebSocketMessageType.Text, true, cancellationToken);
                metrics.Sent(item.Type);
                if (item.Live && item.Event is not null)
                    metrics.EventSent(item.Event.At, Now);
                lock (gate)
                    inFlight = null;
                if (replayWaiting)
                    drained.Wake();
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The socket was aborted (a dead or too slow client) or the request ended: nothing more to send.
        }
    }

    /// <summary>
    /// Reads client messages until the socket closes. Between messages it waits with an empty buffer (the WebSocket then
    /// waits on the connection without holding one), and rents a buffer only while a message arrives: an idle socket,
    /// the common case by far, holds none.
    /// </summary>
    private async Task ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            var discarding = false;
            while (true)
            {
                var arrived = await socket!.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
                if (arrived.MessageType == WebSocketMessageType.Close)
                    return;
                var buffer = ArrayPool<byte>.Shared.Rent(options.MaxInboundMessageBytes + 1);
                try
                {
                    var (complete, type, length) = await ReceiveMessageAsync(arrived, buffer, discarding, cancellationToken);
                    if (!complete)
                        return;
                    discarding |= length > options.MaxInboundMessageBytes;
                    if (discarding)
                        continue;
                    if (!TakeToken())
                    {
                        string resume;
                        lock (gate)
                            resume = ResumeIdLocked().ToString();
                        BeginClose(SocketCloseCodes.RateLimited, resume, "rate_limited");
                        discarding = true;
                        continue;
                    }
                    if (type == WebSocketMessageType.Binary)
                    {
                        Send(SocketMessages.Failure(Now, "binary_not_supported", "Messages are JSON text frames."), SocketMessages.Error);
                        continue;
                    }
                    var message = SocketMessages.Parse(buffer.AsSpan(0, length), out var code, out var detail);
                    if (message is null)
                        Send(SocketMessages.Failure(Now, code, detail), SocketMessages.Error);
                    else
                        await HandleAsync(message, cancellationToken);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client vanished, or was aborted: the socket is done.
        }
    }

    /// <summary>
    /// Reads the rest of the message whose first frame <paramref name="arrived"/> announced into <paramref name="buffer"/>,
    /// up to one byte past the size limit: the moment it is past, the socket begins to close with 1009, and the rest is read
    /// and dropped (as is all of it when <paramref name="discarding"/>). Not complete when the client closed meanwhile.
    /// </summary>
    private async Task<(bool Complete, WebSocketMessageType Type, int Length)> ReceiveMessageAsync(
        ValueWebSocketReceiveResult arrived, byte[] buffer, bool discarding, CancellationToken cancellationToken)
    {
        var capacity = options.MaxInboundMessageBytes + 1;
        var length = 0;
        var received = arrived;
        while (!received.EndOfMessage)
        {
            var keep = !discarding && length < capacity;
            received = await socket!.ReceiveAsync(keep ? buffer.AsMemory(length, capacity - length) : buffer.AsMemory(0, capacity), cancellationToken);
            if (received.MessageType == WebSocketMessageType.Close)
                return (false, received.MessageType, length);
            if (!keep)
                continue;
            length += received.Count;
            if (length > options.MaxInboundMessageBytes)
                BeginClose(WebSocketCloseStatus.MessageTooBig, $"messages are limited to {options.MaxInboundMessageBytes} bytes", "message_too_big");
        }
        return (true, arrived.MessageType, length);
    }

    /// <summary>A token bucket: <see cref="RealTimeOptions.InboundBurst"/> at once, refilled at the configured rate.</summary>
    private bool TakeToken()
    {
        var now = clock.GetTimestamp();
        tokens = Math.Min(options.InboundBurst, tokens + clock.GetElapsedTime(lastRefill, now).TotalSeconds * options.InboundMessagesPerSecond);
        lastRefill = now;
        if (tokens < 1)
            return false;
        tokens--;
        return true;
    }

    private async Task HandleAsync(ClientMessage message, CancellationToken cancellationToken)
    {
        if (message.Type == SocketMessages.Ping)
        {
            Send(SocketMessages.Control(SocketMessages.Pong, Now), SocketMessages.Pong);
            return;
        }
        if (message.Type == SocketMessages.View)
        {
            await ViewAsync(message.Target, cancellationToken);
            return;
        }
        var target = message.Target!.Value;
        if (message.Type == SocketMessages.Unsubscribe)
        {
            lock (gate)
            {
                subscriptions.Remove(target);
                EnqueueLocked(SocketMessages.Target(SocketMessages.Unsubscribed, Now, target), SocketMessages.Unsubscribed);
            }
            return;
        }
        lock (gate)
        {
            if (subscriptions.ContainsKey(target))
            {
                EnqueueLocked(SocketMessages.Target(SocketMessages.Subscribed, Now, target), SocketMessages.Subscribed);
                return;
            }
            if (subscriptions.Count >= options.MaxSubscriptionsPerSocket)
            {
                EnqueueLocked(SocketMessages.Failure(Now, target, "too_many_subscriptions",
                    $"A socket holds at most {options.MaxSubscriptionsPerSocket} subscriptions: unsubscribe first."), SocketMessages.Error);
                return;
            }
        }
        if (await SocketAccess.ReadableProjectAsync(dataSource, Credential.AsCaller(), target, cancellationToken) is not { } projectId)
        {
            Send(SocketMessages.Failure(Now, target, "not_found", $"No such {target.Field[..^3]}, or you may not read it."), SocketMessages.Error);
            return;
        }
        var subscription = new Subscription(target, projectId) { Pending = ResumeFrom is null ? null : [] };
        lock (gate)
        {
            subscriptions[target] = subscription;
            EnqueueLocked(SocketMessages.Target(SocketMessages.Subscribed, Now, target), SocketMessages.Subscribed);
        }
        if (ResumeFrom is { } from)
            await ReplayAsync(subscription, from, cancellationToken);
    }

    /// <summary>The socket views <paramref name="task"/> (one at a time: the previous view ends), or none when null; the caller must be able to read it.</summary>
    private async Task ViewAsync(SubscriptionTarget? task, CancellationToken cancellationToken)
    {
        Guid? projectId = null;
        if (task is { } target)
        {
            projectId = await SocketAccess.ReadableProjectAsync(dataSource, Credential.AsCaller(), target, cancellationToken);
            if (projectId is null)
            {
                Send(SocketMessages.Failure(Now, target, "not_found", "No such task, or you may not read it."), SocketMessages.Error);
                return;
            }
        }
        await presence.ViewAsync(Id, Credential.UserId, task?.Id, projectId, cancellationToken);
        lock (gate)
        {
            viewedProject = projectId;
            EnqueueLocked(task is { } viewed ? SocketMessages.Target(SocketMessages.Viewing, Now, viewed) : SocketMessages.Control(SocketMessages.Viewing, Now),
                SocketMessages.Viewing);
        }
    }

    /// <summary>
    /// Sends the subscription's events after <paramref name="from"/> that the log holds, then the live ones that arrived
    /// meanwhile. The feed has started by then (the socket waited for it), so what the replay reads — every event settled
    /// now — reaches at least to where the live events begin: no gap between them.
    /// </summary>
    private async Task ReplayAsync(Subscription subscription, EventPosition from, CancellationToken cancellationToken)
    {
        var target = subscription.Target;
        var position = from;
        var pageSize = Math.Min(ReplayPageSize, Math.Max(1, options.MaxQueuedMessages / 2));
        while (true)
        {
            await RoomForAsync(pageSize, cancellationToken);
            var page = await EventLog.ReadOfAsync(dataSource, position,
                target.Kind == SubscriptionKind.Project ? target.Id : null,
                target.Kind == SubscriptionKind.Task ? target.Id : null,
                target.Kind == SubscriptionKind.Batch ? target.Id : null,
                pageSize, cancellationToken);
            lock (gate)
            {
                if (closing is not null || !subscriptions.TryGetValue(target, out var current) || current != subscription)
                    return;
                foreach (var logged in page.Events.Where(logged => logged.ProjectId == subscription.ProjectId))
                    EnqueueLocked(SocketMessages.Event(logged), logged.Type, logged);
                if (page.Events.Count > 0)
                    position = page.Events[^1].Position;
                if (page.Events.Count == pageSize)
                    continue;
                subscription.ReplayedUpTo = position;
                foreach (var logged in subscription.Pending!.Where(logged => Compare(logged.Position, position) > 0))
                    EnqueueLocked(SocketMessages.Event(logged), logged.Type, logged, live: true);
                subscription.Pending = null;
                return;
            }
        }
    }

    /// <summary>A replay reads the log only as fast as the client takes it: it waits until its queue has room for a page.</summary>
    private async Task RoomForAsync(int messages, CancellationToken cancellationToken)
    {
        while (true)
        {
            var next = drained.Next;
            replayWaiting = true;
            lock (gate)
            {
                if (closing is not null || queue.Count + messages <= options.MaxQueuedMessages && queuedBytes * 2 <= options.MaxQueuedBytes)
                {
                    replayWaiting = false;
                    return;
                }
            }
            await WakeSignal.WaitAsync(next, TimeSpan.FromSeconds(1), cancellationToken);
        }
    }

    /// <summary>After <see cref="RunAsync"/> has ended (closing is set, so nothing signals the writer any more).</summary>
    public void Dispose() => queued.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "A WebSocket's access could not be rechecked, closing it: {reason}")]
    private static partial void LogRecheckFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A WebSocket that lost access to a project could not stop viewing its task: {reason}")]
    private static partial void LogLeaveViewFailed(ILogger logger, string reason);
}

/// <summary>The messages of one feed batch, each written once, when the first socket needs it.</summary>
public sealed class EventMessages(IReadOnlyList<LoggedEvent> batch)
{
    private readonly byte[]?[] messages = new byte[batch.Count][];

    public byte[] At(int index) => messages[index] ??= SocketMessages.Event(batch[index]);
}
