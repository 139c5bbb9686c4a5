using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Hosting;

/// <summary>SIGTERM, as a container runtime sends it: not ready at once, served through the drain, then a clean exit.</summary>
public sealed class GracefulShutdownTests
{
    [Fact]
    public async Task SigtermTurnsReadinessOffThenTheProcessExitsCleanlyAndLogsTheDuration()
    {
        var connectionString = await TestDatabases.CreateAsync();
        try
        {
            await using var service = ServiceProcess.Start(ServiceFixture.BaseSettings(connectionString)
                .Append(new("Shutdown:DrainDelaySeconds", "2"))
                .Append(new("Shutdown:TimeoutSeconds", "5"))
                .Append(new("Logging:LogLevel:TaskRunner.Host", "Information")));
            Assert.True(await service.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)), service.Output);
            using var client = new HttpClient { BaseAddress = service.BaseAddress };
            using (var ready = await client.GetAsync("/health/ready"))
                Assert.Equal(HttpStatusCode.OK, ready.StatusCode);

            service.Terminate();
            await Task.Delay(300);

            // Still serving during the drain delay, but no longer ready.
            using (var draining = await client.GetAsync("/health/ready"))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, draining.StatusCode);
                var shutdown = (await draining.ReadJsonAsync()).GetProperty("checks").GetProperty("shutdown");
                Assert.Equal("draining for shutdown", shutdown.GetProperty("description").GetString());
            }
            using (var live = await client.GetAsync("/health/live"))
                Assert.Equal(HttpStatusCode.OK, live.StatusCode);

            Assert.Equal(0, await service.WaitForExitAsync(TimeSpan.FromSeconds(15)));
            Assert.Contains("Shutdown complete in", service.Output);
        }
        finally
        {
            await TestDatabases.DropAsync(connectionString);
        }
    }

    [Fact]
    public async Task WhileDrainingMetricsShowTheRequestsInFlightAtSigtermAndTheDrainDuration()
    {
        var connectionString = await TestDatabases.CreateAsync();
        try
        {
            await using var service = ServiceProcess.Start(ServiceFixture.BaseSettings(connectionString)
                .Append(new("Shutdown:DrainDelaySeconds", "3"))
                .Append(new("Shutdown:TimeoutSeconds", "5")));
            Assert.True(await service.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)), service.Output);
            using var client = new HttpClient { BaseAddress = service.BaseAddress };
            // A request held open across the signal: its body arrives only after the metrics were read.
            var rest = new TaskCompletionSource();
            using var body = new TrickledContent(rest.Task);
            body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            var slow = client.PostAsync("/api/v1/auth/login", body);
            // The signal must find the request counted as active, so wait until the server shows it in flight.
            const string loginInFlight = @"http_server_active_requests\{[^}]*http_request_method=""POST""[^}]*\} [1-9]";
            await Eventually.Until(() => MetricsMatchAsync(client, loginInFlight), "the login never showed as in flight", TimeSpan.FromSeconds(10));

            service.Terminate();

            var metrics = await Eventually.Until(() => client.GetStringAsync("/metrics"),
                scrape => scrape.Contains("taskrunner_shutdown_drain_duration_seconds{", StringComparison.Ordinal),
                _ => "no drain duration while draining", TimeSpan.FromSeconds(3));
            Assert.Matches(@"taskrunner_shutdown_requests_in_flight\{[^}]*\} [1-9]", metrics);
            Assert.Matches(@"taskrunner_shutdown_deliveries_in_flight\{[^}]*\} 0", metrics);
            rest.SetResult();
            using (var answered = await slow)
                Assert.Equal(HttpStatusCode.Unauthorized, answered.StatusCode);
            Assert.Equal(0, await service.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        }
        finally
        {
            await TestDatabases.DropAsync(connectionString);
        }
    }

    private static async Task<bool> MetricsMatchAsync(HttpClient client, string pattern) =>
        System.Text.RegularExpressions.Regex.IsMatch(await client.GetStringAsync("/metrics"), pattern);
}

[Trait(TestMode.Trait, TestMode.InProcessOnly)]
public sealed class InFlightRequestsTests
{
    [Fact]
    public async Task AnInFlightRequestFinishesWhenShutdownBegins()
    {
        var connectionString = await TestDatabases.CreateAsync();
        try
        {
            await using var host = new InProcessHost(ServiceFixture.BaseSettings(connectionString)
                .Append(new("Shutdown:TimeoutSeconds", "10")));
            using var client = new HttpClient { BaseAddress = host.BaseAddress };
            var slow = client.GetAsync(TestEndpoints.Slow + "?milliseconds=1500");
            await Task.Delay(300);

            var lifetime = (Microsoft.Extensions.Hosting.IHostApplicationLifetime)host.Services.GetService(
                typeof(Microsoft.Extensions.Hosting.IHostApplicationLifetime))!;
            lifetime.StopApplication();

            using var response = await slow;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("1500", await response.Content.ReadAsStringAsync());
        }
        finally
        {
            await TestDatabases.DropAsync(connectionString);
        }
    }
}

/// <summary>The fixture's own node neither leads nor delivers: the node a test starts and stops does that work.</summary>
public sealed class PassiveNodeFixture : ServiceFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        base.Settings(connectionString)
            .Append(new("Cluster:CanLead", "false"))
            .Append(new("Webhooks:MaxInFlight", "0"));
}

/// <summary>SIGTERM while work is in flight: a long poll and a delivery waiting on its receiver.</summary>
public sealed class ShutdownDrainTests(PassiveNodeFixture service) : IClassFixture<PassiveNodeFixture>
{
    private static async Task<ServiceProcess> StartNodeAsync(IEnumerable<KeyValuePair<string, string?>> settings)
    {
        var node = ServiceProcess.Start(settings);
        if (await node.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)))
            return node;
        var output = node.Output;
        await node.DisposeAsync();
        throw new InvalidOperationException("the node did not start:\n" + output);
    }

    [Fact]
    public async Task ALongPollAnswersEmptyAsTheDrainBeginsNotAtItsDeadline()
    {
        await using var node = await StartNodeAsync(ServiceFixture.BaseSettings(service.ConnectionString)
            .Append(new("Shutdown:DrainDelaySeconds", "10"))
            .Append(new("Shutdown:TimeoutSeconds", "5")));
        var account = await service.CreateUserAsync();
        using var client = new HttpClient { BaseAddress = node.BaseAddress };
        client.WithBearer((await client.LoginAsync(account.Email, account.Password)).GetProperty("access_token").GetString()!);
        var polling = client.PostAsync("/api/v1/tasks/claim", TestJson.Body(("limit", 1), ("wait_seconds", 30)));
        await Eventually.Until(async () => (await client.GetStringAsync("/metrics")).Contains("taskrunner_claim_duration_seconds_count", StringComparison.Ordinal),
            "the condition never held", TimeSpan.FromSeconds(15));

        var watch = System.Diagnostics.Stopwatch.StartNew();
        node.Terminate();
        using var response = await polling;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, (await response.ReadJsonAsync()).GetProperty("tasks").GetArrayLength());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"the long poll answered {watch.Elapsed} after SIGTERM, with a 10 s drain");
    }

    [Fact]
    public async Task ADeliveryStillWaitingOnItsReceiverAtShutdownIsRecordedAsAFailedAttemptNotLeftLeased()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, _) => ReceiverAnswer.Unanswered;
        await using var node = await StartNodeAsync(ServiceFixture.BaseSettings(service.ConnectionString)
            .Append(new("Shutdown:DrainDelaySeconds", "0"))
            .Append(new("Shutdown:TimeoutSeconds", "4"))
            .Append(new("Webhooks:AttemptTimeoutSeconds", "60"))
            .Append(new("Webhooks:TotalTimeoutSeconds", "60"))
            .Append(new("Webhooks:LeaseSeconds", "120")));
        using var owner = await EngineWorker.StartAsync(service);
        var taskId = await owner.CreateIdAsync("slow receiver", WebhookSteps.WithActions(
            WebhookSteps.Action("start", receiver.Url())));
        await receiver.WaitForAsync(received => received.Count > 0);

        node.Terminate();

        Assert.Equal(0, await node.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(["pending"], await service.QueryTextAsync("SELECT status FROM outbox WHERE task_id = $1", taskId));
        Assert.Equal([Features.Webhooks.DeliverySender.InterruptedError], await service.QueryTextAsync(
            "SELECT a.error FROM delivery_attempts a JOIN outbox o ON o.id = a.delivery_id WHERE o.task_id = $1", taskId));
    }
}

/// <summary>A login body sent in two parts, the second only once <c>rest</c> completes.</summary>
internal sealed class TrickledContent(Task rest) : HttpContent
{
    protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
    {
        await stream.WriteAsync("{\"email\":\"nobody@example.com\","u8.ToArray());
        await stream.FlushAsync();
        await rest;
        await stream.WriteAsync("\"password\":\"not-the-password\"}"u8.ToArray());
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}
