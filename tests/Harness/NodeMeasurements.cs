using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// How many measurements one instrument of the fixture's node has recorded (a counter's sum, a histogram's count),
/// optionally only those with one tag value. In-process, from the node's own meters, counted from when this object is
/// made: every host in the test process publishes meters of the same name, so /metrics there mixes nodes. Black-box, from
/// the node's /metrics, the exported total.
/// </summary>
public sealed class NodeMeasurements : IDisposable
{
    private readonly ServiceFixture service;
    private readonly string exportedSeries;
    private readonly (string Key, string Value)? tag;
    private readonly MeterListener? listener;
    private readonly Lock gate = new();
    private double observed;

    /// <param name="instrument">The instrument's name (<c>taskrunner.claim.duration</c>).</param>
    /// <param name="exportedSeries">Its Prometheus series to sum (<c>taskrunner_claim_duration_seconds_count</c>).</param>
    public NodeMeasurements(ServiceFixture service, string instrument, string exportedSeries, (string Key, string Value)? tag = null)
    {
        this.service = service;
        this.exportedSeries = exportedSeries;
        this.tag = tag;
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
        listener.SetMeasurementEventCallback<long>((published, value, tags, _) => Record(published, value, tags));
        listener.SetMeasurementEventCallback<double>((published, value, tags, _) => Record(published, value, tags));
        listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tag is { } wanted)
        {
            var matches = false;
            foreach (var pair in tags)
                matches |= pair.Key == wanted.Key && (string?)pair.Value == wanted.Value;
            if (!matches)
                return;
        }
        // A histogram's measurement is one observation; a counter's adds its value.
        var amount = instrument is Histogram<double> or Histogram<long> ? 1 : value;
        lock (gate)
            observed += amount;
    }

    public async Task<double> CountAsync()
    {
        if (listener is not null)
            lock (gate)
                return observed;
        using var response = await service.CreateClient().GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();
        return text.Split('\n')
            .Where(line => (line.StartsWith(exportedSeries + "{", StringComparison.Ordinal) || line.StartsWith(exportedSeries + " ", StringComparison.Ordinal))
                           && (tag is not { } wanted || line.Contains($"{wanted.Key}=\"{wanted.Value}\"", StringComparison.Ordinal)))
            .Sum(line => double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    public void Dispose() => listener?.Dispose();
}
