using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TaskRunner.Features.Health;

public static class HealthEndpoints
{
    public const string ReadyTag = "ready";

    public static IServiceCollection AddHealth(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: [ReadyTag])
            .AddCheck<ShutdownHealthCheck>("shutdown", tags: [ReadyTag]);
        return services;
    }

    /// <summary>Probes at the root: live (the process answers), ready (it can serve: database, schema, not draining), summary.</summary>
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder endpoints)
    {
        var health = endpoints.MapGroup("/health")
            .WithTags("Operations")
            .ProducesProblem(StatusCodes.Status500InternalServerError);
        health.MapGet("/live", GetLiveness)
            .WithName("GetLiveness")
            .WithSummary("Liveness: 200 while the process can answer at all; runs no checks");
        health.MapGet("/ready", GetReadiness)
            .WithName("GetReadiness")
            .WithSummary("Readiness: 200 when the database answers, the schema is current and the node is not draining; else 503 with Retry-After")
            .Produces<HealthReportResponse>(StatusCodes.Status503ServiceUnavailable);
        health.MapGet("/", GetHealth)
            .WithName("GetHealth")
            .WithSummary("Every check with its status and duration; 503 with Retry-After when one is unhealthy")
            .Produces<HealthReportResponse>(StatusCodes.Status503ServiceUnavailable);
        return endpoints;
    }

    public static Ok<HealthReportResponse> GetLiveness() =>
        TypedResults.Ok(HealthReportResponse.Alive);

    public static async Task<Results<Ok<HealthReportResponse>, JsonHttpResult<HealthReportResponse>>> GetReadiness(
        HealthCheckService checks, HttpContext http, CancellationToken cancellationToken) =>
        HealthReportResponse.From(await checks.CheckHealthAsync(check => check.Tags.Contains(ReadyTag), cancellationToken), http);

    public static async Task<Results<Ok<HealthReportResponse>, JsonHttpResult<HealthReportResponse>>> GetHealth(
        HealthCheckService checks, HttpContext http, CancellationToken cancellationToken) =>
        HealthReportResponse.From(await checks.CheckHealthAsync(cancellationToken), http);
}
