using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Http;

[Trait(TestMode.Trait, TestMode.InProcessOnly)]
public sealed class DeprecationTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task ADeprecatedEndpointAnswersWithDeprecationSunsetAndItsLink()
    {
        using var client = service.CreateClient();

        using var deprecated = await client.GetAsync(TestEndpoints.Deprecated);
        using var current = await client.GetAsync("/health/live");

        Assert.Equal(HttpStatusCode.NoContent, deprecated.StatusCode);
        // 2026-01-01T00:00:00Z as RFC 9745's @unix-seconds; the sunset as RFC 8594's HTTP date.
        Assert.Equal("@1767225600", Assert.Single(deprecated.Headers.GetValues("Deprecation")));
        Assert.Equal("Fri, 31 Jul 2026 00:00:00 GMT", Assert.Single(deprecated.Headers.GetValues("Sunset")));
        Assert.Contains($"<{DeprecationHeaders.ReferenceLink}>; rel=\"deprecation\"; type=\"text/html\"", deprecated.Headers.GetValues("Link"));
        Assert.False(current.Headers.Contains("Deprecation"));
        Assert.False(current.Headers.Contains("Sunset"));
    }

    [Fact]
    public async Task TheOpenApiDocumentMarksADeprecatedOperationWithItsDates()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddApiDocumentation();
        await using var app = builder.Build();
        app.MapGet("/old", () => "old").Deprecated("2026-01-01", "2026-07-31");
        app.MapGet("/new", () => "new");
        app.MapApiDocumentation();
        await app.StartAsync();
        using var client = app.GetTestClient();

        using var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));

        var old = document.RootElement.GetProperty("paths").GetProperty("/old").GetProperty("get");
        Assert.True(old.GetProperty("deprecated").GetBoolean());
        Assert.Contains("2026-07-31", old.GetProperty("description").GetString());
        Assert.False(document.RootElement.GetProperty("paths").GetProperty("/new").GetProperty("get").TryGetProperty("deprecated", out _));
    }

    [Fact]
    public void ASunsetSoonerThanThePolicysNoticeIsRefused() =>
        Assert.Throws<ArgumentException>(() => WebApplication.CreateSlimBuilder().Build().MapGet("/soon", () => "").Deprecated("2026-01-01", "2026-02-01"));
}
