using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Features.Execution;

/// <summary>
/// Wakes long-polling claimers on this node when tasks become ready anywhere. One LISTEN connection per node on the
/// channel that the tasks table's triggers notify (migration 6: creation, completion releasing children, resume, retry;
/// migration 11: a task of a concurrency key ending, which frees a slot);
/// every notification completes the current wake-up and installs the next, so waiters never spin.
/// </summary>
public sealed partial class ReadyTasks(IOptions<DatabaseOptions> database, ILogger<ReadyTasks> logger) : BackgroundService
{
    /// <summary>A constant identifier (LISTEN takes no parameters); the triggers' pg_notify names the same channel.</summary>
    private const string ListenSql = "LISTEN taskrunner_ready";

    private TaskCompletionSource wake = NewWake();
    private volatile bool stopping;

    /// <summary>
    /// Completes at the next notification (or at shutdown). Take it <em>before</em> looking for work, so a notification
    /// that arrives between the look and the wait is not missed.
    /// </summary>
    public Task NextWake() => stopping ? Task.CompletedTask : Volatile.Read(ref wake).Task;

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void WakeAll() => Interlocked.Exchange(ref wake, NewWake()).TrySetResult();

    /// <summary>Its own unpooled connection: a LISTEN holds it for the life of the process, outside the request pool.</summary>
    private string ListenConnectionString => new NpgsqlConnectionStringBuilder(database.Value.ConnectionString)
    {
        Pooling = false,
        KeepAlive = 30,
        Timeout = database.Value.ConnectionTimeoutSeconds,
        ApplicationName = "taskrunner-ready-listener",
    }.ConnectionString;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var onStop = stoppingToken.Register(() =>
        {
            // Long polls end at once on shutdown, answering an empty claim, instead of holding the drain for 30 s.
            stopping = true;
            WakeAll();
        });
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(ListenConnectionString);
                await connection.OpenAsync(stoppingToken);
                connection.Notification += (_, _) => WakeAll();
                await using (var listen = new NpgsqlCommand(ListenSql, connection))
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                // Tasks that became ready while we were not listening: let waiters look again.
                WakeAll();
                while (!stoppingToken.IsCancellationRequested)
                    await connection.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException or InvalidOperationException)
            {
                // Waiters still end at their deadline; they only lose the early wake-up until we are back.
                LogListenerFailed(logger, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ready-task listener lost its connection, retrying: {reason}")]
    private static partial void LogListenerFailed(ILogger logger, string reason);
}
