using System.Diagnostics.Metrics;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Infrastructure.Hosting;

/// <summary>
/// What a SIGTERM interrupted: the API requests and webhook deliveries in flight at that moment (read off the framework's
/// <c>http.server.active_requests</c> and TaskRunner's <c>taskrunner.webhooks.in_flight</c> through a listener), and how
/// long the node has been draining since. The gauges appear once the drain begins, so the last scrapes of a stopping pod
/// show them; the shutdown log lines carry the same numbers.
/// </summary>
public sealed class ShutdownMetrics : IDisposable
{
    private const string ActiveRequests = "http.server.active_requests";
    private const string DeliveriesInFlight = "taskrunner.webhooks.in_flight";

    private readonly MeterListener listener = new();
    private long requests;
    private long deliveries;
    private InFlight? atSignal;

    public sealed record InFlight(long Requests, long Deliveries);

    public ShutdownMetrics(IMeterFactory meters, ShutdownState state)
    {
        listener.InstrumentPublished = static (instrument, listening) =>
        {
            if (instrument.Name is ActiveRequests or DeliveriesInFlight)
                listening.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == ActiveRequests)
                Interlocked.Add(ref requests, value);
            else
                Interlocked.Add(ref deliveries, value);
        });
        listener.Start();

        var meter = meters.Create(Telemetry.ServiceName);
        meter.CreateObservableGauge("taskrunner.shutdown.requests_in_flight",
            () => Volatile.Read(ref atSignal) is { } signal ? [new Measurement<long>(signal.Requests)] : Array.Empty<Measurement<long>>(),
            "{request}", "API requests in flight when SIGTERM arrived (reported once draining)");
        meter.CreateObservableGauge("taskrunner.shutdown.deliveries_in_flight",
            () => Volatile.Read(ref atSignal) is { } signal ? [new Measurement<long>(signal.Deliveries)] : Array.Empty<Measurement<long>>(),
            "{delivery}", "Webhook deliveries in flight when SIGTERM arrived (reported once draining)");
        meter.CreateObservableGauge("taskrunner.shutdown.drain.duration",
            () => state.IsDraining ? [new Measurement<double>(state.Elapsed.TotalSeconds)] : Array.Empty<Measurement<double>>(),
            "s", "Time since SIGTERM while the node drains");
    }

    /// <summary>Takes the in-flight counts as SIGTERM finds them (before the drain answers long polls early).</summary>
    public InFlight SignalReceived()
    {
        var signal = new InFlight(Interlocked.Read(ref requests), Interlocked.Read(ref deliveries));
        Volatile.Write(ref atSignal, signal);
        return signal;
    }

    public void Dispose() => listener.Dispose();
}
