using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Infrastructure.Database;

/// <summary>
/// A LISTEN for the life of the process, on its own unpooled connection (it must not hold a slot of the request pool):
/// reconnects through the loop's guard (logged, counted, backed off) whenever the connection fails, until shutdown.
/// </summary>
public static class NotificationListener
{
    /// <param name="listenSql">The LISTEN statement; channels are constant identifiers (LISTEN takes no parameters).</param>
    /// <param name="onNotification">Called with each notification's payload.</param>
    /// <param name="onListening">Called each time the LISTEN took effect: whatever happened while not listening may have been missed.</param>
    /// <param name="onFailure">Called when the connection failed, before the backoff.</param>
    public static async Task RunAsync(
        DatabaseOptions database, string applicationName, string listenSql, Action<string> onNotification, Action onListening,
        LoopGuard guard, CancellationToken stoppingToken, Action<Exception>? onFailure = null)
    {
        var connectionString = new NpgsqlConnectionStringBuilder(database.ConnectionString)
        {
            Pooling = false,
            KeepAlive = 30,
            Timeout = database.ConnectionTimeoutSeconds,
            ApplicationName = applicationName,
        }.ConnectionString;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
                await guard.RunAsync(async cancellationToken =>
                {
                    await using var connection = new NpgsqlConnection(connectionString);
                    await connection.OpenAsync(cancellationToken);
                    connection.Notification += (_, notification) => onNotification(notification.Payload);
                    await using (var listen = new NpgsqlCommand(listenSql, connection))
                        await listen.ExecuteNonQueryAsync(cancellationToken);
                    guard.Succeeded();
                    onListening();
                    while (!cancellationToken.IsCancellationRequested)
                        await connection.WaitAsync(cancellationToken);
                }, stoppingToken, onFailure);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
