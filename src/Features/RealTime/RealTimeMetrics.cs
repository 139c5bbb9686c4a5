using System.Diagnostics.Metrics;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.RealTime;

/// <summary>
/// The WebSocket endpoint's instruments. Message types are the server's own vocabulary (event types and its control
/// messages), so the label is bounded by the code, not by clients.
/// </summary>
public sealed class RealTimeMetrics
{
    private readonly UpDownCounter<long> open;
    private readonly Counter<long> sent;
    private readonly Counter<long> closed;
    private readonly Histogram<double> lag;

    private static readonly InstrumentAdvice<double> SecondsBuckets = new()
    {
        HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    };

    public RealTimeMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(Telemetry.ServiceName);
        open = meter.CreateUpDownCounter<long>("taskrunner.realtime.sockets", "{socket}", "WebSockets open on this node");
        sent = meter.CreateCounter<long>("taskrunner.realtime.messages.sent", "{message}", "Messages sent to WebSocket clients, by type");
        closed = meter.CreateCounter<long>("taskrunner.realtime.sockets.dropped", "{socket}",
            "Sockets the server closed on a client, by reason (overflow: too slow to read its events; rate_limited; "
            + "message_too_big; revoked: its credential or user ended; shutdown)");
        lag = meter.CreateHistogram<double>("taskrunner.realtime.event_lag", "s",
            "From the change's transaction to its event being written to a socket (live events; replays of a resume are not counted)", tags: null, advice: SecondsBuckets);
    }

    public void Opened() => open.Add(1);

    public void Closed() => open.Add(-1);

    public void Sent(string type) => sent.Add(1, new KeyValuePair<string, object?>("type", type));

    public void EventSent(DateTime at, DateTime now) => lag.Record(Math.Max(0, (now - at).TotalSeconds));

    public void Dropped(string reason) => closed.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
