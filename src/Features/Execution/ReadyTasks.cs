using TaskRunner.Infrastructure.Events;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Features.Execution;

/// <summary>
/// Wakes long-polling claimers and the dispatcher on this node when tasks become ready anywhere: the node's
/// <see cref="NotificationBus"/> delivers the channel that the tasks table's triggers notify (migration 6: creation,
/// completion releasing children, resume, retry; migration 11: a task of a concurrency key ending, which frees a slot).
/// Tasks that became ready while the bus was not listening wake waiters too, so they look again; while it is down,
/// waiters still end at their deadline and only lose the early wake-up.
/// </summary>
public sealed class ReadyTasks : IHostedService, IDisposable
{
    private readonly WakeSignal wake = new();
    private readonly ShutdownState shutdown;
    private readonly IDisposable subscription;
    private readonly CancellationTokenRegistration onDrain;
    private volatile bool stopping;

    public ReadyTasks(NotificationBus bus, ShutdownState shutdown)
    {
        this.shutdown = shutdown;
        subscription = bus.Subscribe(Channels.Ready, _ => wake.Wake(), wake.Wake);
        // Long polls end as the drain begins, answering what they have (an empty claim), so they never hold the shutdown.
        onDrain = shutdown.DrainStarted.Register(wake.Wake);
    }

    /// <summary>
    /// The node is draining or stopping: long polls answer after their next look instead of waiting. (The wake-up itself
    /// stays a one-shot, so the dispatcher, which also waits on it, does not spin through the drain.)
    /// </summary>
    public bool IsClosing => stopping || shutdown.IsDraining;

    /// <summary>
    /// Completes at the next notification (or when the drain begins, or at shutdown). Take it <em>before</em> looking for
    /// work, so a notification that arrives between the look and the wait is not missed.
    /// </summary>
    public Task NextWake() => wake.Next;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Long polls end at once on shutdown (without a drain), answering an empty claim, instead of holding it for 30 s.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        stopping = true;
        wake.Wake();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        onDrain.Dispose();
        subscription.Dispose();
    }
}
