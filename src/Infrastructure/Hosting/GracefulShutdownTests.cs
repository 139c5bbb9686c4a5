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
