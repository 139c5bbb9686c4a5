using System.Net;
using System.Text.RegularExpressions;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Http;

/// <summary>How the dashboard's files are served (the web app is built by scripts/web.sh before the tests).</summary>
public sealed partial class WebAppTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [GeneratedRegex("src=\"(/assets/app-[A-Z0-9]+\\.js)\"")]
    private static partial Regex ScriptPath();

    [Fact]
    public async Task TheAppPageIsRevalidatedAndUnderAPolicyWithoutInlineScriptOrStyle()
    {
        using var client = service.CreateClient();

        using var response = await client.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no-cache", response.Headers.CacheControl?.ToString());
        var policy = string.Join(" ", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", policy);
        Assert.Contains("style-src 'self'", policy);
        Assert.DoesNotContain("unsafe-inline", policy);
        Assert.DoesNotContain("<script>", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task HashedAssetsAreCachedForAYearAsImmutable()
    {
        using var client = service.CreateClient();
        var index = await client.GetStringAsync("/");
        var script = ScriptPath().Match(index).Groups[1].Value;

        using var response = await client.GetAsync(script);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("public, max-age=31536000, immutable", response.Headers.CacheControl?.ToString());
        Assert.Equal("text/javascript", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task AClientRouteAnswersTheAppSoAReloadWorks()
    {
        using var client = service.CreateClient();

        using var response = await client.GetAsync($"/tasks/{Guid.NewGuid()}/dag");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("<div id=\"app\">", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/api/v1/no-such-thing")]
    [InlineData("/api/no-such-version")]
    [InlineData("/health/no-such-probe")]
    [InlineData("/openapi/no-such-document")]
    [InlineData("/assets/app-MISSING.js")]
    public async Task TheServicesOwnPathsAndMissingFilesStay404NeverTheApp(string path)
    {
        using var client = service.CreateClient();

        using var response = await client.GetAsync(path);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.DoesNotContain("<div id=\"app\">", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task OnlyReadsFallBackToTheApp()
    {
        using var client = service.CreateClient();

        using var response = await client.PostAsync("/projects", null);

        Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
    }
}
