using System.Diagnostics.Metrics;

namespace TaskRunner.Features.Health;

/// <summary>
/// This node's connection-pool figures, read from Npgsql's own metrics (idle, used, maximum) on demand, so the detailed
/// health report and /metrics never disagree.
/// </summary>
public sealed class PoolStatistics : IDisposable
{
    private readonly MeterListener listener = new();
    private readonly Lock gate = new();
    private long idle;
    private long used;
    private long max;

    public PoolStatistics()
    {
        listener.InstrumentPublished = (instrument, meterListener) =>
        {
            if (instrument.Meter.Name == "Npgsql" && instrument.Name is "db.client.connection.count" or "db.client.connection.max")
                meterListener.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument.Name, value, tags));
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument.Name, value, tags));
        listener.Start();
    }

    public (long Idle, long Used, long Max) Read()
    {
        lock (gate)
        {
            idle = used = max = 0;
            listener.RecordObservableInstruments();
            return (idle, used, max);
        }
    }

    private void Record(string instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (instrument == "db.client.connection.max")
        {
            max += value;
            return;
        }
        foreach (var tag in tags)
        {
            if (tag.Key != "db.client.connection.state")
                continue;
            if (tag.Value as string == "idle")
                idle += value;
            else
                used += value;
        }
    }

    public void Dispose() => listener.Dispose();
}
