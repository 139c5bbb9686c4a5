using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Auth;

public sealed class SessionsTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static StringContent RefreshBody(string refreshToken) => TestJson.Body(("refresh_token", refreshToken));

    [Fact]
    public async Task RefreshingRotatesBothTokensAndTheOldRefreshTokenStopsWorking()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClient();
        var first = await client.LoginAsync(account.Email, account.Password);
        var oldRefresh = first.GetProperty("refresh_token").GetString()!;

        using var refreshed = await client.PostAsync("/api/v1/auth/refresh", RefreshBody(oldRefresh));

        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        var second = await refreshed.ReadJsonAsync();
        Assert.NotEqual(oldRefresh, second.GetProperty("refresh_token").GetString());
        Assert.Equal(first.GetProperty("session_id").GetString(), second.GetProperty("session_id").GetString());
        using var me = await service.CreateClient().WithBearer(second.GetProperty("access_token").GetString()!).GetAsync("/api/v1/users/me");
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
    }

    [Fact]
    public async Task PresentingASpentRefreshTokenRevokesTheWholeSession()
    {
        var account = await service.CreateUserAsync();
        using var client = service.CreateClient();
        var first = await client.LoginAsync(account.Email, account.Password);
        var stolen = first.GetProperty("refresh_token").GetString()!;
        using var legitimate = await client.PostAsync("/api/v1/auth/refresh", RefreshBody(stolen));
        var current = await legitimate.ReadJsonAsync();

        using var reuse = await client.PostAsync("/api/v1/auth/refresh", RefreshBody(stolen));

        await reuse.AssertProblemAsync(HttpStatusCode.Unauthorized);
        using var ownerRefresh = await client.PostAsync("/api/v1/auth/refresh", RefreshBody(current.GetProperty("refresh_token").GetString()!));
        await ownerRefresh.AssertProblemAsync(HttpStatusCode.Unauthorized);
        using var ownerCall = await service.CreateClient().WithBearer(current.GetProperty("access_token").GetString()!).GetAsync("/api/v1/users/me");
        await ownerCall.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task AnUnknownRefreshTokenIs401()
    {
        using var client = service.CreateClient();

        using var response = await client.PostAsync("/api/v1/auth/refresh", RefreshBody("made-up-token"));

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task LogoutEndsTheSessionAtOnce()
    {
        var account = await service.CreateUserAsync();
        using var client = await service.ClientForAsync(account);

        using var logout = await client.PostAsync("/api/v1/auth/logout", null);
        using var after = await client.GetAsync("/api/v1/users/me");

        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        await after.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task SessionsListMarksTheCurrentOneAndRevokingAnotherEndsIt()
    {
        var account = await service.CreateUserAsync();
        using var laptop = await service.ClientForAsync(account);
        using var phone = await service.ClientForAsync(account);

        using var list = await laptop.GetAsync("/api/v1/auth/sessions");
        var sessions = (await list.ReadJsonAsync()).GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(2, sessions.Count);
        Assert.Single(sessions, session => session.GetProperty("current").GetBoolean());
        var phoneSession = sessions.Single(session => !session.GetProperty("current").GetBoolean()).GetProperty("id").GetString();

        using var revoke = await laptop.DeleteAsync($"/api/v1/auth/sessions/{phoneSession}");
        using var phoneCall = await phone.GetAsync("/api/v1/users/me");
        using var laptopCall = await laptop.GetAsync("/api/v1/users/me");

        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        await phoneCall.AssertProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, laptopCall.StatusCode);
    }

    [Fact]
    public async Task SessionsAreListedInPagesOfTheListEnvelopeNewestFirst()
    {
        var account = await service.CreateUserAsync();
        using var first = await service.ClientForAsync(account);
        using var second = await service.ClientForAsync(account);
        using var third = await service.ClientForAsync(account);

        using var firstPage = await third.GetAsync("/api/v1/auth/sessions?limit=2");
        var page = await firstPage.ReadJsonAsync();
        using var secondPage = await third.GetAsync("/api/v1/auth/sessions?limit=2&cursor="
            + Uri.EscapeDataString(page.GetProperty("next_cursor").GetString()!));
        var rest = await secondPage.ReadJsonAsync();

        Assert.True(page.GetProperty("has_more").GetBoolean());
        var listed = page.GetProperty("data").EnumerateArray().Concat(rest.GetProperty("data").EnumerateArray()).ToList();
        Assert.Equal(3, listed.Select(session => session.GetProperty("id").GetString()).Distinct().Count());
        Assert.True(listed[0].GetProperty("current").GetBoolean(), "the newest session, the one asking, comes first");
        Assert.False(rest.GetProperty("has_more").GetBoolean());
    }

    [Fact]
    public async Task AnotherUsersSessionIsNotFound()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var other = await service.ClientForNewUserAsync();
        using var ownersList = await owner.GetAsync("/api/v1/auth/sessions");
        var ownersSession = (await ownersList.ReadJsonAsync()).GetProperty("data").EnumerateArray().Single().GetProperty("id").GetString();

        using var attempt = await other.DeleteAsync($"/api/v1/auth/sessions/{ownersSession}");
        using var stillWorks = await owner.GetAsync("/api/v1/users/me");

        await attempt.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, stillWorks.StatusCode);
    }

    [Fact]
    public async Task EndpointsThatNeedACallerAnswer401WithoutCredentials()
    {
        using var client = service.CreateClient();

        foreach (var path in new[] { "/api/v1/users/me", "/api/v1/auth/sessions", "/api/v1/auth/api-keys" })
        {
            using var response = await client.GetAsync(path);
            await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
            Assert.NotEmpty(response.Headers.WwwAuthenticate);
        }
    }
}
