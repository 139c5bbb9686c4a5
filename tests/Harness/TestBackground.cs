using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Tests.Harness;

/// <summary>Background work built by hand for tests: the failure mechanism with default settings, a slice's retention job.</summary>
public static class TestBackground
{
    public static BackgroundFailures Failures(IServiceProvider metrics) => new(
        metrics.GetRequiredService<IMeterFactory>(), Options.Create(new BackgroundOptions()), TimeProvider.System, NullLoggerFactory.Instance);

    /// <summary>The sweep of the retention job <paramref name="job"/> builds, over <paramref name="dataSource"/>.</summary>
    public static RetentionSweep Retention(NpgsqlDataSource dataSource, IServiceProvider metrics, Func<IMeterFactory, RetentionJob> job) => new(
        job(metrics.GetRequiredService<IMeterFactory>()), dataSource, Failures(metrics), TimeProvider.System, NullLogger<RetentionSweep>.Instance);
}
