using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Infrastructure.Events;

/// <summary>
/// The node's one LISTEN connection, for every channel in <see cref="Channels"/>, fanned out to in-process subscribers.
/// It is unpooled (it must not hold a slot of the request pool) and reconnects through the loop's guard (logged, counted,
/// backed off) whenever it fails, until shutdown. A notification is delivered only while the connection listens, so every
/// subscriber is told each time it may have missed some — when the connection fails and again when listening resumes —
/// and re-reads whatever it keeps (a cache forgets, a waiter looks again).
/// </summary>
public sealed class NotificationBus(IOptions<DatabaseOptions> database, BackgroundFailures failures) : BackgroundService
{
    /// <summary>The listening connection's application name in pg_stat_activity.</summary>
    public const string ApplicationName = "taskrunner-listener";

    private static readonly string ListenSql = string.Join("; ", Channels.All.Select(channel => "LISTEN " + channel));

    private sealed record Subscription(string Channel, Action<string> OnNotification, Action OnMissed);

    private readonly Lock gate = new();

    // Copied on write: notifications are read on the connection's thread without a lock.
    private Subscription[] subscriptions = [];

    /// <summary>
    /// Calls <paramref name="onNotification"/> with the payload of each notification on <paramref name="channel"/>, and
    /// <paramref name="onMissed"/> whenever some may have been missed (connection lost; listening again). Both run on the
    /// connection's reader, so they must be quick and must not throw. Dispose the result to stop.
    /// </summary>
    public IDisposable Subscribe(string channel, Action<string> onNotification, Action onMissed)
    {
        if (!Channels.All.Contains(channel))
            throw new ArgumentException($"'{channel}' is not one of the channels in {nameof(Channels)}.", nameof(channel));
        var subscription = new Subscription(channel, onNotification, onMissed);
        lock (gate)
            subscriptions = [.. subscriptions, subscription];
        return new Unsubscriber(this, subscription);
    }

    private sealed class Unsubscriber(NotificationBus bus, Subscription subscription) : IDisposable
    {
        public void Dispose()
        {
            lock (bus.gate)
                bus.subscriptions = [.. bus.subscriptions.Where(existing => existing != subscription)];
        }
    }

    private void Deliver(string channel, string payload)
    {
        foreach (var subscription in Volatile.Read(ref subscriptions))
            if (subscription.Channel == channel)
                subscription.OnNotification(payload);
    }

    private void Missed()
    {
        foreach (var subscription in Volatile.Read(ref subscriptions))
            subscription.OnMissed();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = database.Value;
        var connectionString = new NpgsqlConnectionStringBuilder(settings.ConnectionString)
        {
            Pooling = false,
            KeepAlive = 30,
            Timeout = settings.ConnectionTimeoutSeconds,
            ApplicationName = ApplicationName,
        }.ConnectionString;
        var guard = failures.For("listener");
        // Named, so the connection metrics label it by name rather than by its connection string.
        await using var source = new NpgsqlDataSourceBuilder(connectionString) { Name = ApplicationName }.Build();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
                await guard.RunAsync(async cancellationToken =>
                {
                    await using var connection = await source.OpenConnectionAsync(cancellationToken);
                    connection.Notification += (_, notification) => Deliver(notification.Channel, notification.Payload);
                    await using (var listen = new NpgsqlCommand(ListenSql, connection))
                        await listen.ExecuteNonQueryAsync(cancellationToken);
                    guard.Succeeded();
                    Missed();
                    while (!cancellationToken.IsCancellationRequested)
                        await connection.WaitAsync(cancellationToken);
                }, stoppingToken, _ => Missed());
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
