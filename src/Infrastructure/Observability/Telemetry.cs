using System.Diagnostics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

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
            .WithMetrics(metrics => metrics.AddMeter(Meters).AddPrometheusExporter());
        ActivitySource.AddActivityListener(RequestActivities);
        return services;
    }

    /// <summary>
    /// Listening to ASP.NET Core's activity source makes it create a request activity that continues an incoming W3C
    /// traceparent, so trace_id in logs and problems joins the caller's trace. No spans are exported (no tracing backend
    /// is configured), so a plain listener does this without a tracer provider.
    /// </summary>
    private static readonly ActivityListener RequestActivities = new()
    {
        ShouldListenTo = static source => source.Name == "Microsoft.AspNetCore",
        Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
    };

    public static IEndpointRouteBuilder MapMetrics(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPrometheusScrapingEndpoint("/metrics").ExcludeFromDescription();
        return endpoints;
    }
}
