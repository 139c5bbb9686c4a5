using System.Net;
using System.Text.Json;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.ApiKeys;

public sealed class ApiKeysTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static async Task<JsonElement> CreateKeyAsync(HttpClient client, string name = "ci", string? role = null)
    {
        using var response = await client.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", name), ("role", role)));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.ReadJsonAsync();
    }

    [Fact]
    public async Task AKeyIsShownOnceAndAuthenticatesAsItsOwner()
    {
        var account = await service.CreateUserAsync();
        using var owner = await service.ClientForAsync(account);

        var created = await CreateKeyAsync(owner);
        using var keyClient = service.CreateClient().WithApiKey(created.GetProperty("key").GetString()!);
        using var me = await keyClient.GetAsync("/api/v1/users/me");
        using var list = await owner.GetAsync("/api/v1/auth/api-keys");

        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(account.Email, (await me.ReadJsonAsync()).GetProperty("email").GetString());
        var listed = (await list.ReadJsonAsync()).GetProperty("data").EnumerateArray().Single();
        Assert.Equal(created.GetProperty("id").GetString(), listed.GetProperty("id").GetString());
        Assert.False(listed.TryGetProperty("key", out _));
        Assert.DoesNotContain(created.GetProperty("key").GetString()!, listed.GetRawText());
    }

    [Fact]
    public async Task KeysAreListedInPagesOfTheListEnvelopeSortedByName()
    {
        using var owner = await service.ClientForNewUserAsync();
        foreach (var name in new[] { "charlie", "alpha", "bravo" })
            await CreateKeyAsync(owner, name);

        using var first = await owner.GetAsync("/api/v1/auth/api-keys?sort=name&limit=2&fields=name");
        var firstPage = await first.ReadJsonAsync();
        using var second = await owner.GetAsync("/api/v1/auth/api-keys?sort=name&limit=2&fields=name&cursor="
            + Uri.EscapeDataString(firstPage.GetProperty("next_cursor").GetString()!));
        var secondPage = await second.ReadJsonAsync();

        Assert.True(firstPage.GetProperty("has_more").GetBoolean());
        Assert.Equal(["alpha", "bravo", "charlie"], firstPage.GetProperty("data").EnumerateArray()
            .Concat(secondPage.GetProperty("data").EnumerateArray()).Select(key => key.GetProperty("name").GetString()));
        Assert.Equal(JsonValueKind.Null, secondPage.GetProperty("next_cursor").ValueKind);
        Assert.False(secondPage.GetProperty("has_more").GetBoolean());
    }

    [Fact]
    public async Task UsingAKeyRecordsWhenItWasLastUsedAtMostOncePerMinute()
    {
        using var owner = await service.ClientForNewUserAsync();
        var created = await CreateKeyAsync(owner);
        using var keyClient = service.CreateClient().WithApiKey(created.GetProperty("key").GetString()!);
        async Task<string?> LastUsedAsync()
        {
            using var list = await owner.GetAsync("/api/v1/auth/api-keys");
            var key = (await list.ReadJsonAsync()).GetProperty("data").EnumerateArray().Single();
            return key.TryGetProperty("last_used_at", out var lastUsed) ? lastUsed.GetString() : null;
        }
        Assert.Null(await LastUsedAsync());

        using (var first = await keyClient.GetAsync("/api/v1/users/me"))
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var afterFirstUse = await LastUsedAsync();
        using (var second = await keyClient.GetAsync("/api/v1/users/me"))
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);

        Assert.NotNull(afterFirstUse);
        Assert.Equal(afterFirstUse, await LastUsedAsync());
    }

    [Fact]
    public async Task ARevokedKeyStopsWorkingAtOnce()
    {
        using var owner = await service.ClientForNewUserAsync();
        var created = await CreateKeyAsync(owner);
        using var keyClient = service.CreateClient().WithApiKey(created.GetProperty("key").GetString()!);
        using (var before = await keyClient.GetAsync("/api/v1/users/me"))
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);

        using var revoke = await owner.DeleteAsync($"/api/v1/auth/api-keys/{created.GetProperty("id").GetString()}");
        using var after = await keyClient.GetAsync("/api/v1/users/me");

        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        await after.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task ARevokedKeyStopsWorkingOnEveryNodeAtOnce()
    {
        using var owner = await service.ClientForNewUserAsync();
        var created = await CreateKeyAsync(owner);
        await using var secondNode = await SecondNode.StartAsync(service);
        using var keyOnSecondNode = secondNode.CreateClient().WithApiKey(created.GetProperty("key").GetString()!);
        using (var before = await keyOnSecondNode.GetAsync("/api/v1/users/me"))
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);

        using var revoke = await owner.DeleteAsync($"/api/v1/auth/api-keys/{created.GetProperty("id").GetString()}");
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);

        // The second node hears the revocation through NOTIFY; allow it the moment delivery takes.
        var status = HttpStatusCode.OK;
        for (var attempt = 0; attempt < 50 && status == HttpStatusCode.OK; attempt++)
        {
            using var after = await keyOnSecondNode.GetAsync("/api/v1/users/me");
            status = after.StatusCode;
            if (status == HttpStatusCode.OK)
                await Task.Delay(20);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [Fact]
    public async Task AKeyCannotHaveAHigherRoleThanItsCreator()
    {
        using var member = await service.ClientForNewUserAsync();

        using var response = await member.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "escalate"), ("role", "admin")));

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task AViewerKeyOfAMemberActsAsAViewer()
    {
        using var member = await service.ClientForNewUserAsync();
        var created = await CreateKeyAsync(member, role: "viewer");
        using var keyClient = service.CreateClient().WithApiKey(created.GetProperty("key").GetString()!);

        using var escalate = await keyClient.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "more"), ("role", "member")));

        Assert.Equal("viewer", created.GetProperty("role").GetString());
        await escalate.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task InvalidFieldsAreAllReported()
    {
        using var member = await service.ClientForNewUserAsync();

        using var response = await member.PostAsync("/api/v1/auth/api-keys",
            TestJson.Body(("name", ""), ("role", "superuser"), ("expires_at", DateTime.UtcNow.AddDays(-1))));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["is required"], problem.Errors("name"));
        Assert.Equal(["must be one of admin, member, viewer"], problem.Errors("role"));
        Assert.Equal(["must be in the future"], problem.Errors("expires_at"));
    }

    [Fact]
    public async Task AnExpiredKeyIsRejected()
    {
        using var member = await service.ClientForNewUserAsync();
        var created = await CreateKeyAsync(member);
        await service.ExecuteSqlAsync("UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = $1",
            Guid.Parse(created.GetProperty("id").GetString()!));
        using var keyClient = service.CreateClient().WithApiKey(created.GetProperty("key").GetString()!);

        using var response = await keyClient.GetAsync("/api/v1/users/me");

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("trk_AAAAAAAAAAAA_wrongsecretwrongsecret")]
    [InlineData("trk_!!!!!!!!!!!!_secretsecretsecret")]
    public async Task AMalformedOrUnknownKeyIs401(string key)
    {
        using var client = service.CreateClient().WithApiKey(key);

        using var response = await client.GetAsync("/api/v1/users/me");

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task AnOversizedKeyIs401()
    {
        using var client = service.CreateClient().WithApiKey("trk_" + new string('a', 4000));

        using var response = await client.GetAsync("/api/v1/users/me");

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task AnotherUsersKeyCannotBeRevokedAndIsNotFound()
    {
        using var owner = await service.ClientForNewUserAsync();
        using var other = await service.ClientForNewUserAsync();
        var created = await CreateKeyAsync(owner);

        using var attempt = await other.DeleteAsync($"/api/v1/auth/api-keys/{created.GetProperty("id").GetString()}");
        using var stillWorks = await service.CreateClient().WithApiKey(created.GetProperty("key").GetString()!).GetAsync("/api/v1/users/me");

        await attempt.AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, stillWorks.StatusCode);
    }
}
