using System.Diagnostics;
using System.Diagnostics.Metrics;
using Npgsql;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using TaskRunner.Infrastructure.Configuration;

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

    private static readonly (string Instrument, string Name)[] Renamed =
    [
        ("db.client.connection.count", "db.client.connection.usage"),
        ("dotnet.assembly.count", "dotnet.assemblies.loaded"),
        ("dotnet.process.cpu.count", "dotnet.process.cpus"),
        ("dotnet.thread_pool.thread.count", "dotnet.thread_pool.threads"),
        ("dotnet.timer.count", "dotnet.timers"),
    ];

    public static IServiceCollection AddTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var tracing = configuration.GetSection(TracingOptions.Section).Get<TracingOptions>() ?? new TracingOptions();
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName, serviceVersion: ServiceVersion.Current))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(Meters);
                // Prometheus reserves the _count suffix for histograms and summaries (promtool check metrics): these gauges
                // are exported under names without it.
                foreach (var (instrument, name) in Renamed)
                    metrics.AddView(instrument, name);
                ((IDeferredMeterProviderBuilder)metrics).Configure(
                    (provider, builder) => builder.AddView(OnlyThisHost(provider.GetRequiredService<IMeterFactory>())));
                metrics.AddPrometheusExporter();
            });
        if (tracing.Enabled && Uri.TryCreate(tracing.OtlpEndpoint, UriKind.Absolute, out var endpoint))
            telemetry.WithTracing(traces => traces
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(tracing.SampleRatio)))
                .AddSource(Tracing.Source.Name)
                .AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.Filter = context => !IsOperational(context.Request.Path))
                .AddHttpClientInstrumentation()
                .AddNpgsql()
                .AddOtlpExporter(otlp =>
                {
                    otlp.Protocol = OtlpExportProtocol.HttpProtobuf;
                    otlp.Endpoint = new Uri(endpoint, endpoint.AbsolutePath.TrimEnd('/') + "/v1/traces");
                    otlp.BatchExportProcessorOptions.ScheduledDelayMilliseconds = tracing.ExportDelayMilliseconds;
                }));
        else
            ActivitySource.AddActivityListener(RequestActivities);
        return services;
    }

    /// <summary>
    /// Meters are matched by name across the whole process. With several hosts in one process (the in-process tests, a
    /// second node), each host would also aggregate the other hosts' instruments into its own series, and one host stopping
    /// would end those series for every host (open-telemetry/opentelemetry-dotnet#6412). A host exports the instruments of
    /// its own meter factory and of process-wide meters (made without a factory), and drops those of other hosts.
    /// </summary>
    private static Func<Instrument, MetricStreamConfiguration?> OnlyThisHost(IMeterFactory own) =>
        instrument => instrument.Meter.Scope is IMeterFactory factory && factory != own ? MetricStreamConfiguration.Drop : null;

    /// <summary>Probes and scrapes: neither traced nor logged at the default level, so they do not drown the rest.</summary>
    public static bool IsOperational(PathString path) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments("/metrics");

    /// <summary>
    /// With tracing off, listening to ASP.NET Core's activity source still makes it create a request activity that
    /// continues an incoming W3C traceparent, so trace_id in logs and problems (and the traceparent a task keeps) joins
    /// the caller's trace. Nothing is recorded or exported.
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
