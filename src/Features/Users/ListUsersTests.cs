using System.Net;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Users;

public sealed class ListUsersTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task AnAdminPagesThroughEveryAccountExactlyOnce()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        for (var i = 0; i < 4; i++)
            await service.CreateUserAsync();

        var seen = new List<string>();
        var path = "/api/v1/users?limit=2";
        for (var pages = 0; path is not null && pages < 50; pages++)
        {
            using var response = await admin.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = await response.ReadJsonAsync();
            seen.AddRange(page.GetProperty("data").EnumerateArray().Select(user => user.GetProperty("id").GetString()!));
            var next = page.GetProperty("next_cursor").GetString();
            Assert.Equal(next is not null, page.GetProperty("has_more").GetBoolean());
            Assert.Equal(next is not null, response.Headers.Contains("Link"));
            path = next is null ? null : $"/api/v1/users?limit=2&cursor={Uri.EscapeDataString(next)}";
        }

        Assert.True(seen.Count >= 5);
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Equal(seen.OrderBy(id => id, StringComparer.Ordinal), seen);
    }

    [Fact]
    public async Task ARoleFilterListsOnlyThatRoleAndItsCursorCannotContinueAnotherFilter()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        await service.CreateUserAsync("viewer");
        await service.CreateUserAsync("viewer");

        using var viewers = await admin.GetAsync("/api/v1/users?role=viewer&limit=1");
        var page = await viewers.ReadJsonAsync();
        Assert.All(page.GetProperty("data").EnumerateArray(), user => Assert.Equal("viewer", user.GetProperty("role").GetString()));
        var cursor = page.GetProperty("next_cursor").GetString()!;

        using var reused = await admin.GetAsync($"/api/v1/users?role=member&cursor={Uri.EscapeDataString(cursor)}");

        var problem = await reused.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.NotEmpty(problem.Errors("cursor"));
    }

    [Fact]
    public async Task AnAdminPagesThroughAccountsSortedByEmailDescending()
    {
        using var admin = await service.ClientForNewUserAsync("admin");
        for (var i = 0; i < 3; i++)
            await service.CreateUserAsync();

        var seen = new List<string>();
        var path = "/api/v1/users?sort=-email&fields=email&limit=2";
        while (path is not null)
        {
            using var response = await admin.GetAsync(path);
            var page = await response.ReadJsonAsync();
            seen.AddRange(page.GetProperty("data").EnumerateArray().Select(user => user.GetProperty("email").GetString()!));
            var next = page.GetProperty("next_cursor").GetString();
            path = next is null ? null : $"/api/v1/users?sort=-email&fields=email&limit=2&cursor={Uri.EscapeDataString(next)}";
        }

        Assert.True(seen.Count >= 4);
        Assert.Equal(seen.OrderDescending(StringComparer.Ordinal), seen);
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=201", "limit")]
    [InlineData("limit=abc", "limit")]
    [InlineData("role=owner", "role")]
    [InlineData("cursor=forged", "cursor")]
    [InlineData("sort=password_hash", "sort")]
    [InlineData("fields=id,password_hash", "fields")]
    public async Task BadParametersAre400sNamingTheParameter(string parameters, string field)
    {
        using var admin = await service.ClientForNewUserAsync("admin");

        using var response = await admin.GetAsync($"/api/v1/users?{parameters}");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.NotEmpty(problem.Errors(field));
    }

    [Fact]
    public async Task OnlyAdminsMayListAccounts()
    {
        using var member = await service.ClientForNewUserAsync();

        using var response = await member.GetAsync("/api/v1/users");

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }
}
