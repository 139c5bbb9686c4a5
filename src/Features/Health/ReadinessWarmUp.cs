using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Features.Health;

/// <summary>
/// Opens readiness's own connection and confirms the schema version while Kestrel starts, so that the first probe after
/// a start finds both done and costs one <c>SELECT 1</c>: the probe is what a start is timed by (spawn → ready).
/// A failure is ignored: the probe checks again and reports it.
/// </summary>
public sealed class ReadinessWarmUp(SchemaVersion schema) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        DatabaseWarmUp.InBackground(() => schema.CheckAsync(CancellationToken.None));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
