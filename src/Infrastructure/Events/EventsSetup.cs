using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Infrastructure.Events;

public static class EventsSetup
{
    /// <summary>
    /// The node's notification bus, registered before the features so it listens before they start waiting; the event
    /// log's reader and its retention.
    /// </summary>
    public static IServiceCollection AddEvents(this IServiceCollection services)
    {
        services.AddSingleton<NotificationBus>();
        services.AddHostedService(provider => provider.GetRequiredService<NotificationBus>());
        services.AddSingleton<EventFeed>();
        services.AddHostedService(provider => provider.GetRequiredService<EventFeed>());
        services.AddRetention<EventsOptions>(EventLog.Retention);
        return services;
    }
}
