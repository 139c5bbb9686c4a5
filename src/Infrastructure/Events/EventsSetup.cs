namespace TaskRunner.Infrastructure.Events;

public static class EventsSetup
{
    /// <summary>The node's notification bus; registered before the features so it listens before they start waiting.</summary>
    public static IServiceCollection AddEvents(this IServiceCollection services)
    {
        services.AddSingleton<NotificationBus>();
        services.AddHostedService(provider => provider.GetRequiredService<NotificationBus>());
        return services;
    }
}
