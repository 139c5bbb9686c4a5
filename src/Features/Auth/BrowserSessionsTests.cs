using System.Net;
using System.Text.RegularExpressions;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Auth;

public sealed partial class BrowserSessionsTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static HttpRequestMessage CookieRequest(string action, string? refreshCookie = null, HttpContent? body = null, bool csrf = true)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/auth/browser/{action}") { Content = body };
        if (csrf)
            request.Headers.Add(BrowserSessions.CsrfHeader, "1");
        if (refreshCookie is not null)
            request.Headers.Add("Cookie", $"{BrowserSessions.CookieName}={refreshCookie}");
        return request;
    }

    private static async Task<(HttpResponseMessage Response, string SetCookie)> SignInAsync(TestAccount account, HttpClient client)
    {
        var response = await client.SendAsync(CookieRequest("login",
            body: TestJson.Body(("email", account.Email), ("password", account.Password))));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (response, Assert.Single(response.Headers.GetValues("Set-Cookie")));
    }

    private static string CookieValue(string setCookie) => RefreshCookieValue().Match(setCookie).Groups[1].Value;

    [GeneratedRegex("^taskrunner_refresh=([^;]*)")]
    private static partial Regex RefreshCookieValue();

    [Fact]
    public async Task SignInPutsTheRefreshTokenInAStrictHttpOnlySecureCookieOnTheRefreshPathAndNotInTheBody()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClient();

        var (response, setCookie) = await SignInAsync(account, client);

        var body = await response.ReadJsonAsync();
        Assert.False(body.TryGetProperty("refresh_token", out _));
        using var me = await service.CreateClient().WithBearer(body.GetProperty("access_token").GetString()!).GetAsync("/api/v1/users/me");
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        var attributes = setCookie.ToLowerInvariant();
        Assert.NotEmpty(CookieValue(setCookie));
        Assert.Contains("path=/api/v1/auth/browser", attributes);
        Assert.Contains("httponly", attributes);
        Assert.Contains("secure", attributes);
        Assert.Contains("samesite=strict", attributes);
        Assert.Contains("max-age=", attributes);
    }

    [Fact]
    public async Task TheCookieRefreshesIntoANewAccessTokenAndRotatesTheCookie()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClient();
        var (_, setCookie) = await SignInAsync(account, client);
        var first = CookieValue(setCookie);

        using var refreshed = await client.SendAsync(CookieRequest("refresh", first));

        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        var rotated = CookieValue(Assert.Single(refreshed.Headers.GetValues("Set-Cookie")));
        Assert.NotEqual(first, rotated);
        var token = (await refreshed.ReadJsonAsync()).GetProperty("access_token").GetString()!;
        using var me = await service.CreateClient().WithBearer(token).GetAsync("/api/v1/users/me");
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
    }

    [Fact]
    public async Task EveryCookieEndpointRefusesARequestWithoutTheCsrfHeader()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClient();
        var (_, setCookie) = await SignInAsync(account, client);
        var cookie = CookieValue(setCookie);

        using var login = await client.SendAsync(CookieRequest("login",
            body: TestJson.Body(("email", account.Email), ("password", account.Password)), csrf: false));
        using var refresh = await client.SendAsync(CookieRequest("refresh", cookie, csrf: false));
        using var logout = await client.SendAsync(CookieRequest("logout", cookie, csrf: false));

        await login.AssertProblemAsync(HttpStatusCode.Forbidden);
        await refresh.AssertProblemAsync(HttpStatusCode.Forbidden);
        await logout.AssertProblemAsync(HttpStatusCode.Forbidden);
        using var stillLive = await client.SendAsync(CookieRequest("refresh", cookie));
        Assert.Equal(HttpStatusCode.OK, stillLive.StatusCode);
    }

    [Fact]
    public async Task SignOutEndsTheSessionAndClearsTheCookie()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClient();
        var (response, setCookie) = await SignInAsync(account, client);
        var token = (await response.ReadJsonAsync()).GetProperty("access_token").GetString()!;
        var cookie = CookieValue(setCookie);

        using var logout = await client.SendAsync(CookieRequest("logout", cookie));

        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        var cleared = Assert.Single(logout.Headers.GetValues("Set-Cookie"));
        Assert.Empty(CookieValue(cleared));
        Assert.Contains("expires=thu, 01 jan 1970", cleared.ToLowerInvariant());
        using var refresh = await client.SendAsync(CookieRequest("refresh", cookie));
        await refresh.AssertProblemAsync(HttpStatusCode.Unauthorized);
        using var me = await service.CreateClient().WithBearer(token).GetAsync("/api/v1/users/me");
        await me.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task RefreshingWithoutACookieIs401()
    {
        using var client = service.CreateClient();

        using var response = await client.SendAsync(CookieRequest("refresh"));

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }
}
