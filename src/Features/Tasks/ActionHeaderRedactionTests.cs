using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Features.Execution;
using TaskRunner.Features.Webhooks;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Tasks;

/// <summary>Header values of actions are write-only: redacted in every answer and audit diff; the placeholder sent back keeps the value.</summary>
public sealed class ActionHeaderRedactionTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static string Time(DateTime at) => at.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static JsonObject Action(string url, string authorization) => new()
    {
        ["trigger"] = "start", ["url"] = url, ["headers"] = new JsonObject { ["Authorization"] = authorization },
    };

    private static Task<HttpResponseMessage> PatchAsync(EngineWorker owner, string id, JsonObject body) =>
        owner.Client.PatchAsync($"/api/v1/tasks/{id}", TestJson.Raw(body.ToJsonString()));

    /// <summary>An action template sending <c>X-Token: t0ken</c> and a schedule whose action sends <c>Authorization: Bearer sch3dule</c>; their created answers.</summary>
    private static async Task<(string Template, string Schedule)> CreateTemplateAndScheduleWithCredentialsAsync(EngineWorker owner)
    {
        using var template = await owner.PostAsync("/api/v1/action-templates", new JsonObject
        {
            ["project_id"] = owner.ProjectId.ToString(), ["name"] = "with credentials", ["trigger"] = "end",
            ["url"] = "https://hooks.example.com/t", ["headers"] = new JsonObject { ["X-Token"] = "t0ken" },
        });
        using var schedule = await owner.PostAsync("/api/v1/schedules", new JsonObject
        {
            ["project_id"] = owner.ProjectId.ToString(), ["cron"] = "0 0 1 1 *", ["timezone"] = "UTC",
            ["task"] = new JsonObject { ["title"] = "yearly", ["actions"] = new JsonArray(Action("https://hooks.example.com/s", "Bearer sch3dule")) },
        });
        var templateText = await template.Content.ReadAsStringAsync();
        var scheduleText = await schedule.Content.ReadAsStringAsync();
        Assert.True(template.StatusCode == HttpStatusCode.Created, templateText);
        Assert.True(schedule.StatusCode == HttpStatusCode.Created, scheduleText);
        return (templateText, scheduleText);
    }

    [Fact]
    public async Task HeaderValuesAreRedactedInReadsAndAuditAndThePlaceholderSentBackKeepsTheStoredValue()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var owner = await EngineWorker.StartAsync(service);
        var created = await owner.CreateAsync("credentials", body =>
        {
            body["scheduled_at"] = Time(DateTime.UtcNow.AddHours(1));
            body["actions"] = new JsonArray(Action(receiver.Url(), "Bearer s3cret"));
        });
        var id = created.GetProperty("id").GetString()!;
        Assert.Equal(ActionHeaders.Redacted, created.GetProperty("actions")[0].GetProperty("headers").GetProperty("Authorization").GetString());
        using var read = await owner.Client.GetAsync($"/api/v1/tasks/{id}");
        var task = await read.ReadJsonAsync();
        Assert.DoesNotContain("s3cret", task.GetRawText());

        // The actions as read, sent back with other changes: the start moves to now.
        using var patched = await PatchAsync(owner, id, new JsonObject
        {
            ["title"] = "credentials kept", ["scheduled_at"] = Time(DateTime.UtcNow), ["actions"] = JsonNode.Parse(task.GetProperty("actions").GetRawText()),
        });
        var answer = await patched.Content.ReadAsStringAsync();
        Assert.True(patched.StatusCode == HttpStatusCode.OK, answer);
        Assert.DoesNotContain("s3cret", answer);

        var webhook = (await receiver.WaitForAsync(received => received.Count == 1)).Single();
        Assert.Equal("Bearer s3cret", webhook.Header("authorization"));
        var diffs = await service.QueryTextAsync("SELECT coalesce(diff::text, '') FROM audit_log WHERE resource_id = $1", id);
        Assert.NotEmpty(diffs);
        Assert.All(diffs, diff => Assert.DoesNotContain("s3cret", diff));
    }

    [Fact]
    public async Task ThePlaceholderNeverCarriesAValueToAnotherUrlAndAChangedValueIsAuditedUnseen()
    {
        using var owner = await EngineWorker.StartAsync(service);
        var created = await owner.CreateAsync("credentials", body =>
        {
            body["scheduled_at"] = Time(DateTime.UtcNow.AddHours(1));
            body["actions"] = new JsonArray(Action("https://hooks.example.com/a", "Bearer s3cret"));
        });
        var id = created.GetProperty("id").GetString()!;

        using var moved = await PatchAsync(owner, id, new JsonObject
        {
            ["actions"] = new JsonArray(Action("https://elsewhere.example.com/b", ActionHeaders.Redacted)),
        });
        using var changed = await PatchAsync(owner, id, new JsonObject
        {
            ["actions"] = new JsonArray(Action("https://hooks.example.com/a", "Bearer n3w")),
        });

        var problem = await moved.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Single(problem.Errors("actions[0].headers.Authorization"));
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        var diff = Assert.Single(await service.QueryTextAsync(
            "SELECT diff::text FROM audit_log WHERE resource_id = $1 AND action = 'task.update'", id));
        Assert.Contains("\"actions\"", diff);
        Assert.DoesNotContain("s3cret", diff);
        Assert.DoesNotContain("n3w", diff);
    }

    [Fact]
    public async Task TemplateAndScheduleReadsRedactHeaderValues()
    {
        using var owner = await EngineWorker.StartAsync(service);
        var (templateText, scheduleText) = await CreateTemplateAndScheduleWithCredentialsAsync(owner);

        Assert.DoesNotContain("t0ken", templateText);
        Assert.Contains(ActionHeaders.Redacted, templateText);
        Assert.DoesNotContain("sch3dule", scheduleText);
        Assert.Contains(ActionHeaders.Redacted, scheduleText);
    }

    [Fact]
    public async Task ThePlaceholderSentBackToATemplateOrScheduleKeepsTheStoredValueAndNeverFollowsAnotherUrl()
    {
        using var owner = await EngineWorker.StartAsync(service);
        var (templateText, scheduleText) = await CreateTemplateAndScheduleWithCredentialsAsync(owner);
        var templateId = JsonNode.Parse(templateText)!["template"]!["id"]!.GetValue<string>();
        var scheduleId = JsonNode.Parse(scheduleText)!["id"]!.GetValue<string>();

        using var templateKept = await owner.Client.PatchAsync($"/api/v1/action-templates/{templateId}", TestJson.Raw(new JsonObject
        {
            ["name"] = "renamed", ["headers"] = new JsonObject { ["X-Token"] = ActionHeaders.Redacted, ["X-New"] = "plain" },
        }.ToJsonString()));
        using var templateMoved = await owner.Client.PatchAsync($"/api/v1/action-templates/{templateId}", TestJson.Raw(new JsonObject
        {
            ["url"] = "https://elsewhere.example.com/t", ["headers"] = new JsonObject { ["X-Token"] = ActionHeaders.Redacted },
        }.ToJsonString()));
        using var scheduleKept = await owner.Client.PatchAsync($"/api/v1/schedules/{scheduleId}", TestJson.Raw(new JsonObject
        {
            ["task"] = new JsonObject { ["title"] = "yearly, renamed", ["actions"] = new JsonArray(Action("https://hooks.example.com/s", ActionHeaders.Redacted)) },
        }.ToJsonString()));
        using var scheduleMoved = await owner.Client.PatchAsync($"/api/v1/schedules/{scheduleId}", TestJson.Raw(new JsonObject
        {
            ["task"] = new JsonObject { ["title"] = "yearly", ["actions"] = new JsonArray(Action("https://elsewhere.example.com/s", ActionHeaders.Redacted)) },
        }.ToJsonString()));

        Assert.Equal(HttpStatusCode.OK, templateKept.StatusCode);
        Assert.Equal(HttpStatusCode.OK, scheduleKept.StatusCode);
        var templateProblem = await templateMoved.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.True(templateProblem.GetProperty("errors").TryGetProperty("headers.X-Token", out _), templateProblem.GetRawText());
        var scheduleProblem = await scheduleMoved.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.True(scheduleProblem.GetProperty("errors").TryGetProperty("task.actions[0].headers.Authorization", out _), scheduleProblem.GetRawText());
        Assert.Equal(["{\"X-New\": \"plain\", \"X-Token\": \"t0ken\"}|https://hooks.example.com/t"],
            await service.QueryTextAsync("SELECT headers::text || '|' || url FROM action_templates WHERE id = $1", Guid.Parse(templateId)));
        Assert.Equal(["Bearer sch3dule|yearly, renamed"],
            await service.QueryTextAsync("SELECT (task_template -> 'actions' -> 0 -> 'headers' ->> 'Authorization') || '|' || (task_template ->> 'title') FROM schedules WHERE id = $1",
                Guid.Parse(scheduleId)));
    }
}
