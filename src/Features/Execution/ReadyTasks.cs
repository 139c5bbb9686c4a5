using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Features.Execution;

/// <summary>
/// Wakes long-polling claimers on this node when tasks become ready anywhere. One LISTEN connection per node on the
/// channel that the tasks table's triggers notify (migration 6: creation, completion releasing children, resume, retry;
/// migration 11: a task of a concurrency key ending, which frees a slot);
/// every notification completes the current wake-up and installs the next, so waiters never spin.
/// </summary>
public sealed class ReadyTasks : BackgroundService
{
    private readonly IOptions<DatabaseOptions> database;
    private readonly BackgroundFailures failures;
    private readonly ShutdownState shutdown;

    /// <summary>A constant identifier (LISTEN takes no parameters); the triggers' pg_notify names the same channel.</summary>
    private const string ListenSql = "LISTEN taskrunner_ready";

    private TaskCompletionSource wake = NewWake();
    private volatile bool stopping;

    public ReadyTasks(IOptions<DatabaseOptions> database, BackgroundFailures failures, ShutdownState shutdown)
    {
        this.database = database;
        this.failures = failures;
        this.shutdown = shutdown;
        // Long polls end as the drain begins, answering what they have (an empty claim), so they never hold the shutdown.
        shutdown.DrainStarted.Register(WakeAll);
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
    public Task NextWake() => Volatile.Read(ref wake).Task;

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void WakeAll() => Interlocked.Exchange(ref wake, NewWake()).TrySetResult();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var onStop = stoppingToken.Register(() =>
        {
            // Long polls end at once on shutdown (without a drain), answering an empty claim, instead of holding it for 30 s.
            stopping = true;
            WakeAll();
        });
        // Tasks that became ready while we were not listening: let waiters look again. While the listener is down,
        // waiters still end at their deadline; they only lose the early wake-up until it is back.
        await NotificationListener.RunAsync(database.Value, "taskrunner-ready-listener", ListenSql, _ => WakeAll(), WakeAll,
            failures.For("ready-listener"), stoppingToken);
    }
}
