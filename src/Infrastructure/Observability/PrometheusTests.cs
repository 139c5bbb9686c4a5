using System.Diagnostics;
using System.Net;
using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Observability;

/// <summary>
/// /metrics as Prometheus's own tools read it (Debian's <c>prometheus</c> package, installed by scripts/prometheus.sh when
/// missing), and the alert and recording rules under promtool's unit tests.
/// </summary>
public sealed class PrometheusTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task MetricsPassPromtoolCheckMetrics()
    {
        // Traffic first, so the request, engine and pool instruments have series.
        using var worker = await EngineWorker.StartAsync(service);
        await worker.RunAsync(await worker.CreateIdAsync("measured"));
        using var client = service.CreateClient();
        string metrics;
        using (var response = await client.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            metrics = await response.Content.ReadAsStringAsync();
        }

        var (exitCode, output) = await PromtoolAsync("check metrics", metrics);

        Assert.True(exitCode == 0, "promtool check metrics found problems:\n" + output);
    }

    [Fact]
    public async Task EveryAlertAndRecordingRulePassesPromtoolsUnitTests()
    {
        var output = await Scripts.RunAsync("prometheus.sh", "check-rules");

        Assert.Contains("SUCCESS", output);
    }

    private static async Task<(int ExitCode, string Output)> PromtoolAsync(string arguments, string input)
    {
        var promtool = (await Scripts.RunAsync("prometheus.sh", "install")).Split('\n')[0].Trim();
        using var process = Process.Start(new ProcessStartInfo(promtool, arguments)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }
}
