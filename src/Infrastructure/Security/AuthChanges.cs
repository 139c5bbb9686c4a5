using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Hosting;

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
public sealed class AuthChangeListener(IOptions<DatabaseOptions> database, CallerStateCache cache, BackgroundFailures failures) : BackgroundService
{
    // Anything cached before LISTEN took effect, or while the connection was down, may have missed a change.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        NotificationListener.RunAsync(database.Value, "taskrunner-listener", AuthChanges.ListenSql, cache.Apply, cache.Clear,
            failures.For("auth-listener"), stoppingToken, _ => cache.Clear());
}
