using System.Net;
using System.Text.Json;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Tests.Harness;
using Xunit;
using static TaskRunner.Features.Tasks.TaskQueryFixtures;

namespace TaskRunner.Features.Tasks;

public sealed class SearchTasksTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const string SearchPath = "/api/v1/tasks/search";
    private const string SuggestPath = "/api/v1/tasks/search/suggest";

    private async Task<(HttpClient Client, TestAccount Account, Guid Project)> MemberWithProjectAsync()
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        return (await service.ClientForAsync(account), account, project);
    }

    private static Task<List<JsonElement>> SearchAsync(HttpClient client, string q, string more = "") =>
        client.AllPagesAsync($"{SearchPath}?q={Uri.EscapeDataString(q)}{more}");

    private static async Task<List<string>> SuggestAsync(HttpClient client, string prefix)
    {
        var body = await client.GetPageAsync($"{SuggestPath}?q={Uri.EscapeDataString(prefix)}");
        return body.GetProperty("suggestions").EnumerateArray().Select(title => title.GetString()!).ToList();
    }

    [Fact]
    public async Task ATitleMatchRanksAboveADescriptionMatch()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var tag = Tag();
        await client.CreateTasksAsync(project,
            Task("Described only", description: $"this mentions {tag} in passing"),
            Task($"Rotate {tag} keys", description: "quarterly"),
            Task("Nothing here"));

        var hits = await SearchAsync(client, tag);

        Assert.Equal([$"Rotate {tag} keys", "Described only"], hits.Titles());
        Assert.True(hits[0].GetProperty("rank").GetDouble() > hits[1].GetProperty("rank").GetDouble());
    }

    [Fact]
    public async Task PhraseExcludeAndOrFollowWebSearchSyntax()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var tag = Tag();
        await client.CreateTasksAsync(project,
            Task($"{tag} backup database nightly"),
            Task($"{tag} database backup check"),
            Task($"{tag} restore drill"));

        var phrase = await SearchAsync(client, $"{tag} \"backup database\"");
        var excluded = await SearchAsync(client, $"{tag} -restore");
        var either = await SearchAsync(client, $"{tag} drill or nightly");

        Assert.Equal([$"{tag} backup database nightly"], phrase.Titles());
        Assert.Equal([$"{tag} backup database nightly", $"{tag} database backup check"], excluded.Titles().Order());
        Assert.Equal([$"{tag} backup database nightly", $"{tag} restore drill"], either.Titles().Order());
    }

    [Fact]
    public async Task AMisspelledWordFindsTheCorrectlySpelledTitle()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var tag = Tag();
        await client.CreateTasksAsync(project, Task($"Deploy {tag} gateway"), Task($"Deploy {tag} proxy"), Task($"Archive {tag} logs"));

        // One hit per page: the corrected query carries on through the cursor.
        var hits = await SearchAsync(client, $"delpoy {tag}", "&limit=1");
        var exact = await SearchAsync(client, $"deploy {tag}");

        Assert.Equal([$"Deploy {tag} gateway", $"Deploy {tag} proxy"], hits.Titles().Order());
        Assert.Equal([$"Deploy {tag} gateway", $"Deploy {tag} proxy"], exact.Titles().Order());
    }

    [Fact]
    public async Task RankedPagesFollowEachOtherWithoutGapsOrRepeats()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var tag = Tag();
        // Ranks differ (one, two or three occurrences) and tie within each group: the id breaks the ties.
        await client.CreateTasksAsync(project, Enumerable.Range(0, 9)
            .Select(i => Task($"{tag} task {i}", description: string.Join(' ', Enumerable.Repeat(tag, i % 3)))).ToArray());

        var hits = await SearchAsync(client, tag, "&limit=2");

        Assert.Equal(9, hits.Select(hit => hit.GetProperty("id").GetString()).Distinct().Count());
        var ranks = hits.Select(hit => hit.GetProperty("rank").GetDouble()).ToList();
        Assert.Equal(ranks.OrderDescending(), ranks);
    }

    [Fact]
    public async Task HighlightsMarkTheMatchesInEscapedText()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var tag = Tag();
        await client.CreateTasksAsync(project, Task($"<b>{tag}</b> & friends", description: $"long text before {tag} and after"));

        var hit = Assert.Single(await SearchAsync(client, tag));

        var highlights = hit.GetProperty("highlights");
        Assert.Equal($"&lt;b&gt;<mark>{tag}</mark>&lt;/b&gt; &amp; friends", highlights.GetProperty("title").GetString());
        Assert.Contains($"<mark>{tag}</mark>", highlights.GetProperty("description").GetString());
    }

    [Fact]
    public async Task SearchFindsOnlyReadableTasksAndAppliesTheFilters()
    {
        var (alice, _, aliceProject) = await MemberWithProjectAsync();
        var (bob, _, bobProject) = await MemberWithProjectAsync();
        var tag = Tag();
        var ids = await alice.CreateTasksAsync(aliceProject, Task($"{tag} one", priority: 10), Task($"{tag} two", priority: 90));
        await bob.CreateTasksAsync(bobProject, Task($"{tag} secret"));
        await service.ExecuteSqlAsync("UPDATE tasks SET status = 'running', started_at = now() WHERE id = $1", ids[1]);

        Assert.Equal([$"{tag} one", $"{tag} two"], (await SearchAsync(alice, tag)).Titles().Order());
        Assert.Equal([$"{tag} two"], (await SearchAsync(alice, tag, "&status=running")).Titles());
        Assert.Equal([$"{tag} two"], (await SearchAsync(alice, tag, "&priority_min=50")).Titles());
        Assert.Empty(await SearchAsync(alice, $"{tag} secret"));
        Assert.Empty(await SearchAsync(alice, tag, $"&project_id={bobProject}"));
    }

    [Fact]
    public async Task FieldsSelectTaskFieldsRankAndHighlights()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var tag = Tag();
        await client.CreateTasksAsync(project, Task($"{tag} only"));

        var hit = Assert.Single(await SearchAsync(client, tag, "&fields=id,rank,highlights"));

        Assert.Equal(["id", "rank", "highlights"], hit.EnumerateObject().Select(property => property.Name));
    }

    [Fact]
    public async Task SuggestCompletesAPrefixWithDistinctReadableTitles()
    {
        var (alice, _, aliceProject) = await MemberWithProjectAsync();
        var (bob, _, bobProject) = await MemberWithProjectAsync();
        var tag = Tag();
        await alice.CreateTasksAsync(aliceProject,
            Task($"{tag} beta"), Task($"{tag.ToUpperInvariant()} Alpha"), Task($"{tag} beta"), Task($"other {tag}"));
        await alice.CreateTasksAsync(aliceProject, Enumerable.Range(10, 12).Select(i => Task($"{tag} many {i}")).ToArray());
        await bob.CreateTasksAsync(bobProject, Task($"{tag} aaa secret"));

        var suggestions = await SuggestAsync(alice, tag[..5]);

        Assert.Equal(10, suggestions.Count);
        Assert.Equal([$"{tag.ToUpperInvariant()} Alpha", $"{tag} beta", $"{tag} many 10"], suggestions[..3]);
        Assert.DoesNotContain($"{tag} aaa secret", suggestions);
        Assert.Equal([$"{tag} aaa secret"], await SuggestAsync(bob, tag));
    }

    [Theory]
    [InlineData("", "q")]
    [InlineData("q=", "q")]
    [InlineData("q=deploy&sort=title", "sort")]
    [InlineData("q=deploy&limit=0", "limit")]
    [InlineData("q=deploy&status=bogus", "status")]
    [InlineData("q=deploy&created_after=31-01-2025", "created_after")]
    [InlineData("q=deploy&fields=id,score", "fields")]
    [InlineData("q=deploy&cursor=AAAA", "cursor")]
    public async Task MalformedSearchParametersAreA400NamingEachOne(string query, string parameter)
    {
        var (client, _, _) = await MemberWithProjectAsync();

        using var response = await client.GetAsync($"{SearchPath}?{query}");

        Assert.NotEmpty((await response.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors(parameter));
    }

    [Theory]
    [InlineData("")]
    [InlineData("q=")]
    public async Task ASuggestWithoutAPrefixIsA400(string query)
    {
        var (client, _, _) = await MemberWithProjectAsync();

        using var response = await client.GetAsync($"{SuggestPath}?{query}");

        Assert.NotEmpty((await response.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("q"));
    }

    [Fact]
    public async Task OverlongQueriesAreA400()
    {
        var (client, _, _) = await MemberWithProjectAsync();

        using var search = await client.GetAsync($"{SearchPath}?q={new string('x', 1024)}");
        using var suggest = await client.GetAsync($"{SuggestPath}?q={new string('x', 101)}");

        Assert.NotEmpty((await search.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("q"));
        Assert.NotEmpty((await suggest.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("q"));
    }

    [Fact]
    public async Task ASearchCursorOnlyContinuesTheSameQueryAndFilters()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var tag = Tag();
        await client.CreateTasksAsync(project, Task($"{tag} a"), Task($"{tag} b"));
        var cursor = (await client.GetPageAsync($"{SearchPath}?q={tag}&limit=1")).GetProperty("next_cursor").GetString()!;
        var listCursor = (await client.GetPageAsync($"{TaskQueryFixtures.Path}?limit=1")).GetProperty("next_cursor").GetString()!;

        using var otherQuery = await client.GetAsync($"{SearchPath}?q={tag}x&limit=1&cursor={cursor}");
        using var otherFilter = await client.GetAsync($"{SearchPath}?q={tag}&status=running&limit=1&cursor={cursor}");
        using var fromTheList = await client.GetAsync($"{SearchPath}?q={tag}&limit=1&cursor={listCursor}");

        Assert.Equal([CursorCodec.OtherQuery], (await otherQuery.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("cursor"));
        Assert.Equal([CursorCodec.OtherQuery], (await otherFilter.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("cursor"));
        Assert.NotEmpty((await fromTheList.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("cursor"));
    }

    [Theory]
    [InlineData("'; DROP TABLE tasks; --")]
    [InlineData("%_\\")]
    [InlineData("!!! & | :*")]
    [InlineData("the")]
    [InlineData("\"")]
    [InlineData("or or -")]
    public async Task SqlAndQueryMetacharactersAreSearchedAsText(string q)
    {
        var (client, _, project) = await MemberWithProjectAsync();
        await client.CreateTasksAsync(project, Task("survivor"));

        using var search = await client.GetAsync($"{SearchPath}?q={Uri.EscapeDataString(q)}");
        using var suggest = await client.GetAsync($"{SuggestPath}?q={Uri.EscapeDataString(q)}");

        Assert.Equal(HttpStatusCode.OK, search.StatusCode);
        Assert.Equal(HttpStatusCode.OK, suggest.StatusCode);
        Assert.Equal(["survivor"], (await client.AllPagesAsync($"{TaskQueryFixtures.Path}?sort=title")).Titles());
    }
}
