using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// What one instrument of the fixture's node has measured, optionally only with the given tag values: a counter's sum
/// and a histogram's count of observations, or an observable gauge's current value. In-process, from the node's own
/// meters, counted from when this object is made: every host in the test process publishes meters of the same name, so
/// /metrics there mixes nodes (the exporter keeps one host's instrument per name). Black-box, from the node's /metrics.
/// </summary>
public sealed class NodeMeasurements : IDisposable
{
    private readonly ServiceFixture service;
    private readonly string exportedSeries;
    private readonly (string Key, string Value)[] tags;
    private readonly MeterListener? listener;
    private readonly Lock gate = new();
    private double observed;

    /// <param name="instrument">The instrument's name (<c>taskrunner.claim.duration</c>).</param>
    /// <param name="exportedSeries">Its Prometheus series to sum (<c>taskrunner_claim_duration_seconds_count</c>).</param>
    /// <param name="tags">Tag values a measurement must carry to count.</param>
    public NodeMeasurements(ServiceFixture service, string instrument, string exportedSeries, params (string Key, string Value)[] tags)
    {
        this.service = service;
        this.exportedSeries = exportedSeries;
        this.tags = tags;
        if (service.Services?.GetRequiredService<IMeterFactory>() is not { } meters)
            return;
        listener = new MeterListener
        {
            InstrumentPublished = (published, self) =>
            {
                if (published.Meter.Scope == meters && published.Name == instrument)
                    self.EnableMeasurementEvents(published);
            },
        };
        listener.SetMeasurementEventCallback<long>((published, value, measured, _) => Record(published, value, measured));
        listener.SetMeasurementEventCallback<double>((published, value, measured, _) => Record(published, value, measured));
        listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> measured)
    {
        foreach (var (key, wanted) in tags)
        {
            var matches = false;
            foreach (var pair in measured)
                matches |= pair.Key == key && (string?)pair.Value == wanted;
            if (!matches)
                return;
        }
        lock (gate)
            observed = instrument switch
            {
                // A histogram's measurement is one observation; a gauge's is its current value; a counter's adds its value.
                Histogram<double> or Histogram<long> => observed + 1,
                ObservableGauge<long> or ObservableGauge<double> => value,
                _ => observed + value,
            };
    }

    public async Task<double> ValueAsync()
    {
        if (listener is not null)
        {
            listener.RecordObservableInstruments();
            lock (gate)
                return observed;
        }
        using var response = await service.CreateClient().GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();
        return text.Split('\n')
            .Where(line => (line.StartsWith(exportedSeries + "{", StringComparison.Ordinal) || line.StartsWith(exportedSeries + " ", StringComparison.Ordinal))
                           && tags.All(tag => line.Contains($"{tag.Key}=\"{tag.Value}\"", StringComparison.Ordinal)))
            .Sum(line => double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    public void Dispose() => listener?.Dispose();
}
