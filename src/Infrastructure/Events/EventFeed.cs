using Npgsql;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Infrastructure.Events;

/// <summary>
/// The node's reader of the event log: every settled event, once and in log order, to the in-process subscribers (the
/// real-time clients of this node), wherever it was written. It starts at the log's current position and reads it every
/// <see cref="Poll"/>, so an event reaches the subscribers within about that long of settling (of committing, unless an
/// older transaction is still open). The log's writers send no NOTIFY (migration 35): a NOTIFY takes one cluster-wide lock
/// at commit and holds it through the commit's WAL flush, which made every writing transaction wait for the one before it.
/// With no subscriber it reads nothing, so a node without real-time clients pays nothing.
/// </summary>
public sealed class EventFeed(NpgsqlDataSource dataSource, BackgroundFailures failures) : BackgroundService
{
    private const int BatchSize = 1000;

    /// <summary>One indexed read of an empty range when nothing happened: 50 a second on a node with real-time clients.</summary>
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);

    private readonly WakeSignal wake = new();
    private readonly Lock gate = new();

    // Copied on write: the loop reads it without a lock.
    private Action<IReadOnlyList<LoggedEvent>>[] subscribers = [];

    private TaskCompletionSource<EventPosition> started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// The position the feed reads from, once it has one: every event after it reaches the subscribers, none before it.
    /// A reader of older events (a resuming client) that reads the log up to what is settled after this completed leaves
    /// no gap before the feed's first batch.
    /// </summary>
    public Task<EventPosition> Started => Volatile.Read(ref started).Task;

    /// <summary>
    /// Calls <paramref name="onEvents"/> with each batch of events read, in log order, on the feed's loop (so it must be
    /// quick and must not throw). Dispose the result to stop.
    /// </summary>
    public IDisposable Subscribe(Action<IReadOnlyList<LoggedEvent>> onEvents)
    {
        lock (gate)
            subscribers = [.. subscribers, onEvents];
        wake.Wake();
        return new Unsubscriber(this, onEvents);
    }

    private sealed class Unsubscriber(EventFeed feed, Action<IReadOnlyList<LoggedEvent>> onEvents) : IDisposable
    {
        public void Dispose()
        {
            lock (feed.gate)
                feed.subscribers = [.. feed.subscribers.Where(existing => existing != onEvents)];
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var guard = failures.For("event-feed");
        EventPosition? position = null;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                // Taken before reading, so a subscriber that arrives while we read wakes the wait below.
                var next = wake.Next;
                var delay = Poll;
                if (!await guard.RunAsync(async cancellationToken =>
                    {
                        // Nobody to deliver to: no reads (a node without real-time clients pays nothing), and the next
                        // subscriber starts from the log's position at that time.
                        if (Volatile.Read(ref subscribers).Length == 0)
                        {
                            if (position is not null)
                                Volatile.Write(ref started, new TaskCompletionSource<EventPosition>(TaskCreationOptions.RunContinuationsAsynchronously));
                            position = null;
                            delay = Timeout.InfiniteTimeSpan;
                            return;
                        }
                        if (position is null)
                        {
                            position = await EventLog.CurrentPositionAsync(dataSource, cancellationToken);
                            Volatile.Read(ref started).TrySetResult(position.Value);
                        }
                        var batch = await EventLog.ReadAsync(dataSource, position.Value, BatchSize, cancellationToken);
                        if (batch.Events.Count > 0)
                        {
                            position = batch.Events[^1].Position;
                            foreach (var subscriber in Volatile.Read(ref subscribers))
                                subscriber(batch.Events);
                        }
                        if (batch.Events.Count == BatchSize)
                            delay = TimeSpan.Zero;
                    }, stoppingToken))
                    continue;
                if (delay != TimeSpan.Zero)
                    await WakeSignal.WaitAsync(next, delay, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
