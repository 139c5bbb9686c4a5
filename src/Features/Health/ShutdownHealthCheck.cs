using Microsoft.Extensions.Diagnostics.HealthChecks;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Features.Health;

/// <summary>Unhealthy from the moment shutdown begins, so load balancers stop routing here during the drain delay.</summary>
public sealed class ShutdownHealthCheck(ShutdownState shutdown) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken) =>
        Task.FromResult(shutdown.IsDraining ? HealthCheckResult.Unhealthy("draining for shutdown") : HealthCheckResult.Healthy());
}
