using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// A circuit breaker per destination authority (scheme, host and port): a receiver that keeps failing is left alone for a
/// while instead of tying up delivery slots. A circuit opens when at least half of the attempts of the last 30 s failed
/// (and there were at least 10), stays open <see cref="WebhooksOptions.BreakSeconds"/>, then lets one trial through
/// (half-open): its success closes the circuit, its failure opens it again. A circuit without a delivery for
/// <see cref="MetricsOptions.IdleDestinationMinutes"/> is forgotten, with its state series, so a stream of one-off
/// destinations cannot grow the node's memory or /metrics.
/// </summary>
public sealed class DestinationCircuits(
    IOptions<WebhooksOptions> options, IOptions<MetricsOptions> metricsOptions, DeliveryMetrics metrics, TimeProvider clock)
{
    private const double FailureRatio = 0.5;
    private const int MinimumThroughput = 10;
    private static readonly TimeSpan SamplingDuration = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, Circuit> circuits = new(StringComparer.Ordinal);
    private readonly Lock sweepGate = new();
    private DateTimeOffset nextSweep = DateTimeOffset.MinValue;

    private enum State
    {
        Closed,
        Open,
        HalfOpen,
    }

    private sealed class Circuit
    {
        public State State;
        public DateTimeOffset OpenUntil;
        public bool TrialInFlight;
        public DateTimeOffset LastUsed;
        public readonly Queue<(DateTimeOffset At, bool Failed)> Window = new();
    }

    /// <summary>How many destinations this node remembers a circuit for.</summary>
    public int Count => circuits.Count;

    /// <summary>Whether an attempt to <paramref name="authority"/> may go out now; false while its circuit is open.</summary>
    public bool TryEnter(string authority)
    {
        var now = clock.GetUtcNow();
        ForgetIdle(now);
        var circuit = circuits.GetOrAdd(authority, static _ => new Circuit());
        lock (circuit)
        {
            circuit.LastUsed = now;
            switch (circuit.State)
            {
                case State.Closed:
                    return true;
                case State.Open when now < circuit.OpenUntil:
                    return false;
                case State.Open:
                    circuit.State = State.HalfOpen;
                    circuit.TrialInFlight = true;
                    metrics.CircuitChanged(authority, DeliveryMetrics.CircuitHalfOpen);
                    return true;
                default:
                    // Half-open: one trial at a time.
                    if (circuit.TrialInFlight)
                        return false;
                    circuit.TrialInFlight = true;
                    return true;
            }
        }
    }

    /// <summary>The result of an attempt that <see cref="TryEnter"/> let through.</summary>
    public void Record(string authority, bool failed)
    {
        if (!circuits.TryGetValue(authority, out var circuit))
            return;
        var now = clock.GetUtcNow();
        lock (circuit)
        {
            circuit.LastUsed = now;
            if (circuit.State == State.HalfOpen)
            {
                circuit.TrialInFlight = false;
                if (failed)
                    Open(authority, circuit, now);
                else
                {
                    circuit.State = State.Closed;
                    circuit.Window.Clear();
                    metrics.CircuitChanged(authority, DeliveryMetrics.CircuitClosed);
                }
                return;
            }
            if (circuit.State == State.Open)
                return;
            circuit.Window.Enqueue((now, failed));
            while (circuit.Window.Peek().At < now - SamplingDuration)
                circuit.Window.Dequeue();
            var failures = circuit.Window.Count(sample => sample.Failed);
            if (circuit.Window.Count >= MinimumThroughput && failures >= FailureRatio * circuit.Window.Count)
                Open(authority, circuit, now);
        }
    }

    private void Open(string authority, Circuit circuit, DateTimeOffset now)
    {
        circuit.State = State.Open;
        circuit.OpenUntil = now + TimeSpan.FromSeconds(options.Value.BreakSeconds);
        circuit.Window.Clear();
        metrics.CircuitChanged(authority, DeliveryMetrics.CircuitOpen);
    }

    /// <summary>At most once a minute: drops circuits idle for longer than the configured time, and their state series.</summary>
    private void ForgetIdle(DateTimeOffset now)
    {
        lock (sweepGate)
        {
            if (now < nextSweep)
                return;
            nextSweep = now + TimeSpan.FromMinutes(1);
        }
        var idleSince = now - TimeSpan.FromMinutes(metricsOptions.Value.IdleDestinationMinutes);
        foreach (var (authority, circuit) in circuits)
        {
            lock (circuit)
            {
                if (circuit.LastUsed >= idleSince || circuit.TrialInFlight)
                    continue;
                circuits.TryRemove(new KeyValuePair<string, Circuit>(authority, circuit));
            }
            metrics.CircuitForgotten(authority);
        }
    }
}
