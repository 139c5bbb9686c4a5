using System.Diagnostics;
using System.Text.Json;

namespace TaskRunner.Tests.Harness;

/// <summary>A rule as Prometheus's /api/v1/rules reports it after evaluating it.</summary>
public sealed record EvaluatedRule(string Name, string Type, string Health, string? LastError);

/// <summary>
/// Debian's Prometheus on a free port, scraping one service every second and evaluating deploy/'s rule files every second,
/// with its data in a temporary folder removed on dispose.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly Process process;
    private readonly string folder;
    private readonly HttpClient client;

    private PrometheusServer(Process process, string folder, Uri address)
    {
        this.process = process;
        this.folder = folder;
        client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
    }

    public static async Task<PrometheusServer> StartAsync(Uri target)
    {
        var binary = (await Scripts.RunAsync("prometheus.sh", "install")).Split('\n')[1].Trim();
        var folder = Directory.CreateTempSubdirectory("taskrunner-prometheus-").FullName;
        var deploy = Path.Combine(Repository.Root, "deploy");
        await File.WriteAllTextAsync(Path.Combine(folder, "prometheus.yml"), $$"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - {{Path.Combine(deploy, "prometheus-recording-rules.yaml")}}
              - {{Path.Combine(deploy, "prometheus-rules.yaml")}}
            scrape_configs:
              - job_name: taskrunner
                static_configs:
                  - targets: ['{{target.Authority}}']
            """);
        var port = ServiceProcess.FreePort();
        var process = Process.Start(new ProcessStartInfo(binary,
            $"--config.file={folder}/prometheus.yml --storage.tsdb.path={folder}/data --web.listen-address=127.0.0.1:{port}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new PrometheusServer(process, folder, new Uri($"http://127.0.0.1:{port}"));
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var ready = await server.client.GetAsync("/-/ready");
                if (ready.IsSuccessStatusCode)
                    return server;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            if (process.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(20))
            {
                await server.DisposeAsync();
                throw new InvalidOperationException("prometheus did not become ready");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>An instant query: its status and how many samples (series) it returned.</summary>
    public async Task<(string Status, int Samples)> QueryAsync(string promql)
    {
        using var response = await client.GetAsync("/api/v1/query?query=" + Uri.EscapeDataString(promql));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var status = body.GetProperty("status").GetString()!;
        return status == "success"
            ? (status, body.GetProperty("data").GetProperty("result").GetArrayLength())
            : (status + ": " + body.GetProperty("error").GetString(), 0);
    }

    public async Task<List<EvaluatedRule>> RulesAsync()
    {
        using var response = await client.GetAsync("/api/v1/rules");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return body.GetProperty("data").GetProperty("groups").EnumerateArray()
            .SelectMany(group => group.GetProperty("rules").EnumerateArray())
            .Select(rule => new EvaluatedRule(rule.GetProperty("name").GetString()!, rule.GetProperty("type").GetString()!,
                rule.GetProperty("health").GetString()!, rule.TryGetProperty("lastError", out var error) ? error.GetString() : null))
            .ToList();
    }

    public async ValueTask DisposeAsync()
    {
        client.Dispose();
        if (!process.HasExited)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
        process.Dispose();
        Directory.Delete(folder, recursive: true);
    }
}
