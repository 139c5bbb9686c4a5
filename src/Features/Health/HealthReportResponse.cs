using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Health;

/// <summary>The body of every health endpoint.</summary>
public sealed record HealthReportResponse(
    string Status,
    string Version,
    double DurationMs,
    IReadOnlyDictionary<string, HealthCheckResponse> Checks)
{
    public static HealthReportResponse Alive { get; } =
        new("healthy", ServiceVersion.Current, 0, new Dictionary<string, HealthCheckResponse>());

    /// <summary>200 when nothing is unhealthy; otherwise 503 with Retry-After, the same body saying which check failed.</summary>
    public static Results<Ok<HealthReportResponse>, JsonHttpResult<HealthReportResponse>> From(HealthReport report, HttpContext http)
    {
        var body = Describe(report);
        http.Response.Headers.CacheControl = "no-store";
        if (report.Status != HealthStatus.Unhealthy)
            return TypedResults.Ok(body);
        http.Response.Headers.RetryAfter = ProblemResponses.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return TypedResults.Json(body, AppJsonContext.Default.HealthReportResponse, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    public static HealthReportResponse Describe(HealthReport report) =>
        new(
            Describe(report.Status),
            ServiceVersion.Current,
            Math.Round(report.TotalDuration.TotalMilliseconds, 2),
            report.Entries.ToDictionary(
                entry => entry.Key,
                entry => new HealthCheckResponse(
                    Describe(entry.Value.Status),
                    Math.Round(entry.Value.Duration.TotalMilliseconds, 2),
                    entry.Value.Description)));

    private static string Describe(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "unhealthy",
    };
}

public sealed record HealthCheckResponse(string Status, double DurationMs, string? Description);

/// <summary>The admin view: the summary plus this node's connection pool.</summary>
public sealed record DetailedHealthResponse(
    string Status,
    string Version,
    double DurationMs,
    IReadOnlyDictionary<string, HealthCheckResponse> Checks,
    ConnectionPoolResponse ConnectionPool);

public sealed record ConnectionPoolResponse(long Idle, long Used, long Max);
