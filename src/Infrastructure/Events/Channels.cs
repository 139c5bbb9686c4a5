namespace TaskRunner.Infrastructure.Events;

/// <summary>
/// Every NOTIFY channel of the service. The node's one listening connection (<see cref="NotificationBus"/>) listens on
/// all of them; channels are constant identifiers because LISTEN takes no parameters.
/// </summary>
public static class Channels
{
    /// <summary>Tasks became ready (the tasks table's triggers, migrations 6 and 11); wakes claimers and the dispatcher.</summary>
    public const string Ready = "taskrunner_ready";

    /// <summary>Webhook deliveries were written to the outbox; wakes delivery workers.</summary>
    public const string Outbox = "taskrunner_outbox";

    /// <summary>A session, API key or user changed (<see cref="Security.AuthChanges"/>); drops cached caller state.</summary>
    public const string Auth = "taskrunner_auth";

    /// <summary>A schedule was created or changed; wakes the leader's scheduler wherever the change happened.</summary>
    public const string Schedules = "taskrunner_schedules";

    public static readonly IReadOnlyList<string> All = [Ready, Outbox, Auth, Schedules];
}
