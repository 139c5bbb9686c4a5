using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Events;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Authentication changes every node must see at once, published with NOTIFY inside the transaction that makes them (so
/// they are delivered only if it commits) and applied to each node's <see cref="CallerStateCache"/> by
/// <see cref="AuthChangeListener"/>.
/// </summary>
public static class AuthChanges
{
    public const string SessionPrefix = "session:";
    public const string ApiKeyPrefix = "api_key:";
    public const string UserPrefix = "user:";

    private const string NotifySql = "SELECT pg_notify('" + Channels.Auth + "', @change)";

    public static string Session(Guid sessionId) => SessionPrefix + sessionId;

    public static string ApiKey(string prefix) => ApiKeyPrefix + prefix;

    public static string User(Guid userId) => UserPrefix + userId;

    public static Task PublishAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string change, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(NotifySql, new { change, cancellationToken }, transaction);
}

/// <summary>
/// Applies <see cref="AuthChanges"/> from the node's <see cref="NotificationBus"/> to the cache; forgets the whole cache
/// whenever a change may have been missed (anything cached while the bus was not listening may be stale).
/// </summary>
public sealed class AuthChangeListener(NotificationBus bus, CallerStateCache cache) : IHostedService, IDisposable
{
    private IDisposable? subscription;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        subscription = bus.Subscribe(Channels.Auth, cache.Apply, cache.Clear);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => subscription?.Dispose();
}
