using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Webhooks;

/// <summary>The outcome label of a delivery attempt (see <see cref="DeliveryMetrics"/>).</summary>
public enum AttemptOutcome
{
    Delivered,
    Retry,
    Dead,
    Gone,
    Rejected,
    CircuitOpen,
    Disabled,
}

/// <summary>
/// Delivery instruments. Tagged by destination host (a per-host view is what finds the slow receiver; hosts come from
/// clients' actions, so the label is bounded by <see cref="MetricsOptions.MaxLabelValues"/>, later hosts reported as
/// <c>other</c>) and by outcome: <c>delivered</c>, <c>retry</c>, <c>dead</c>, <c>gone</c> (410), <c>rejected</c>
/// (destination refused by policy), <c>circuit_open</c> (not sent, the host's circuit is open), <c>disabled</c>.
/// Circuits are per authority (scheme, host and port), so their instruments are tagged by authority (bounded the same
/// way; the state series of a circuit goes when <see cref="DestinationCircuits"/> forgets it).
/// </summary>
public sealed class DeliveryMetrics
{
    private readonly Counter<long> attempts;
    private readonly Counter<long> dead;
    private readonly Histogram<double> duration;
    private readonly UpDownCounter<long> inFlight;
    private readonly Counter<long> circuitsOpened;
    private readonly ConcurrentDictionary<string, string> circuits = new(StringComparer.Ordinal);
    private readonly Counter<long> completedSynchronously;
    private readonly Counter<long> followUps;
    private readonly BoundedLabel hosts;
    private readonly BoundedLabel authorities;

    public const string CircuitClosed = "closed";
    public const string CircuitOpen = "open";
    public const string CircuitHalfOpen = "half_open";
    private static readonly string[] CircuitStates = [CircuitClosed, CircuitOpen, CircuitHalfOpen];

    public DeliveryMetrics(IMeterFactory meters, IOptions<MetricsOptions> options)
    {
        hosts = new BoundedLabel(options.Value.MaxLabelValues);
        authorities = new BoundedLabel(options.Value.MaxLabelValues);
        var meter = meters.Create(Telemetry.ServiceName);
        attempts = meter.CreateCounter<long>("taskrunner.webhooks.attempts", "{attempt}", "Delivery attempts, by host and outcome");
        dead = meter.CreateCounter<long>("taskrunner.webhooks.dead", "{delivery}", "Deliveries parked as dead (last attempt failed, 410, refused or disabled)");
        duration = meter.CreateHistogram<double>("taskrunner.webhooks.duration", "s", "Time of one delivery attempt, by host",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        inFlight = meter.CreateUpDownCounter<long>("taskrunner.webhooks.in_flight", "{delivery}", "Deliveries this node is sending now");
        circuitsOpened = meter.CreateCounter<long>("taskrunner.webhooks.circuit_opened", "{event}",
            "Times a destination's circuit opened, by authority");
        // One series per state, 1 for the state the circuit is in: a circuit that opened once keeps reporting when it closes.
        meter.CreateObservableGauge("taskrunner.webhooks.circuit_state", () => circuits.SelectMany(circuit => CircuitStates.Select(state =>
                new Measurement<long>(state == circuit.Value ? 1 : 0,
                    new KeyValuePair<string, object?>("authority", circuit.Key), new KeyValuePair<string, object?>("state", state)))),
            "{circuit}", "The state of each destination circuit that has left closed on this node (deliveries to an open one wait)");
        completedSynchronously = meter.CreateCounter<long>("taskrunner.webhooks.completed_synchronously", "{task}",
            "Tasks completed by their start webhook's answer, by result (ok, conflict)");
        followUps = meter.CreateCounter<long>("taskrunner.webhooks.follow_ups", "{delivery}",
            "Follow-up deliveries written because a delivery's end matched their condition");
    }

    /// <summary>An attempt's outcome; the two that sent nothing have no duration to record.</summary>
    public void Attempted(string host, AttemptOutcome outcome, TimeSpan elapsed)
    {
        var hostTag = new KeyValuePair<string, object?>("host", hosts.Of(host));
        attempts.Add(1, hostTag, new KeyValuePair<string, object?>("outcome", Label(outcome)));
        if (outcome is not (AttemptOutcome.CircuitOpen or AttemptOutcome.Disabled))
            duration.Record(elapsed.TotalSeconds, hostTag);
    }

    private static string Label(AttemptOutcome outcome) => outcome switch
    {
        AttemptOutcome.Delivered => "delivered",
        AttemptOutcome.Retry => "retry",
        AttemptOutcome.Dead => "dead",
        AttemptOutcome.Gone => "gone",
        AttemptOutcome.Rejected => "rejected",
        AttemptOutcome.CircuitOpen => "circuit_open",
        _ => "disabled",
    };

    public void Dead(string host) => dead.Add(1, new KeyValuePair<string, object?>("host", hosts.Of(host)));

    public void Started() => inFlight.Add(1);

    public void Ended() => inFlight.Add(-1);

    public void CircuitChanged(string authority, string state)
    {
        var label = authorities.Of(authority);
        // One state series per known authority; the circuits counted as other have no single state to show.
        if (label != BoundedLabel.Other)
            circuits[authority] = state;
        if (state == CircuitOpen)
            circuitsOpened.Add(1, new KeyValuePair<string, object?>("authority", label));
    }

    public void CircuitForgotten(string authority) => circuits.TryRemove(authority, out _);

    public void FollowUpsWritten(int count) => followUps.Add(count);

    public void CompletedSynchronously(string result) =>
        completedSynchronously.Add(1, new KeyValuePair<string, object?>("result", result));
}
