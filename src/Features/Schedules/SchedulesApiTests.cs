using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Schedules;

public sealed class SchedulesApiTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private async Task<(HttpClient Client, TestAccount Account, Guid ProjectId)> EditorWithProjectAsync()
    {
        var account = await service.CreateUserAsync();
        var project = await service.CreateProjectAsync(account);
        return (await service.ClientForAsync(account), account, project);
    }

    private static JsonObject Body(Guid projectId, string cron = "0 9 * * 1-5", string timezone = "Europe/Berlin") => new()
    {
        ["project_id"] = projectId.ToString(),
        ["cron"] = cron,
        ["timezone"] = timezone,
        ["task"] = new JsonObject { ["title"] = "Nightly export", ["kind"] = "export", ["metadata"] = new JsonObject { ["target"] = "s3" } },
    };

    private static async Task<JsonElement> SendAsync(HttpClient client, HttpMethod method, string url, JsonObject? body, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(method, url) { Content = body is null ? null : TestJson.Raw(body.ToJsonString()) };
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    private static Task<JsonElement> CreateAsync(HttpClient client, JsonObject body, HttpStatusCode expected = HttpStatusCode.Created) =>
        SendAsync(client, HttpMethod.Post, "/api/v1/schedules", body, expected);

    [Fact]
    public async Task ACreatedScheduleHasItsNextFireTimeInItsTimeZoneAndAnAuditEntry()
    {
        var (client, account, project) = await EditorWithProjectAsync();

        using var response = await client.PostAsync("/api/v1/schedules", TestJson.Raw(Body(project, "30 2 * * *").ToJsonString()));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var schedule = await response.ReadJsonAsync();
        var id = schedule.GetProperty("id").GetString();
        Assert.Equal($"/api/v1/schedules/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal("skip", schedule.GetProperty("overlap_policy").GetString());
        Assert.Equal(300, schedule.GetProperty("catch_up_seconds").GetInt32());
        Assert.True(schedule.GetProperty("enabled").GetBoolean());
        Assert.Equal("Nightly export", schedule.GetProperty("task").GetProperty("title").GetString());
        Assert.Equal(account.Id.ToString(), schedule.GetProperty("created_by").GetString());
        var next = schedule.GetProperty("next_fire_at").GetDateTime().ToUniversalTime();
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        var local = TimeZoneInfo.ConvertTimeFromUtc(next, berlin);
        // 02:30 Berlin time, or 03:00 on a spring-forward day.
        Assert.True(local.TimeOfDay == new TimeSpan(2, 30, 0) || local.TimeOfDay == new TimeSpan(3, 0, 0), $"next fire at {local} Berlin time");
        Assert.InRange(next, DateTime.UtcNow, DateTime.UtcNow.AddDays(1).AddHours(1));
        Assert.Equal(1, await service.ScalarAsync<long>(
            "SELECT count(*) FROM audit_log WHERE action = 'schedule.create' AND resource_id = $1", id!));
    }

    [Fact]
    public async Task EveryInvalidFieldIncludingTheTemplateIsReportedAtOnce()
    {
        var (client, _, project) = await EditorWithProjectAsync();
        var body = new JsonObject
        {
            ["project_id"] = project.ToString(),
            ["cron"] = "61 * * * *",
            ["timezone"] = "Mars/Olympus",
            ["overlap_policy"] = "queue",
            ["catch_up_seconds"] = -1,
            ["task"] = new JsonObject
            {
                ["project_id"] = project.ToString(),
                ["title"] = "",
                ["priority"] = 101,
                ["depends_on"] = new JsonArray(Guid.NewGuid().ToString()),
                ["dedupe_key"] = "nightly",
                ["actions"] = new JsonArray(new JsonObject { ["trigger"] = "later", ["url"] = "https://example.com/hook" }),
            },
        };

        var problem = await CreateAsync(client, body, HttpStatusCode.UnprocessableEntity);

        var errors = problem.GetProperty("errors");
        foreach (var field in new[]
        {
            "cron", "timezone", "overlap_policy", "catch_up_seconds", "task.project_id", "task.title", "task.priority",
            "task.depends_on", "task.dedupe_key", "task.actions[0].trigger",
        })
            Assert.True(errors.TryGetProperty(field, out _), $"no error for {field}: {errors}");
    }

    [Fact]
    public async Task ATemplateWhoseFollowUpsLeaveConditionsOutIsStoredAsSent()
    {
        var (client, _, project) = await EditorWithProjectAsync();
        var body = Body(project);
        body["task"]!["actions"] = new JsonArray(new JsonObject
        {
            ["trigger"] = "end",
            ["url"] = "https://example.com/hook",
            ["then"] = new JsonArray(
                new JsonObject { ["when"] = new JsonObject { ["outcome"] = "dead" }, ["url"] = "https://example.com/dead" },
                new JsonObject
                {
                    ["when"] = new JsonObject { ["json"] = new JsonArray(new JsonObject { ["path"] = "result.state", ["exists"] = true }) },
                    ["url"] = "https://example.com/state",
                }),
        });

        var schedule = await CreateAsync(client, body);

        var followUps = schedule.GetProperty("task").GetProperty("actions")[0].GetProperty("then");
        Assert.Equal(["outcome"], followUps[0].GetProperty("when").EnumerateObject().Select(field => field.Name));
        Assert.Equal("dead", followUps[0].GetProperty("when").GetProperty("outcome").GetString());
        var test = Assert.Single(followUps[1].GetProperty("when").GetProperty("json").EnumerateArray());
        Assert.Equal(["exists", "path"], test.EnumerateObject().Select(field => field.Name).Order());
        Assert.True(test.GetProperty("exists").GetBoolean());
    }

    [Fact]
    public async Task ACronExpressionThatNeverFiresIsRefused()
    {
        var (client, _, project) = await EditorWithProjectAsync();

        var problem = await CreateAsync(client, Body(project, "0 0 30 2 *"), HttpStatusCode.UnprocessableEntity);

        Assert.Equal(["never fires: no date matches it"], problem.Errors("cron"));
    }

    [Fact]
    public async Task OnlyProjectEditorsCreateSchedulesAndOutsidersDoNotSeeTheProject()
    {
        var (_, owner, project) = await EditorWithProjectAsync();
        var viewer = await service.CreateUserAsync();
        await service.ExecuteSqlAsync("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'viewer')", project, viewer.Id);
        var viewerClient = await service.ClientForAsync(viewer);
        var outsider = await service.ClientForNewUserAsync();

        using var forbidden = await viewerClient.PostAsync("/api/v1/schedules", TestJson.Raw(Body(project).ToJsonString()));
        await forbidden.AssertProblemAsync(HttpStatusCode.Forbidden);
        var unknown = await CreateAsync(outsider, Body(project), HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["no such project"], unknown.Errors("project_id"));

        var created = await CreateAsync(await service.ClientForAsync(owner), Body(project));
        var id = created.GetProperty("id").GetString();
        await SendAsync(viewerClient, HttpMethod.Get, $"/api/v1/schedules/{id}", null, HttpStatusCode.OK);
        await SendAsync(viewerClient, HttpMethod.Patch, $"/api/v1/schedules/{id}", new JsonObject { ["enabled"] = false }, HttpStatusCode.Forbidden);
        await SendAsync(outsider, HttpMethod.Get, $"/api/v1/schedules/{id}", null, HttpStatusCode.NotFound);
        await SendAsync(outsider, HttpMethod.Delete, $"/api/v1/schedules/{id}", null, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task EditingTheCronRecomputesTheNextFireAndDisablingClearsIt()
    {
        var (client, _, project) = await EditorWithProjectAsync();
        var created = await CreateAsync(client, Body(project, "0 0 1 1 *", "UTC"));
        var id = created.GetProperty("id").GetString();
        Assert.Equal(1, created.GetProperty("next_fire_at").GetDateTime().ToUniversalTime().Month);

        var edited = await SendAsync(client, HttpMethod.Patch, $"/api/v1/schedules/{id}",
            new JsonObject { ["cron"] = "*/5 * * * *", ["overlap_policy"] = "allow", ["task"] = new JsonObject { ["title"] = "Every five" } },
            HttpStatusCode.OK);
        var next = edited.GetProperty("next_fire_at").GetDateTime().ToUniversalTime();
        Assert.InRange(next, DateTime.UtcNow, DateTime.UtcNow.AddMinutes(5).AddSeconds(1));
        Assert.Equal(0, next.Minute % 5);
        Assert.Equal("allow", edited.GetProperty("overlap_policy").GetString());
        Assert.Equal("Every five", edited.GetProperty("task").GetProperty("title").GetString());

        var disabled = await SendAsync(client, HttpMethod.Patch, $"/api/v1/schedules/{id}", new JsonObject { ["enabled"] = false }, HttpStatusCode.OK);
        Assert.False(disabled.GetProperty("enabled").GetBoolean());
        Assert.False(disabled.TryGetProperty("next_fire_at", out _));
        Assert.Equal(2, await service.ScalarAsync<long>(
            "SELECT count(*) FROM audit_log WHERE action = 'schedule.update' AND resource_id = $1", id!));
    }

    [Fact]
    public async Task AnEditAgainstAStaleVersionIsRefused()
    {
        var (client, _, project) = await EditorWithProjectAsync();
        using var created = await client.PostAsync("/api/v1/schedules", TestJson.Raw(Body(project).ToJsonString()));
        var id = (await created.ReadJsonAsync()).GetProperty("id").GetString();
        var etag = created.Headers.ETag!;
        await SendAsync(client, HttpMethod.Patch, $"/api/v1/schedules/{id}", new JsonObject { ["catch_up_seconds"] = 60 }, HttpStatusCode.OK);

        using var stale = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/schedules/{id}")
        {
            Content = TestJson.Raw(new JsonObject { ["enabled"] = false }.ToJsonString()),
        };
        stale.Headers.IfMatch.Add(new EntityTagHeaderValue(etag.Tag));
        using var response = await client.SendAsync(stale);

        await response.AssertProblemAsync(HttpStatusCode.PreconditionFailed);
    }

    [Fact]
    public async Task ADeletedScheduleIsGoneFromReadsAndStopsFiring()
    {
        var (client, _, project) = await EditorWithProjectAsync();
        var id = (await CreateAsync(client, Body(project))).GetProperty("id").GetString();

        await SendAsync(client, HttpMethod.Delete, $"/api/v1/schedules/{id}", null, HttpStatusCode.NoContent);

        await SendAsync(client, HttpMethod.Get, $"/api/v1/schedules/{id}", null, HttpStatusCode.NotFound);
        var list = await SendAsync(client, HttpMethod.Get, $"/api/v1/schedules?project_id={project}", null, HttpStatusCode.OK);
        Assert.Equal(0, list.GetProperty("data").GetArrayLength());
        Assert.Equal("false", (await service.QueryTextAsync("SELECT enabled::text FROM schedules WHERE id = $1::uuid", id!)).Single());
    }

    [Fact]
    public async Task TheListShowsOnlySchedulesOfReadableProjectsInPages()
    {
        var (client, _, project) = await EditorWithProjectAsync();
        var (otherClient, _, otherProject) = await EditorWithProjectAsync();
        var mine = new List<string>();
        for (var i = 0; i < 3; i++)
            mine.Add((await CreateAsync(client, Body(project))).GetProperty("id").GetString()!);
        var theirs = (await CreateAsync(otherClient, Body(otherProject))).GetProperty("id").GetString();

        var seen = new List<string>();
        var url = "/api/v1/schedules?limit=2";
        while (true)
        {
            var page = await SendAsync(client, HttpMethod.Get, url, null, HttpStatusCode.OK);
            seen.AddRange(page.GetProperty("data").EnumerateArray().Select(item => item.GetProperty("id").GetString()!));
            if (page.GetProperty("next_cursor").ValueKind == JsonValueKind.Null)
                break;
            url = "/api/v1/schedules?limit=2&cursor=" + Uri.EscapeDataString(page.GetProperty("next_cursor").GetString()!);
        }

        Assert.Equal(Enumerable.Reverse(mine), seen);
        Assert.DoesNotContain(theirs, seen);
        var admin = await service.ClientForNewUserAsync(Roles.Admin);
        var adminView = await SendAsync(admin, HttpMethod.Get, $"/api/v1/schedules?project_id={otherProject}", null, HttpStatusCode.OK);
        Assert.Equal(theirs, adminView.GetProperty("data")[0].GetProperty("id").GetString());
    }
}
