using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Authentication changes every node must see at once, published with NOTIFY inside the transaction that makes them (so
/// they are delivered only if it commits) and applied to each node's <see cref="CallerStateCache"/> by
/// <see cref="AuthChangeListener"/>.
/// </summary>
public static class AuthChanges
{
    public const string Channel = "taskrunner_auth";
    public const string SessionPrefix = "session:";
    public const string ApiKeyPrefix = "api_key:";
    public const string UserPrefix = "user:";

    private const string NotifySql = "SELECT pg_notify('taskrunner_auth', @change)";

    /// <summary>The channel is a constant identifier; LISTEN takes no parameters.</summary>
    public const string ListenSql = "LISTEN " + Channel;

    public static string Session(Guid sessionId) => SessionPrefix + sessionId;

    public static string ApiKey(string prefix) => ApiKeyPrefix + prefix;

    public static string User(Guid userId) => UserPrefix + userId;

    public static Task PublishAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string change, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(NotifySql, new { change, cancellationToken }, transaction);
}

/// <summary>Listens for <see cref="AuthChanges"/> on a dedicated connection; reconnects, and forgets the cache, after a failure.</summary>
public sealed partial class AuthChangeListener(
    IOptions<DatabaseOptions> database,
    CallerStateCache cache,
    ILogger<AuthChangeListener> logger) : BackgroundService
{
    /// <summary>Its own unpooled connection: a LISTEN holds a connection for the life of the process, which must not
    /// take a slot from the request pool.</summary>
    private string ListenConnectionString => new NpgsqlConnectionStringBuilder(database.Value.ConnectionString)
    {
        Pooling = false,
        KeepAlive = 30,
        Timeout = database.Value.ConnectionTimeoutSeconds,
        ApplicationName = "taskrunner-listener",
    }.ConnectionString;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(ListenConnectionString);
                await connection.OpenAsync(stoppingToken);
                connection.Notification += (_, notification) => cache.Apply(notification.Payload);
                await using (var listen = new NpgsqlCommand(AuthChanges.ListenSql, connection))
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                // Anything cached before LISTEN took effect may have missed a change.
                cache.Clear();
                while (!stoppingToken.IsCancellationRequested)
                    await connection.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException or InvalidOperationException)
            {
                cache.Clear();
                LogListenerFailed(logger, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Auth change listener lost its connection, retrying: {reason}")]
    private static partial void LogListenerFailed(ILogger logger, string reason);
}
