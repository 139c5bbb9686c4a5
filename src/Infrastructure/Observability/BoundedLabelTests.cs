using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Observability;

/// <summary>A node whose labels take at most two values each.</summary>
public sealed class TwoLabelValuesFixture : ServiceFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        base.Settings(connectionString).Append(new("Metrics:MaxLabelValues", "2"));
}

public sealed class BoundedLabelTests(TwoLabelValuesFixture service) : IClassFixture<TwoLabelValuesFixture>
{
    [Fact]
    public async Task KindsBeyondTheFirstNSeenAreReportedAsOther()
    {
        using var worker = await EngineWorker.StartAsync(service);
        using var third = new NodeMeasurements(service, "taskrunner.tasks.started", "taskrunner_tasks_started_total", ("kind", "third.kind"));
        using var other = new NodeMeasurements(service, "taskrunner.tasks.started", "taskrunner_tasks_started_total", ("kind", BoundedLabel.Other));
        var otherBefore = await other.ValueAsync();

        foreach (var kind in new[] { "first.kind", "second.kind", "third.kind" })
        {
            var id = await worker.CreateIdAsync(kind, body => body["kind"] = kind);
            Assert.Equal(id.ToString(), (await worker.ClaimOneAsync()).GetProperty("id").GetString());
        }

        // Black-box, /metrics answers from a scrape cached for a moment: wait for the count, then check where it went.
        await Eventually.Until(async () => await other.ValueAsync() >= otherBefore + 1, "the third kind's start was not counted as other",
            TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100));
        Assert.Equal(0, await third.ValueAsync());
        Assert.Equal(otherBefore + 1, await other.ValueAsync());
    }

    [Fact]
    public void TheFirstNValuesPassAndTheRestBecomeOther()
    {
        var label = new BoundedLabel(2);

        Assert.Equal(["a", "b", BoundedLabel.Other, "a", BoundedLabel.Other], new[] { "a", "b", "c", "a", "d" }.Select(label.Of));
    }
}
