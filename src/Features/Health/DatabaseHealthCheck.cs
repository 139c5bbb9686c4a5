using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Features.Health;

/// <summary>
/// Ready only when PostgreSQL answers within a short timeout and its schema is the version this build expects. Asked
/// through <see cref="ReadinessDatabase"/>, not the request pool.
/// </summary>
public sealed class DatabaseHealthCheck(ReadinessDatabase readiness, SchemaVersion schema) : IHealthCheck
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(ReadinessDatabase.TimeoutSeconds);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            if (await schema.CheckAsync(timeout.Token) is { } problem)
                return HealthCheckResult.Unhealthy(problem);
            await using var command = readiness.DataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(timeout.Token);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is OperationCanceledException || PgErrors.IsUnavailable(e) || e is NpgsqlException)
        {
            return HealthCheckResult.Unhealthy(
                e is OperationCanceledException ? "database did not answer in time" : "database unreachable");
        }
    }
}
