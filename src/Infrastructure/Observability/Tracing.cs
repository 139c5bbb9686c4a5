using System.Diagnostics;

namespace TaskRunner.Infrastructure.Observability;

/// <summary>
/// TaskRunner's own spans (the engine's steps) and the W3C <c>traceparent</c> a task keeps of the request that created
/// it. A span is only created while tracing is on (a listener samples this source); otherwise every call here costs a
/// null check.
/// </summary>
public static class Tracing
{
    public static readonly ActivitySource Source = new(Telemetry.ServiceName, ServiceVersion.Current);

    /// <summary>The current span's traceparent (<c>00-trace-span-flags</c>), stored with the tasks a request creates.</summary>
    public static string? CurrentTraceparent =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C, Id: { } id } ? id : null;

    /// <summary>A span in the current trace (or a new one) linked to the traces of the tasks it acts on.</summary>
    public static Activity? StartLinked(string name, IEnumerable<string?> traceparents, ActivityKind kind = ActivityKind.Internal)
    {
        if (!Source.HasListeners())
            return null;
        return Source.StartActivity(name, kind, parentContext: default, links: Links(traceparents));
    }

    /// <summary>A span continuing a task's trace: work done for the task outside any request (its webhook sends).</summary>
    public static Activity? StartInTaskTrace(string name, string? traceparent, ActivityKind kind = ActivityKind.Internal) =>
        Source.HasListeners() && ActivityContext.TryParse(traceparent, null, out var parent)
            ? Source.StartActivity(name, kind, parent)
            : Source.StartActivity(name, kind);

    /// <summary>Adds links to the traces of tasks learned after the span started (claimed or dispatched tasks).</summary>
    public static void Link(this Activity? activity, IEnumerable<string?> traceparents)
    {
        if (activity is null)
            return;
        foreach (var link in Links(traceparents))
            activity.AddLink(link);
    }

    private static List<ActivityLink> Links(IEnumerable<string?> traceparents)
    {
        var links = new List<ActivityLink>();
        foreach (var traceparent in traceparents.Distinct(StringComparer.Ordinal))
            if (ActivityContext.TryParse(traceparent, null, out var context))
                links.Add(new ActivityLink(context));
        return links;
    }
}
