using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Tests.Harness;

/// <summary>The background-failure mechanism with default settings, for tests that build a background service by hand.</summary>
public static class TestBackground
{
    public static BackgroundFailures Failures(IServiceProvider metrics) => new(
        metrics.GetRequiredService<IMeterFactory>(), Options.Create(new BackgroundOptions()), TimeProvider.System, NullLoggerFactory.Instance);
}
