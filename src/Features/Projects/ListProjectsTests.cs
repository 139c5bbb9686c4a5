using System.Net;
using System.Text.Json;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Projects;

public sealed class ListProjectsTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static async Task<(List<string> Names, string? NextCursor)> PageAsync(HttpClient client, string url)
    {
        using var response = await client.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{url}: {(int)response.StatusCode} {body}");
        var json = JsonDocument.Parse(body).RootElement;
        var cursor = json.GetProperty("next_cursor");
        return (json.GetProperty("data").EnumerateArray().Select(project => project.GetProperty("name").GetString()!).ToList(),
            cursor.ValueKind == JsonValueKind.String ? cursor.GetString() : null);
    }

    /// <summary>Every name of every page, following next_cursor from <paramref name="url"/> to the end.</summary>
    private static async Task<List<string>> AllPagesAsync(HttpClient client, string url)
    {
        var names = new List<string>();
        string? cursor = null;
        do
        {
            var (page, next) = await PageAsync(client, cursor is null ? url : $"{url}&cursor={Uri.EscapeDataString(cursor)}");
            names.AddRange(page);
            cursor = next;
        }
        while (cursor is not null);
        return names;
    }

    [Fact]
    public async Task OnlyProjectsTheCallerMayReadAreListed()
    {
        using var alice = await service.ClientForNewUserAsync();
        using var bob = await service.ClientForNewUserAsync();
        var tag = Guid.NewGuid().ToString("N");
        await alice.CreateProjectAsync($"{tag} alice");
        var shared = await bob.CreateProjectAsync($"{tag} shared");
        await bob.CreateProjectAsync($"{tag} bob");
        await bob.AddMemberAsync(shared.Id(), (await service.CreateUserAsync()).Id, "viewer");

        var seenByAlice = await AllPagesAsync(alice, $"{ProjectTestData.Path}?q={tag}&sort=name");

        Assert.Equal([$"{tag} alice"], seenByAlice);
    }

    [Fact]
    public async Task PagesSortedByNameFollowEachOtherWithoutGapsOrRepeats()
    {
        using var owner = await service.ClientForNewUserAsync();
        var tag = Guid.NewGuid().ToString("N");
        string[] names = [$"{tag} delta", $"{tag} alpha", $"{tag} echo", $"{tag} charlie", $"{tag} bravo"];
        foreach (var name in names)
            await owner.CreateProjectAsync(name);

        var ascending = await AllPagesAsync(owner, $"{ProjectTestData.Path}?q={tag}&sort=name&limit=2");
        var descending = await AllPagesAsync(owner, $"{ProjectTestData.Path}?q={tag}&sort=-name&limit=2");

        Assert.Equal(names.Order(StringComparer.Ordinal), ascending);
        Assert.Equal(names.OrderDescending(StringComparer.Ordinal), descending);
    }

    [Fact]
    public async Task TheDefaultOrderIsNewestFirstAndCreatedAtOldestFirst()
    {
        using var owner = await service.ClientForNewUserAsync();
        var tag = Guid.NewGuid().ToString("N");
        string[] names = [$"{tag} 1", $"{tag} 2", $"{tag} 3"];
        foreach (var name in names)
            await owner.CreateProjectAsync(name);

        var newestFirst = await AllPagesAsync(owner, $"{ProjectTestData.Path}?q={tag}&limit=2");
        var oldestFirst = await AllPagesAsync(owner, $"{ProjectTestData.Path}?q={tag}&sort=created_at&limit=1");

        Assert.Equal(names.Reverse(), newestFirst);
        Assert.Equal(names, oldestFirst);
    }

    [Fact]
    public async Task QMatchesASubstringCaseInsensitivelyAndItsWildcardsLiterally()
    {
        using var owner = await service.ClientForNewUserAsync();
        var tag = Guid.NewGuid().ToString("N");
        await owner.CreateProjectAsync($"{tag} Data_Lake");
        await owner.CreateProjectAsync($"{tag} dataXlake");
        await owner.CreateProjectAsync($"{tag} 100% done");
        await owner.CreateProjectAsync($"{tag} 100 done");

        var underscore = await AllPagesAsync(owner, $"{ProjectTestData.Path}?q={tag}%20DATA_lake&sort=name");
        var percent = await AllPagesAsync(owner, $"{ProjectTestData.Path}?q={Uri.EscapeDataString("0% d")}&sort=name");

        Assert.Equal([$"{tag} Data_Lake"], underscore);
        Assert.Contains($"{tag} 100% done", percent);
        Assert.DoesNotContain($"{tag} 100 done", percent);
    }

    [Fact]
    public async Task DeletedProjectsAreListedOnlyWithIncludeDeleted()
    {
        using var owner = await service.ClientForNewUserAsync();
        var tag = Guid.NewGuid().ToString("N");
        await owner.CreateProjectAsync($"{tag} kept");
        var deleted = await owner.CreateProjectAsync($"{tag} deleted");
        using (var delete = await owner.DeleteAsync($"{ProjectTestData.Path}/{deleted.Id()}"))
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        var live = await AllPagesAsync(owner, $"{ProjectTestData.Path}?q={tag}&sort=name");
        var all = await AllPagesAsync(owner, $"{ProjectTestData.Path}?q={tag}&sort=name&include_deleted=true");

        Assert.Equal([$"{tag} kept"], live);
        Assert.Equal([$"{tag} deleted", $"{tag} kept"], all);
    }

    [Fact]
    public async Task ACursorReusedWithAnotherQIs400NamingTheCursor()
    {
        using var owner = await service.ClientForNewUserAsync();
        var tag = Guid.NewGuid().ToString("N");
        await owner.CreateProjectAsync($"{tag} a");
        await owner.CreateProjectAsync($"{tag} b");
        var (_, cursor) = await PageAsync(owner, $"{ProjectTestData.Path}?q={tag}&sort=name&limit=1");

        using var otherQ = await owner.GetAsync($"{ProjectTestData.Path}?q={tag}%20b&sort=name&limit=1&cursor={cursor}");
        using var otherSort = await owner.GetAsync($"{ProjectTestData.Path}?q={tag}&sort=-name&limit=1&cursor={cursor}");

        Assert.Equal([CursorCodec.OtherQuery], (await otherQ.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("cursor"));
        Assert.Equal([CursorCodec.OtherQuery], (await otherSort.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("cursor"));
    }

    [Fact]
    public async Task EveryMalformedParameterIsReportedByNameAtOnce()
    {
        using var owner = await service.ClientForNewUserAsync();

        using var response = await owner.GetAsync($"{ProjectTestData.Path}?sort=title&include_deleted=1&limit=0&q=");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(
            ["include_deleted", "limit", "q", "sort"],
            problem.GetProperty("errors").EnumerateObject().Select(error => error.Name).Order(StringComparer.Ordinal));
    }
}
