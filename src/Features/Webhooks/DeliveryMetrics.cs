using System.Diagnostics.Metrics;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// Delivery instruments. Tagged by destination host (operators configure a handful of receivers; a per-host view is what
/// finds the slow one) and by outcome: <c>delivered</c>, <c>retry</c>, <c>dead</c>, <c>gone</c> (410), <c>rejected</c>
/// (destination refused by policy), <c>circuit_open</c> (not sent, the host's circuit is open), <c>disabled</c>.
/// </summary>
public sealed class DeliveryMetrics
{
    private readonly Counter<long> attempts;
    private readonly Counter<long> dead;
    private readonly Histogram<double> duration;
    private readonly UpDownCounter<long> inFlight;
    private readonly Counter<long> circuitsOpened;
    private readonly Counter<long> completedSynchronously;
    private long openCircuits;

    public DeliveryMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(Telemetry.ServiceName);
        attempts = meter.CreateCounter<long>("taskrunner.webhooks.attempts", "{attempt}", "Delivery attempts, by host and outcome");
        dead = meter.CreateCounter<long>("taskrunner.webhooks.dead", "{delivery}", "Deliveries parked as dead (last attempt failed, 410, refused or disabled)");
        duration = meter.CreateHistogram<double>("taskrunner.webhooks.duration", "s", "Time of one delivery attempt, by host",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        inFlight = meter.CreateUpDownCounter<long>("taskrunner.webhooks.in_flight", "{delivery}", "Deliveries this node is sending now");
        circuitsOpened = meter.CreateCounter<long>("taskrunner.webhooks.circuit_opened", "{event}", "Times a destination's circuit opened");
        meter.CreateObservableGauge("taskrunner.webhooks.circuits_open", () => Interlocked.Read(ref openCircuits), "{circuit}",
            "Destination circuits open on this node (deliveries to them wait)");
        completedSynchronously = meter.CreateCounter<long>("taskrunner.webhooks.completed_synchronously", "{task}",
            "Tasks completed by their start webhook's answer, by result (ok, conflict)");
    }

    public void Attempted(string host, string outcome, TimeSpan elapsed)
    {
        var hostTag = new KeyValuePair<string, object?>("host", host);
        attempts.Add(1, hostTag, new KeyValuePair<string, object?>("outcome", outcome));
        if (outcome is not ("circuit_open" or "disabled"))
            duration.Record(elapsed.TotalSeconds, hostTag);
    }

    public void Dead(string host) => dead.Add(1, new KeyValuePair<string, object?>("host", host));

    public void Started() => inFlight.Add(1);

    public void Ended() => inFlight.Add(-1);

    public void CircuitOpened()
    {
        circuitsOpened.Add(1);
        Interlocked.Increment(ref openCircuits);
    }

    public void CircuitHalfOpened() => Interlocked.Decrement(ref openCircuits);

    public void CompletedSynchronously(string result) =>
        completedSynchronously.Add(1, new KeyValuePair<string, object?>("result", result));
}
