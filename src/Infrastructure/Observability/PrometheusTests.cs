using System.Diagnostics;
using System.Net;
using System.Text.Json;
using TaskRunner.Features.Execution;
using TaskRunner.Features.Webhooks;
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

    [Fact]
    [Trait(TestMode.Trait, TestMode.BlackBoxOnly)]
    public async Task ARealPrometheusScrapingTheServiceAnswersEveryDashboardQueryAndEvaluatesEveryRule()
    {
        // Traffic that gives every panel a series: API requests, a claimed task, a pushed task with its webhook.
        await using var receiver = await WebhookReceiver.StartAsync();
        using var worker = await EngineWorker.StartAsync(service);
        await worker.RunAsync(await worker.CreateIdAsync("claimed"));
        var (pushed, leaseToken) = await worker.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));
        await receiver.WaitForAsync(received => received.Count == 1);
        using (var completed = await worker.CompleteAsync(pushed, leaseToken))
            Assert.Equal(HttpStatusCode.OK, completed.StatusCode);

        await using var prometheus = await PrometheusServer.StartAsync(service.BaseAddress);
        var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Repository.Root, "deploy", "grafana", "taskrunner.json")));
        var panelQueries = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .Where(panel => panel.TryGetProperty("targets", out _))
            .SelectMany(panel => panel.GetProperty("targets").EnumerateArray().Select(target => target.GetProperty("expr").GetString()!))
            .ToList();
        Assert.NotEmpty(panelQueries);

        // Every rule evaluated (health ok, no error); every recording rule's series and every panel query has data.
        var deadline = Stopwatch.StartNew();
        List<string> failing;
        while (true)
        {
            var rules = await prometheus.RulesAsync();
            failing = rules.Where(rule => rule.Health != "ok").Select(rule => $"rule {rule.Name}: {rule.Health} {rule.LastError}").ToList();
            foreach (var query in panelQueries.Concat(rules.Where(rule => rule.Type == "recording").Select(rule => rule.Name)))
                if (await prometheus.QueryAsync(query) is var (status, samples) && (status != "success" || samples == 0))
                    failing.Add($"query {query}: {status}, {samples} samples");
            if (failing.Count == 0 && rules.Any(rule => rule.Type == "alerting") || deadline.Elapsed > TimeSpan.FromSeconds(45))
                break;
            await Task.Delay(500);
        }

        Assert.True(failing.Count == 0, string.Join("\n", failing));
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
