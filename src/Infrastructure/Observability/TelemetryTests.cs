using System.Net;
using System.Text.Json;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Observability;

public sealed class TelemetryTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private readonly HttpClient client = service.CreateClient();

    [Fact]
    public async Task MetricsExposeHttpRuntimeAndDatabaseMetersInPrometheusFormat()
    {
        // Traffic first, so the request and connection-pool instruments have measurements.
        using (await client.GetAsync("/health/ready"))
        {
        }

        var text = "";
        for (var attempt = 0; attempt < 20 && !text.Contains("taskrunner-readiness", StringComparison.Ordinal); attempt++)
        {
            using var response = await client.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
            text = await response.Content.ReadAsStringAsync();
            await Task.Delay(100);
        }

        Assert.Contains("http_server_request_duration_seconds", text);
        Assert.Contains("kestrel_", text);
        Assert.Contains("dotnet_gc_", text);
        Assert.Contains("db_client_", text);
        Assert.Contains("service_name=\"taskrunner\"", text);
        Assert.Contains("db_client_connection_pool_name=\"taskrunner-readiness\"", text);
    }

    /// <summary>Black-box only: in-process, the Npgsql meter also counts the test harness's own connections.</summary>
    [Fact]
    [Trait(TestMode.Trait, TestMode.BlackBoxOnly)]
    public async Task EveryConnectionIsLabelledByItsPoolsNameNeverByItsConnectionString()
    {
        using (await client.GetAsync("/health/ready"))
        {
        }
        // The listener's and the leader's connections open at start, before the node is ready.
        string[] pools = ["taskrunner", "taskrunner-readiness"];
        var text = await Eventually.Until(() => client.GetStringAsync("/metrics"),
            metrics => pools.All(pool => metrics.Contains($"db_client_connection_pool_name=\"{pool}\"", StringComparison.Ordinal)),
            metrics => "pools missing from /metrics:\n" + metrics, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200));

        Assert.DoesNotContain("Host=", text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task TheOpenApiDocumentDescribesTheOperationsInSnakeCase()
    {
        using var response = await client.GetAsync("/openapi/v1.json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var document = await response.ReadJsonAsync();
        Assert.Equal("TaskRunner API", document.GetProperty("info").GetProperty("title").GetString());
        var readiness = document.GetProperty("paths").GetProperty("/health/ready").GetProperty("get");
        Assert.Equal("GetReadiness", readiness.GetProperty("operationId").GetString());
        Assert.True(readiness.GetProperty("responses").TryGetProperty("503", out _));
        var report = document.GetProperty("components").GetProperty("schemas").GetProperty("HealthReportResponse");
        Assert.True(report.GetProperty("properties").TryGetProperty("duration_ms", out _));
        var schemes = document.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal("bearer", schemes.GetProperty("bearer").GetProperty("scheme").GetString());
        Assert.Equal("X-API-Key", schemes.GetProperty("api_key").GetProperty("name").GetString());
        var me = document.GetProperty("paths").GetProperty("/api/v1/users/me").GetProperty("get");
        Assert.Equal(2, me.GetProperty("security").GetArrayLength());
        // Anonymous: one empty requirement, "no credentials needed".
        var login = document.GetProperty("paths").GetProperty("/api/v1/auth/login").GetProperty("post").GetProperty("security");
        Assert.Equal(JsonValueKind.Object, Assert.Single(login.EnumerateArray()).ValueKind);
        Assert.Empty(login[0].EnumerateObject());
    }

    [Fact]
    public async Task TheInteractiveReferenceIsServedAtApiDocs()
    {
        using var response = await client.GetAsync("/api/docs/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("openapi/v1.json", await response.Content.ReadAsStringAsync());
        using var script = await client.GetAsync("/api/docs/scalar.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
    }
}

/// <summary>Several hosts in one process (the in-process tests, a second node): each one's /metrics keeps counting its own requests.</summary>
public sealed class HostMetersTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static async Task<long> RequestsCountedAsync(HttpClient client)
    {
        var text = await client.GetStringAsync("/metrics");
        return text.Split('\n')
            .Where(line => line.StartsWith("http_server_request_duration_seconds_count{", StringComparison.Ordinal)
                && line.Contains("http_route=\"/health/live\"", StringComparison.Ordinal))
            .Sum(line => long.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    [Trait(TestMode.Trait, TestMode.InProcessOnly)]
    public async Task AnotherHostStoppingDoesNotEndThisHostsSeries()
    {
        using var client = service.CreateClient();
        using (await client.GetAsync("/health/live"))
        {
        }
        await Eventually.Until(async () => await RequestsCountedAsync(client) > 0, "the first request was not counted", TimeSpan.FromSeconds(10),
            TimeSpan.FromMilliseconds(100));

        await using (var other = await SecondNode.StartAsync(service))
        {
            using var otherClient = other.CreateClient();
            using (await otherClient.GetAsync("/health/live"))
            {
            }
        }
        var before = await RequestsCountedAsync(client);
        using (await client.GetAsync("/health/live"))
        {
        }

        await Eventually.Until(async () => await RequestsCountedAsync(client) > before, "a request after the other host stopped was not counted",
            TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100));
    }
}
