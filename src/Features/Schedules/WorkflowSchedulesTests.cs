using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Cluster;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Schedules;

/// <summary>
/// Schedules that start a workflow run with fixed parameters. A schedule is created disabled and armed straight in the
/// database with past fire times, which the leader of the fast cluster (polling every second) then fires.
/// </summary>
public sealed class WorkflowSchedulesTests(FastClusterFixture service) : IClassFixture<FastClusterFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private const string Pipeline = """
        name: nightly
        parameters:
          regions: {type: array, items: {type: string}, default: [eu]}
          limit: {type: integer, minimum: 1, maximum: 10, default: 3}
        tasks:
          - key: extract
            for_each: "{{ params.regions }}"
            title: "Extract {{ item }}"
            max_retries: "{{ params.limit }}"
          - key: merge
            title: Merge
            depends_on: [extract]
        """;

    private async Task<(HttpClient Client, Guid ProjectId)> EditorWithProjectAsync()
    {
        var account = await service.CreateUserAsync();
        return (await service.ClientForAsync(account), await service.CreateProjectAsync(account));
    }

    private static JsonObject Body(Guid project, JsonNode? workflow, JsonNode? task = null) => new()
    {
        ["project_id"] = project.ToString(),
        ["cron"] = "* * * * *",
        ["timezone"] = "UTC",
        ["enabled"] = false,
        ["catch_up_seconds"] = 3600,
        ["workflow"] = workflow,
        ["task"] = task,
    };

    private static JsonObject Target(Guid workflow, JsonObject? values) =>
        new() { ["workflow_id"] = workflow.ToString(), ["params"] = values };

    private static async Task<JsonElement> CreateAsync(HttpClient client, JsonObject body, HttpStatusCode expected)
    {
        using var response = await client.PostAsync("/api/v1/schedules", TestJson.Raw(body.ToJsonString()));
        if (expected == HttpStatusCode.Created)
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            return await response.ReadJsonAsync();
        }
        return await response.AssertProblemAsync(expected);
    }

    /// <summary>Arms the schedule with the fire times of the last two whole minutes; returns the later one.</summary>
    private async Task<DateTime> ArmWithTwoPastFiresAsync(Guid scheduleId)
    {
        var now = (await service.ScalarAsync<DateTime>("SELECT now()")).ToUniversalTime();
        var lastMinute = new DateTime(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, DateTimeKind.Utc);
        await service.ScalarAsync<long>(
            "WITH armed AS (UPDATE schedules SET enabled = true, next_fire_at = $2 WHERE id = $1 RETURNING 1) SELECT count(*) FROM armed",
            scheduleId, lastMinute.AddMinutes(-1));
        return lastMinute;
    }

    private async Task<List<string>> WaitForFiresAsync(Guid scheduleId, DateTime upTo, int count)
    {
        return await Eventually.Until(() => service.QueryTextAsync(
                "SELECT status || ':' || coalesce(reason, batch_id::text) FROM schedule_fires WHERE schedule_id = $1 AND fire_time <= $2 ORDER BY fire_time",
                scheduleId, upTo),
            fires => fires.Count >= count, fires => $"{fires.Count} of {count} fires recorded", Patience, TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task AWorkflowScheduleStartsARunWithItsFixedParamsAndSkipsTheNextFireWhileTheRunIsUnfinished()
    {
        var (client, project) = await EditorWithProjectAsync();
        var workflow = await client.CreateWorkflowAsync(project, Pipeline);
        var created = await CreateAsync(client, Body(project, Target(workflow, new JsonObject { ["regions"] = new JsonArray("north", "south") })),
            HttpStatusCode.Created);
        var scheduleId = Guid.Parse(created.GetProperty("id").GetString()!);
        Assert.False(created.TryGetProperty("task", out _));
        Assert.Equal(workflow.ToString(), created.GetProperty("workflow").GetProperty("workflow_id").GetString());

        var lastMinute = await ArmWithTwoPastFiresAsync(scheduleId);
        var fires = await WaitForFiresAsync(scheduleId, lastMinute, 2);

        Assert.StartsWith("created:", fires[0]);
        Assert.Equal("skipped:overlap", fires[1]);
        var batch = fires[0]["created:".Length..];
        using var listed = await client.GetAsync($"/api/v1/workflows/{workflow}/runs");
        var run = Assert.Single((await listed.ReadJsonAsync()).GetProperty("data").EnumerateArray());
        Assert.Equal(batch, run.GetProperty("batch_id").GetString());
        Assert.Equal(3, run.GetProperty("total").GetInt32());
        var titles = await service.QueryTextAsync("SELECT title FROM tasks WHERE batch_id = $1::uuid ORDER BY title", batch);
        Assert.Equal(["Extract north", "Extract south", "Merge"], titles);
        Assert.Equal(1L, await service.ScalarAsync<long>(
            "SELECT count(*) FROM workflow_runs WHERE batch_id = $1::uuid AND params->>'limit' = '3'", batch));
    }

    [Fact]
    public async Task AFireWhoseWorkflowWasDeletedIsRecordedAsAFailedFire()
    {
        var (client, project) = await EditorWithProjectAsync();
        var workflow = await client.CreateWorkflowAsync(project, Pipeline);
        var created = await CreateAsync(client, Body(project, Target(workflow, null)), HttpStatusCode.Created);
        var scheduleId = Guid.Parse(created.GetProperty("id").GetString()!);
        using (var deleted = await client.DeleteAsync($"/api/v1/workflows/{workflow}"))
            Assert.True(deleted.IsSuccessStatusCode, deleted.StatusCode.ToString());

        var lastMinute = await ArmWithTwoPastFiresAsync(scheduleId);
        var fires = await WaitForFiresAsync(scheduleId, lastMinute, 2);

        Assert.Equal(["skipped:invalid_workflow", "skipped:invalid_workflow"], fires);
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM workflow_runs WHERE workflow_id = $1", workflow));
    }

    [Fact]
    public async Task AScheduleNamesExactlyOneOfTaskAndWorkflow()
    {
        var (client, project) = await EditorWithProjectAsync();
        var workflow = await client.CreateWorkflowAsync(project, Pipeline);

        var both = await CreateAsync(client, Body(project, Target(workflow, null), new JsonObject { ["title"] = "t" }),
            HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(both.Errors("workflow"));
        var neither = await CreateAsync(client, Body(project, null), HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(neither.Errors("task"));
    }

    [Fact]
    public async Task AnUnknownUnreadableOrOtherProjectsWorkflowIsRefused()
    {
        var account = await service.CreateUserAsync();
        var client = await service.ClientForAsync(account);
        var project = await service.CreateProjectAsync(account);
        var otherProject = await service.CreateProjectAsync(account);
        var ownOther = await client.CreateWorkflowAsync(otherProject, Pipeline);
        var (stranger, strangersProject) = await EditorWithProjectAsync();
        var unreadable = await stranger.CreateWorkflowAsync(strangersProject, Pipeline);

        foreach (var workflow in new[] { Guid.NewGuid(), unreadable, ownOther })
        {
            var problem = await CreateAsync(client, Body(project, Target(workflow, null)), HttpStatusCode.UnprocessableEntity);
            Assert.NotEmpty(problem.Errors("workflow.workflow_id"));
        }
        Assert.Equal(0L, await service.ScalarAsync<long>("SELECT count(*) FROM schedules WHERE project_id = $1", project));
    }

    [Fact]
    public async Task ParamsThatFailTheVersionsSchemaAreRefusedWithTheirPath()
    {
        var (client, project) = await EditorWithProjectAsync();
        var workflow = await client.CreateWorkflowAsync(project, Pipeline);

        var problem = await CreateAsync(client, Body(project, Target(workflow, new JsonObject { ["limit"] = "many" })),
            HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(problem.Errors("workflow.params.limit"));

        var created = await CreateAsync(client, Body(project, Target(workflow, null)), HttpStatusCode.Created);
        using var patched = await client.PatchAsync($"/api/v1/schedules/{created.GetProperty("id").GetString()}",
            TestJson.Raw(new JsonObject { ["workflow"] = Target(workflow, new JsonObject { ["limit"] = 99 }) }.ToJsonString()));
        Assert.NotEmpty((await patched.AssertProblemAsync(HttpStatusCode.UnprocessableEntity)).Errors("workflow.params.limit"));
    }
}
