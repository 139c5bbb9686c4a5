using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

/// <summary>Tasks arranged for the query tests: created through the API, then moved in the database where the API cannot (yet).</summary>
internal static class TaskQueryFixtures
{
    public const string Path = "/api/v1/tasks";

    /// <summary>A word of letters only, unique to one test, so full-text queries and prefixes find only that test's tasks.</summary>
    public static string Tag() => "zq" + new string(Guid.NewGuid().ToString("N").Select(c => (char)('a' + c % 26)).Take(10).ToArray());

    public static JsonObject Task(string title, string? description = null, string? kind = null, int? priority = null,
        string? concurrencyKey = null, Guid? assigneeId = null, DateTime? scheduledAt = null)
    {
        var task = new JsonObject { ["title"] = title };
        if (description is not null) task["description"] = description;
        if (kind is not null) task["kind"] = kind;
        if (priority is not null) task["priority"] = priority;
        if (concurrencyKey is not null) task["concurrency_key"] = concurrencyKey;
        if (assigneeId is not null) task["assignee_id"] = assigneeId.ToString();
        if (scheduledAt is not null) task["scheduled_at"] = scheduledAt.Value.ToString("O");
        return task;
    }

    /// <summary>Creates the tasks in one bulk request (in order) and returns their ids.</summary>
    public static async Task<List<Guid>> CreateTasksAsync(this HttpClient client, Guid project, params JsonObject[] tasks)
    {
        using var response = await client.PostAsync($"{Path}/bulk", TestJson.Raw(new JsonObject
        {
            ["project_id"] = project.ToString(),
            ["tasks"] = new JsonArray(tasks.Select(task => (JsonNode)task.DeepClone()).ToArray()),
        }.ToJsonString()));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("tasks").EnumerateArray()
            .Select(task => task.GetProperty("id").GetGuid()).ToList();
    }

    public static async Task<JsonElement> GetPageAsync(this HttpClient client, string url)
    {
        using var response = await client.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{url}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Every item of every page, following next_cursor from <paramref name="url"/> to the end.</summary>
    public static async Task<List<JsonElement>> AllPagesAsync(this HttpClient client, string url)
    {
        var items = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var page = await client.GetPageAsync(cursor is null ? url : $"{url}&cursor={Uri.EscapeDataString(cursor)}");
            items.AddRange(page.GetProperty("data").EnumerateArray());
            var next = page.GetProperty("next_cursor");
            cursor = next.ValueKind == JsonValueKind.String ? next.GetString() : null;
            Assert.Equal(cursor is not null, page.GetProperty("has_more").GetBoolean());
        }
        while (cursor is not null);
        return items;
    }

    public static List<string> Titles(this IEnumerable<JsonElement> items) =>
        items.Select(item => item.GetProperty("title").GetString()!).ToList();
}

public sealed class ListTasksTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private const string Path = TaskQueryFixtures.Path;

    private async Task<(HttpClient Client, TestAccount Account, Guid Project)> MemberWithProjectAsync()
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        return (await service.ClientForAsync(account), account, project);
    }

    [Fact]
    public async Task OnlyTasksOfProjectsTheCallerMayReadAreListed()
    {
        var (alice, aliceAccount, aliceProject) = await MemberWithProjectAsync();
        var (bob, _, bobProject) = await MemberWithProjectAsync();
        var viewerOfBob = await service.CreateUserAsync();
        var shared = await service.CreateProjectAsync(aliceAccount, (viewerOfBob, "viewer"));
        await alice.CreateTasksAsync(aliceProject, TaskQueryFixtures.Task("alice 1"), TaskQueryFixtures.Task("alice 2"));
        await alice.CreateTasksAsync(shared, TaskQueryFixtures.Task("shared"));
        await bob.CreateTasksAsync(bobProject, TaskQueryFixtures.Task("bob"));
        using var viewer = await service.ClientForAsync(viewerOfBob);

        var seenByAlice = await alice.AllPagesAsync($"{Path}?sort=title&limit=1");
        var seenByViewer = await viewer.AllPagesAsync($"{Path}?sort=title");
        var bobsProjectAsAlice = await alice.AllPagesAsync($"{Path}?project_id={bobProject}");

        Assert.Equal(["alice 1", "alice 2", "shared"], seenByAlice.Titles());
        Assert.Equal(["shared"], seenByViewer.Titles());
        Assert.Empty(bobsProjectAsAlice);
    }

    [Fact]
    public async Task AListedOrFoundTaskSaysWhatItWaitsOnAsItsOwnPageDoes()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var tag = TaskQueryFixtures.Tag();
        var ids = await client.CreateTasksAsync(project,
            TaskQueryFixtures.Task($"later {tag}", scheduledAt: DateTime.UtcNow.AddHours(2)), TaskQueryFixtures.Task($"now {tag}"));
        using var own = await client.GetAsync($"{Path}/{ids[0]}");
        var expected = (await own.ReadJsonAsync()).GetProperty("waiting_on").GetProperty("scheduled_at").GetString();

        var listed = await client.AllPagesAsync($"{Path}?project_id={project}&sort=title");
        var found = await client.AllPagesAsync($"{Path}/search?q={tag}&project_id={project}");

        foreach (var items in new[] { listed, found })
        {
            var later = items.Single(item => item.GetProperty("id").GetGuid() == ids[0]);
            Assert.Equal(expected, later.GetProperty("waiting_on").GetProperty("scheduled_at").GetString());
            var now = items.Single(item => item.GetProperty("id").GetGuid() == ids[1]);
            Assert.False(now.TryGetProperty("waiting_on", out var none) && none.ValueKind != JsonValueKind.Null);
        }
    }

    [Fact]
    public async Task EachFilterNarrowsTheListToTheTasksItNames()
    {
        var (client, account, project) = await MemberWithProjectAsync();
        var assignee = await service.CreateUserAsync();
        var other = await service.CreateProjectAsync(account);
        var soon = DateTime.UtcNow.AddHours(2);
        var ids = await client.CreateTasksAsync(project,
            TaskQueryFixtures.Task("a", kind: "etl.load", priority: 10, concurrencyKey: "pool-1"),
            TaskQueryFixtures.Task("b", kind: "ci.build", priority: 60, assigneeId: assignee.Id, scheduledAt: soon),
            TaskQueryFixtures.Task("c", kind: "ci.build", priority: 90, scheduledAt: soon.AddHours(2)));
        var otherIds = await client.CreateTasksAsync(other, TaskQueryFixtures.Task("d"));
        await service.ExecuteSqlAsync("UPDATE tasks SET status = 'running', started_at = now() WHERE id = $1", ids[0]);
        await service.ExecuteSqlAsync("UPDATE tasks SET status = 'paused' WHERE id = $1", ids[1]);

        async Task<List<string>> TitlesAsync(string filter) =>
            (await client.AllPagesAsync($"{Path}?sort=title&{filter}")).Titles();

        Assert.Equal(["a", "b"], await TitlesAsync("status=running,paused"));
        Assert.Equal(["c", "d"], await TitlesAsync("status=pending"));
        Assert.Equal(["b", "c"], await TitlesAsync("kind=ci.build"));
        Assert.Equal(["d"], await TitlesAsync($"project_id={other}"));
        Assert.Equal(["d"], await TitlesAsync($"batch_id={await service.ScalarAsync<Guid>("SELECT batch_id FROM tasks WHERE id = $1", otherIds[0])}"));
        Assert.Equal(["b"], await TitlesAsync($"assignee_id={assignee.Id}"));
        Assert.Equal(["a"], await TitlesAsync("concurrency_key=pool-1"));
        Assert.Equal(["b", "c"], await TitlesAsync("priority_min=60"));
        Assert.Equal(["c"], await TitlesAsync($"scheduled_after={Uri.EscapeDataString(soon.AddHours(1).ToString("O"))}"));
        Assert.Equal(["b"], await TitlesAsync($"scheduled_before={Uri.EscapeDataString(soon.AddHours(1).ToString("O"))}"));
        Assert.Equal(["b"], await TitlesAsync($"kind=ci.build&priority_min=50&scheduled_before={Uri.EscapeDataString(soon.AddHours(1).ToString("O"))}"));
    }

    [Fact]
    public async Task TimeFiltersAreExclusiveBoundsOnCreatedAndUpdatedAt()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var ids = await client.CreateTasksAsync(project, TaskQueryFixtures.Task("old"), TaskQueryFixtures.Task("middle"), TaskQueryFixtures.Task("new"));
        var day = new DateTime(2025, 3, 10, 12, 0, 0, DateTimeKind.Utc);
        await service.ExecuteSqlAsync("UPDATE tasks SET created_at = $2 WHERE id = $1", ids[0], new DateTime(2025, 3, 9, 12, 0, 0, DateTimeKind.Utc));
        await service.ExecuteSqlAsync("UPDATE tasks SET created_at = $2 WHERE id = $1", ids[1], new DateTime(2025, 3, 10, 12, 0, 0, DateTimeKind.Utc));
        await service.ExecuteSqlAsync("UPDATE tasks SET created_at = $2 WHERE id = $1", ids[2], new DateTime(2025, 3, 11, 12, 0, 0, DateTimeKind.Utc));
        var updatedCutoff = DateTime.UtcNow;
        await service.ExecuteSqlAsync("UPDATE tasks SET priority = 51 WHERE id = $1", ids[2]); // the version trigger moves updated_at to now()

        async Task<List<string>> TitlesAsync(string filter) =>
            (await client.AllPagesAsync($"{Path}?sort=created_at&{filter}")).Titles();

        Assert.Equal(["middle", "new"], await TitlesAsync("created_after=2025-03-10"));
        Assert.Equal(["new"], await TitlesAsync($"created_after={day:yyyy-MM-dd'T'HH:mm:ss'Z'}"));
        Assert.Equal(["old"], await TitlesAsync($"created_before={day:yyyy-MM-dd'T'HH:mm:ss'Z'}"));
        Assert.Equal(["new"], await TitlesAsync($"updated_after={Uri.EscapeDataString(updatedCutoff.ToString("O"))}"));
    }

    [Fact]
    public async Task DeletedTasksAreListedOnlyWithIncludeDeleted()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var ids = await client.CreateTasksAsync(project, TaskQueryFixtures.Task("kept"), TaskQueryFixtures.Task("deleted"));
        await service.ExecuteSqlAsync("UPDATE tasks SET deleted_at = now() WHERE id = $1", ids[1]);

        Assert.Equal(["kept"], (await client.AllPagesAsync($"{Path}?sort=title")).Titles());
        Assert.Equal(["deleted", "kept"], (await client.AllPagesAsync($"{Path}?sort=title&include_deleted=true")).Titles());
    }

    [Fact]
    public async Task PagesInMixedDirectionsFollowEachOtherWithoutGapsOrRepeats()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var tasks = Enumerable.Range(0, 9).Select(i => TaskQueryFixtures.Task($"t{i}", priority: i % 3 * 10)).ToArray();
        await client.CreateTasksAsync(project, tasks);
        var expected = Enumerable.Range(0, 9).OrderByDescending(i => i % 3).ThenBy(i => $"t{i}", StringComparer.Ordinal).Select(i => $"t{i}").ToList();

        var mixed = await client.AllPagesAsync($"{Path}?sort=-priority,title&limit=2");
        var byId = await client.AllPagesAsync($"{Path}?sort=id&limit=4");
        var newestFirst = await client.AllPagesAsync($"{Path}?limit=3");

        Assert.Equal(expected, mixed.Titles());
        Assert.Equal(9, byId.Select(item => item.GetProperty("id").GetString()).Distinct().Count());
        Assert.Equal(byId.Select(item => item.GetProperty("id").GetString()).Reverse(), newestFirst.Select(item => item.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task ScheduledAtSortsNullsLastInBothDirections()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var soon = DateTime.UtcNow.AddHours(1);
        await client.CreateTasksAsync(project,
            TaskQueryFixtures.Task("unscheduled 1"),
            TaskQueryFixtures.Task("later", scheduledAt: soon.AddHours(1)),
            TaskQueryFixtures.Task("unscheduled 2"),
            TaskQueryFixtures.Task("sooner", scheduledAt: soon));

        var ascending = (await client.AllPagesAsync($"{Path}?sort=scheduled_at&limit=1")).Titles();
        var descending = (await client.AllPagesAsync($"{Path}?sort=-scheduled_at&limit=1")).Titles();

        Assert.Equal(["sooner", "later"], ascending[..2]);
        Assert.Equal(["later", "sooner"], descending[..2]);
        Assert.Equal(["unscheduled 1", "unscheduled 2"], ascending[2..].Order());
        Assert.Equal(["unscheduled 1", "unscheduled 2"], descending[2..].Order());
    }

    [Fact]
    public async Task StatusAndUpdatedAtSortsPageThroughEveryTaskOnce()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var ids = await client.CreateTasksAsync(project, Enumerable.Range(0, 5).Select(i => TaskQueryFixtures.Task($"s{i}")).ToArray());
        await service.ExecuteSqlAsync("UPDATE tasks SET status = 'running', started_at = now() WHERE id = $1", ids[1]);
        await service.ExecuteSqlAsync("UPDATE tasks SET status = 'paused' WHERE id = $1", ids[3]);

        var byStatus = (await client.AllPagesAsync($"{Path}?sort=status,-title&limit=2")).Titles();
        var byUpdated = (await client.AllPagesAsync($"{Path}?sort=-updated_at&limit=2")).Titles();

        Assert.Equal(["s3", "s4", "s2", "s0", "s1"], byStatus);
        Assert.Equal(5, byUpdated.Distinct().Count());
        Assert.Equal(["s3", "s1"], byUpdated[..2]);
    }

    [Fact]
    public async Task QKeepsTheChosenOrderAndMatchesWordsOfTitleOrDescription()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        var tag = TaskQueryFixtures.Tag();
        await client.CreateTasksAsync(project,
            TaskQueryFixtures.Task($"Deploying {tag} service", priority: 1),
            TaskQueryFixtures.Task("Unrelated", description: $"deploy the {tag} stack", priority: 2),
            TaskQueryFixtures.Task($"Build {tag} image", priority: 3));

        var matches = (await client.AllPagesAsync($"{Path}?q={Uri.EscapeDataString($"deploy {tag}")}&sort=-priority")).Titles();

        Assert.Equal(["Unrelated", $"Deploying {tag} service"], matches);
    }

    [Fact]
    public async Task FieldsSelectTheFieldsEachItemCarries()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        await client.CreateTasksAsync(project, TaskQueryFixtures.Task("only"));

        var page = await client.GetPageAsync($"{Path}?fields=id,title,scheduled_at");

        var item = Assert.Single(page.GetProperty("data").EnumerateArray());
        Assert.Equal(["id", "title", "scheduled_at"], item.EnumerateObject().Select(property => property.Name));
        Assert.Equal(JsonValueKind.Null, item.GetProperty("scheduled_at").ValueKind);
    }

    [Theory]
    [InlineData("status=done", "status")]
    [InlineData("status=pending,", "status")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=201", "limit")]
    [InlineData("limit=-1", "limit")]
    [InlineData("limit=ten", "limit")]
    [InlineData("created_after=yesterday", "created_after")]
    [InlineData("created_before=2025-13-01", "created_before")]
    [InlineData("updated_after=2025-01-01T25:00:00Z", "updated_after")]
    [InlineData("scheduled_after=1700000000", "scheduled_after")]
    [InlineData("scheduled_before=now", "scheduled_before")]
    [InlineData("sort=rank", "sort")]
    [InlineData("sort=-created_at,created_at", "sort")]
    [InlineData("fields=id,secret", "fields")]
    [InlineData("priority_min=101", "priority_min")]
    [InlineData("priority_min=high", "priority_min")]
    [InlineData("project_id=42", "project_id")]
    [InlineData("assignee_id=me", "assignee_id")]
    [InlineData("batch_id=%27%3B--", "batch_id")]
    [InlineData("include_deleted=yes", "include_deleted")]
    [InlineData("q=", "q")]
    [InlineData("q=%20%20", "q")]
    [InlineData("cursor=not-a-cursor", "cursor")]
    public async Task MalformedParametersAreA400NamingEachOne(string query, string parameter)
    {
        var (client, _, _) = await MemberWithProjectAsync();

        using var response = await client.GetAsync($"{Path}?{query}");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.NotEmpty(problem.Errors(parameter));
    }

    [Fact]
    public async Task AQueryOfMoreThanFiveHundredCharactersIsA400()
    {
        var (client, _, _) = await MemberWithProjectAsync();

        using var response = await client.GetAsync($"{Path}?q={new string('a', 1024)}");

        Assert.NotEmpty((await response.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("q"));
    }

    [Fact]
    public async Task ACursorReusedWithOtherFiltersOrAnotherSortIsRejected()
    {
        var (client, _, project) = await MemberWithProjectAsync();
        await client.CreateTasksAsync(project, TaskQueryFixtures.Task("a"), TaskQueryFixtures.Task("b"));
        var cursor = (await client.GetPageAsync($"{Path}?status=pending&limit=1")).GetProperty("next_cursor").GetString()!;

        using var otherFilter = await client.GetAsync($"{Path}?status=running&limit=1&cursor={cursor}");
        using var otherSort = await client.GetAsync($"{Path}?status=pending&sort=title&limit=1&cursor={cursor}");
        using var forged = await client.GetAsync($"{Path}?status=pending&limit=1&cursor={cursor[..^2]}AA");
        using var sameQuery = await client.GetAsync($"{Path}?status=pending&limit=5&cursor={cursor}");

        Assert.Equal([CursorCodec.OtherQuery], (await otherFilter.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("cursor"));
        Assert.Equal([CursorCodec.OtherQuery], (await otherSort.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("cursor"));
        Assert.Equal([CursorCodec.Invalid], (await forged.AssertProblemAsync(HttpStatusCode.BadRequest)).Errors("cursor"));
        Assert.Equal(HttpStatusCode.OK, sameQuery.StatusCode);
    }

    [Theory]
    [InlineData("'; DROP TABLE tasks; --")]
    [InlineData("%_\\")]
    [InlineData("!!! & | :*")]
    [InlineData("\"unclosed phrase")]
    [InlineData("-")]
    [InlineData("a:* & !b | (c")]
    public async Task SqlAndQueryMetacharactersInQAreSearchedAsText(string q)
    {
        var (client, _, project) = await MemberWithProjectAsync();
        await client.CreateTasksAsync(project, TaskQueryFixtures.Task("survivor"));

        using var response = await client.GetAsync($"{Path}?q={Uri.EscapeDataString(q)}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["survivor"], (await client.AllPagesAsync($"{Path}?sort=title")).Titles());
    }
}
