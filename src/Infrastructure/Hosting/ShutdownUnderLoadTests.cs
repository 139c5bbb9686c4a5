using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace TaskRunner.Infrastructure.Hosting;

/// <summary>
/// A node that serves the API for arranging the test but neither leads nor delivers: the node under test, a separate
/// process that gets SIGTERM, does all the engine's work.
/// </summary>
public sealed class BystanderNodeFixture : ServiceFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        [.. BaseSettings(connectionString), new("Cluster:CanLead", "false"), new("Webhooks:MaxInFlight", "0")];
}

/// <summary>
/// SIGTERM while 200 requests are in flight (long polls among them) and webhooks are being sent: no request that started
/// before the signal fails, every webhook sent before it is recorded, and the process exits within drain + timeout.
/// </summary>
public sealed class ShutdownUnderLoadTests(BystanderNodeFixture service, ITestOutputHelper output) : IClassFixture<BystanderNodeFixture>
{
    private const int DrainDelaySeconds = 2;
    private const int TimeoutSeconds = 10;
    private const int LongPolls = 100;
    private const int Requesters = 100;
    private const int Deliveries = 20;

    [Fact]
    public async Task SigtermUnderLoadFailsNoRequestThatStartedBeforeItAndExitsInTime()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        // Each webhook is answered a second after it arrives, so the signal finds some of them in flight.
        receiver.Answer = (_, _) => new ReceiverAnswer(200, """{"status":"succeeded"}""", Hold: Task.Delay(TimeSpan.FromSeconds(1)));
        using var worker = await EngineWorker.StartAsync(service);
        var known = await worker.CreateIdAsync("read during the shutdown");
        await using var node = ServiceProcess.Start([
            .. FastEngineFixture.FastEngine(ServiceFixture.BaseSettings(service.ConnectionString)),
            new("Shutdown:DrainDelaySeconds", DrainDelaySeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("Shutdown:TimeoutSeconds", TimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("Logging:LogLevel:TaskRunner.Host", "Information"),
        ]);
        Assert.True(await node.WaitUntilListeningAsync(TimeSpan.FromSeconds(120)), node.Output);

        var load = new LoadRecorder();
        using var stop = new CancellationTokenSource();
        using var client = new HttpClient { BaseAddress = node.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = worker.Client.DefaultRequestHeaders.Authorization;

        // Long polls on a project with nothing to claim: they wait until their 25 s are up, or the node drains.
        using var idle = await EngineWorker.StartAsync(service);
        using var idleClient = new HttpClient { BaseAddress = node.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        idleClient.DefaultRequestHeaders.Authorization = idle.Client.DefaultRequestHeaders.Authorization;
        var longPolls = Enumerable.Range(0, LongPolls).Select(_ => Task.Run(() => load.SendAsync(idleClient, "long poll",
            () => new HttpRequestMessage(HttpMethod.Post, "/api/v1/tasks/claim")
            {
                Content = TestJson.Raw(new JsonObject { ["limit"] = 1, ["wait_seconds"] = 25 }.ToJsonString()),
            }, stop.Token))).ToList();

        var requesters = Enumerable.Range(0, Requesters).Select(index => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested && !node.HasExited)
            {
                var answer = index % 2 == 0
                    ? await load.SendAsync(client, "read", () => new HttpRequestMessage(HttpMethod.Get, $"/api/v1/tasks/{known}"), stop.Token)
                    : await load.SendAsync(client, "create", () => new HttpRequestMessage(HttpMethod.Post, "/api/v1/tasks")
                    {
                        Content = TestJson.Raw(new JsonObject { ["project_id"] = worker.ProjectId.ToString(), ["title"] = "created during the shutdown" }.ToJsonString()),
                    }, stop.Token);
                if (answer is null)
                    return;
            }
        })).ToList();

        var pushed = Enumerable.Range(0, Deliveries).Select(i => (JsonNode)new JsonObject
        {
            ["title"] = $"delivered during the shutdown {i}",
            ["actions"] = new JsonArray(new JsonObject { ["trigger"] = "start", ["url"] = receiver.Url() }),
        }).ToArray();
        using (var bulk = await worker.PostAsync("/api/v1/tasks/bulk", new JsonObject { ["project_id"] = worker.ProjectId.ToString(), ["tasks"] = new JsonArray(pushed) }))
            Assert.Equal(HttpStatusCode.Created, bulk.StatusCode);
        var inFlight = await receiver.WaitForAsync(webhooks => webhooks.Count >= Deliveries / 2, TimeSpan.FromSeconds(60));

        var signalled = load.Now;
        node.Terminate();
        var exitCode = await node.WaitForExitAsync(TimeSpan.FromSeconds(DrainDelaySeconds + TimeoutSeconds + 15));
        var exited = load.Now;
        await stop.CancelAsync();
        await Task.WhenAll([.. longPolls, .. requesters]);

        var before = load.Outcomes.Where(outcome => outcome.Started < signalled).ToList();
        var lastLongPoll = load.Outcomes.Where(outcome => outcome.Kind == "long poll").Select(outcome => outcome.Ended).DefaultIfEmpty().Max();
        FaultFigures.Report(output, "sigterm_exit_seconds", (exited - signalled).TotalSeconds);
        FaultFigures.Report(output, "sigterm_long_polls_ended_seconds", (lastLongPoll - signalled).TotalSeconds);
        FaultFigures.Report(output, "sigterm_requests_before_signal", before.Count);
        FaultFigures.Report(output, "sigterm_deliveries_in_flight", inFlight.Count);

        // Every broken promise is listed, not only the first, so one run tells the whole story.
        var broken = new List<string>();
        if (exitCode != 0)
            broken.Add($"exit code {exitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none in time"}:\n{node.Output[^Math.Min(node.Output.Length, 4000)..]}");
        if (exited - signalled > TimeSpan.FromSeconds(DrainDelaySeconds + TimeoutSeconds + 5))
            broken.Add($"exited {(exited - signalled).TotalSeconds:F1} s after SIGTERM");
        if (before.Count(outcome => outcome.Kind == "long poll") != LongPolls)
            broken.Add("not every long poll was sent before SIGTERM");
        var failed = before.Where(outcome => outcome.Status is not (>= 200 and < 300)).ToList();
        if (failed.Count > 0)
            broken.Add($"{failed.Count} requests that started before SIGTERM failed ({string.Join(", ", failed.GroupBy(outcome => outcome.Kind).Select(kind => $"{kind.Count()} {kind.Key}"))}):\n"
                       + LoadRecorder.Describe(failed));
        var unrecorded = await service.QueryTextAsync("SELECT id::text || ' ' || status FROM outbox WHERE id = ANY ($1) AND status <> 'delivered'",
            inFlight.Select(webhook => Guid.Parse(webhook.Header("webhook-id"))).ToArray());
        if (unrecorded.Count > 0)
            broken.Add($"{unrecorded.Count} webhooks sent before SIGTERM are not recorded as delivered: {string.Join(", ", unrecorded)}");
        Assert.True(broken.Count == 0, string.Join("\n", broken));
    }
}
