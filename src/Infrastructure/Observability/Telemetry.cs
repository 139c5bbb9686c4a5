using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace TaskRunner.Infrastructure.Observability;

public static class Telemetry
{
    public const string ServiceName = "taskrunner";

    /// <summary>The meters exported on /metrics: the framework's own plus TaskRunner's.</summary>
    private static readonly string[] Meters =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics",
        "Microsoft.AspNetCore.RateLimiting",
        "System.Runtime",
        "System.Net.Http",
        "Npgsql",
        ServiceName,
    ];

    public static IServiceCollection AddTelemetry(this IServiceCollection services)
    {
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName, serviceVersion: ServiceVersion.Current))
            .WithMetrics(metrics => metrics.AddMeter(Meters).AddPrometheusExporter())
            // Listening to ASP.NET Core's activity source makes it honour an incoming W3C traceparent (parent-based
            // sampling), so trace_id in logs and problems joins the caller's trace.
            .WithTracing(tracing => tracing.AddSource("Microsoft.AspNetCore"));
        return services;
    }

    public static IEndpointRouteBuilder MapMetrics(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPrometheusScrapingEndpoint("/metrics").ExcludeFromDescription();
        return endpoints;
    }
}
