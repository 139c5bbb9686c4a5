using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Features.Health;

public static class HealthEndpoints
{
    public const string ReadyTag = "ready";

    /// <summary>Checks whose details are for admins only (they may name internal hosts or errors): /health/detailed runs them.</summary>
    public const string DetailedTag = "detailed";

    public static IServiceCollection AddHealth(this IServiceCollection services)
    {
        services.AddSingleton<PoolStatistics>();
        services.AddSingleton<ReadinessDatabase>();
        services.AddSingleton(provider => new SchemaVersion(provider.GetRequiredService<ReadinessDatabase>().DataSource));
        services.AddHostedService<ReadinessWarmUp>();
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
            .WithSummary("Liveness")
            .WithDescription("Liveness: 200 while the process can answer at all; runs no checks");
        health.MapGet("/ready", GetReadiness)
            .WithName("GetReadiness")
            .WithSummary("Readiness")
            .WithDescription("Readiness: 200 when the database answers, the schema is current and the node is not draining; else 503 with Retry-After")
            .Produces<HealthReportResponse>(StatusCodes.Status503ServiceUnavailable);
        health.MapGet("/", GetHealth)
            .WithName("GetHealth")
            .WithSummary("Health checks")
            .WithDescription("Every check with its status and duration; 503 with Retry-After when one is unhealthy")
            .Produces<HealthReportResponse>(StatusCodes.Status503ServiceUnavailable);
        health.MapGet("/detailed", GetDetailedHealth)
            .RequireAuthorization(Infrastructure.Security.AuthSetup.AdminPolicy)
            .WithName("GetDetailedHealth")
            .WithSummary("Detailed health")
            .WithDescription("Admins: every check with status and latency, plus this node's connection-pool figures")
            .Produces<DetailedHealthResponse>(StatusCodes.Status503ServiceUnavailable)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        return endpoints;
    }

    public static async Task<Results<Ok<DetailedHealthResponse>, JsonHttpResult<DetailedHealthResponse>>> GetDetailedHealth(
        HealthCheckService checks, PoolStatistics pool, HttpContext http, CancellationToken cancellationToken)
    {
        var report = await checks.CheckHealthAsync(cancellationToken);
        var (idle, used, max) = pool.Read();
        var summary = HealthReportResponse.Describe(report);
        var body = new DetailedHealthResponse(summary.Status, summary.Version, summary.DurationMs, summary.Checks,
            new ConnectionPoolResponse(idle, used, max));
        http.Response.Headers.CacheControl = "no-store";
        if (report.Status == HealthStatus.Unhealthy)
            http.Response.Headers.RetryAfter = Infrastructure.Http.ProblemResponses.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return report.Status == HealthStatus.Unhealthy
            ? TypedResults.Json(body, Infrastructure.Http.AppJsonContext.Default.DetailedHealthResponse, statusCode: StatusCodes.Status503ServiceUnavailable)
            : TypedResults.Ok(body);
    }

    public static Ok<HealthReportResponse> GetLiveness() =>
        TypedResults.Ok(HealthReportResponse.Alive);

    public static async Task<Results<Ok<HealthReportResponse>, JsonHttpResult<HealthReportResponse>>> GetReadiness(
        HealthCheckService checks, HttpContext http, CancellationToken cancellationToken) =>
        HealthReportResponse.From(await checks.CheckHealthAsync(check => check.Tags.Contains(ReadyTag), cancellationToken), http);

    public static async Task<Results<Ok<HealthReportResponse>, JsonHttpResult<HealthReportResponse>>> GetHealth(
        HealthCheckService checks, HttpContext http, CancellationToken cancellationToken) =>
        HealthReportResponse.From(await checks.CheckHealthAsync(check => !check.Tags.Contains(DetailedTag), cancellationToken), http);
}
