using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using Xunit;

namespace TaskRunner.Features.Webhooks;

public sealed class DestinationCircuitsTests : IDisposable
{
    private const string Failing = "https://failing.example";

    private readonly ServiceProvider meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly ManualClock clock = new();
    private readonly DestinationCircuits circuits;

    public DestinationCircuitsTests()
    {
        var metricsOptions = Options.Create(new MetricsOptions { IdleDestinationMinutes = 60 });
        circuits = new DestinationCircuits(Options.Create(new WebhooksOptions { BreakSeconds = 15 }), metricsOptions,
            new DeliveryMetrics(meters.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), metricsOptions), clock);
    }

    private void FailTenTimes(string authority)
    {
        for (var i = 0; i < 10; i++)
        {
            Assert.True(circuits.TryEnter(authority));
            circuits.Record(authority, failed: true);
        }
    }

    [Fact]
    public void TenFailuresOpenTheCircuitAndOneTrialGoesOutAfterTheBreak()
    {
        FailTenTimes(Failing);
        Assert.False(circuits.TryEnter(Failing));

        clock.Advance(TimeSpan.FromSeconds(16));

        Assert.True(circuits.TryEnter(Failing));
        Assert.False(circuits.TryEnter(Failing));
        circuits.Record(Failing, failed: false);
        Assert.True(circuits.TryEnter(Failing));
    }

    [Fact]
    public void ADestinationIdleLongerThanTheSettingIsForgotten()
    {
        FailTenTimes(Failing);
        Assert.True(circuits.TryEnter("https://busy.example"));

        clock.Advance(TimeSpan.FromMinutes(30));
        Assert.True(circuits.TryEnter("https://busy.example"));
        clock.Advance(TimeSpan.FromMinutes(31));
        Assert.True(circuits.TryEnter("https://busy.example"));

        Assert.Equal(1, circuits.Count);
    }

    public void Dispose() => meters.Dispose();

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => now;

        public void Advance(TimeSpan by) => now += by;
    }
}
