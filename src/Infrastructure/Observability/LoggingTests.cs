using System.Text.Json;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Observability;

public sealed class LoggingTests
{
    [Fact]
    public async Task EveryLogLineCarriesTraceIdAndRequestIdAndARequestsLinesCarryItsOwn()
    {
        await using var service = ServiceProcess.Start(
        [
            .. ServiceFixture.BaseSettings("Host=127.0.0.1;Port=1;Username=postgres"),
            new("ASPNETCORE_ENVIRONMENT", "Development"),
            new("Logging:LogLevel:TaskRunner.Requests", "Information"),
        ]);
        Assert.True(await service.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)), service.Output);
        using var client = new HttpClient { BaseAddress = service.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/no-such-thing");
        request.Headers.Add("X-Request-ID", "log-correlation-1");
        request.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        using (await client.SendAsync(request))
        {
        }

        await Eventually.Until(() => Task.FromResult(service.Output), output => output.Contains("log-correlation-1", StringComparison.Ordinal),
            output => output, TimeSpan.FromSeconds(10));
        var lines = service.Output.Split('\n').Where(line => line.StartsWith('{')).Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();
        Assert.NotEmpty(lines);
        Assert.All(lines, line =>
        {
            Assert.True(line.TryGetProperty("trace_id", out _), line.ToString());
            Assert.True(line.TryGetProperty("request_id", out _), line.ToString());
        });
        var requestLine = Assert.Single(lines, line => line.GetProperty("Category").GetString() == "TaskRunner.Requests");
        Assert.Equal("log-correlation-1", requestLine.GetProperty("request_id").GetString());
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", requestLine.GetProperty("trace_id").GetString());
        Assert.Equal(404, requestLine.GetProperty("State").GetProperty("status").GetInt32());
    }
}
