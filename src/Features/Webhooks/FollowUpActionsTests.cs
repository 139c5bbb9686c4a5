using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Webhooks;

public sealed class FollowUpActionsTests(FastDeliveryService service) : IClassFixture<FastDeliveryService>
{
    private static JsonObject FollowUp(JsonObject when, string url) => new() { ["when"] = when, ["url"] = url };

    private static JsonObject WithThen(JsonObject action, params JsonObject[] followUps)
    {
        action["then"] = new JsonArray(followUps.Select(followUp => (JsonNode)followUp).ToArray());
        return action;
    }

    /// <summary>Waits until every delivery of the task has ended (delivered or dead) and there are <paramref name="count"/>.</summary>
    private static Task<List<JsonElement>> WaitForEndedDeliveriesAsync(HttpClient client, Guid taskId, int count) =>
        Eventually.Until(async () => (await client.DeliveriesOfAsync(taskId)).EnumerateArray().ToList(),
            deliveries => deliveries.Count == count && deliveries.All(delivery => delivery.GetProperty("status").GetString() is "delivered" or "dead"),
            deliveries => $"expected {count} ended deliveries, got: {string.Join(", ", deliveries.Select(delivery => delivery.GetRawText()))}",
            TimeSpan.FromSeconds(30));

    [Fact]
    public async Task FollowUpsWhoseConditionsMatchTheAnswerAreSentSignedWithTheAnswerAndTheRestAreNot()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (webhook, _) => webhook.Path == "/check"
            ? new ReceiverAnswer(200, """{"result":{"state":"approved","score":7.0},"items":[{"id":7}]}""")
            : ReceiverAnswer.Ok;
        using var owner = await EngineWorker.StartAsync(service);
        using var rotated = await owner.PostAsync($"/api/v1/projects/{owner.ProjectId}/webhook-secret");
        var secret = (await rotated.ReadJsonAsync()).GetProperty("secret").GetString()!;

        var action = WithThen(WebhookSteps.Action("start", receiver.Url("/check")),
            FollowUp(new JsonObject { ["status"] = 200, ["json"] = new JsonArray(new JsonObject { ["path"] = "result.state", ["equals"] = "approved" }) },
                receiver.Url("/approved")),
            FollowUp(new JsonObject { ["json"] = new JsonArray(new JsonObject { ["path"] = "result.state", ["equals"] = "rejected" }) },
                receiver.Url("/rejected")),
            FollowUp(new JsonObject
            {
                ["status"] = new JsonArray("2xx"),
                ["json"] = new JsonArray(
                    new JsonObject { ["path"] = "items.0.id", ["in"] = new JsonArray(6, 7) },
                    new JsonObject { ["path"] = "result.score", ["equals"] = 7 }),
            }, receiver.Url("/items")),
            FollowUp(new JsonObject { ["json"] = new JsonArray(new JsonObject { ["path"] = "result.reason", ["exists"] = false }) },
                receiver.Url("/no-reason")),
            FollowUp(new JsonObject { ["status"] = new JsonArray(201, "4xx") }, receiver.Url("/other-status")));
        var (id, _) = await owner.StartTaskAsync(action);

        var deliveries = await WaitForEndedDeliveriesAsync(owner.Client, id, 4);
        var start = Assert.Single(deliveries, delivery => delivery.GetProperty("trigger").GetString() == "start");
        var startId = start.GetProperty("id").GetString();
        var followUps = deliveries.Where(delivery => delivery.GetProperty("trigger").GetString() == "follow_up").ToList();
        Assert.Equal(3, followUps.Count);
        Assert.All(followUps, delivery =>
        {
            Assert.Equal("delivered", delivery.GetProperty("status").GetString());
            Assert.Equal(startId, delivery.GetProperty("follow_up_of").GetString());
        });

        var received = await receiver.WaitForAsync(webhooks => webhooks.Count == 4);
        Assert.Equal(["/approved", "/check", "/items", "/no-reason"], received.Select(webhook => webhook.Path).Order());
        var approved = received.Single(webhook => webhook.Path == "/approved");
        Assert.True(WebhookReceiver.IsSignedWith(approved, secret));
        Assert.Equal("task.follow_up", approved.Json.GetProperty("type").GetString());
        Assert.Equal(id, approved.TaskId);
        var cause = approved.Json.GetProperty("data").GetProperty("follow_up_of");
        Assert.Equal(startId, cause.GetProperty("delivery_id").GetString());
        Assert.Equal("start", cause.GetProperty("trigger").GetString());
        Assert.Equal("delivered", cause.GetProperty("outcome").GetString());
        Assert.Equal(200, cause.GetProperty("status_code").GetInt32());
        Assert.Equal("approved", cause.GetProperty("response").GetProperty("result").GetProperty("state").GetString());
        Assert.False(approved.Json.GetProperty("data").TryGetProperty("lease_token", out _));
    }

    [Fact]
    public async Task AFollowUpOnTheFinalFailureFiresOnceWhenTheDeliveryIsDeadNotOnEveryFailedAttempt()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (webhook, _) => webhook.Path == "/flaky" ? new ReceiverAnswer(503, "not json") : ReceiverAnswer.Ok;
        using var owner = await EngineWorker.StartAsync(service);
        var action = WithThen(WebhookSteps.Action("start", receiver.Url("/flaky")),
            FollowUp(new JsonObject { ["outcome"] = "dead", ["status"] = "5xx" }, receiver.Url("/alert")),
            FollowUp(new JsonObject { ["outcome"] = "delivered" }, receiver.Url("/thanks")),
            FollowUp(new JsonObject { ["json"] = new JsonArray(new JsonObject { ["path"] = "anything", ["not_equals"] = 1 }) }, receiver.Url("/json")));
        var (id, _) = await owner.StartTaskAsync(action);

        var deliveries = await WaitForEndedDeliveriesAsync(owner.Client, id, 2);
        var dead = Assert.Single(deliveries, delivery => delivery.GetProperty("trigger").GetString() == "start");
        Assert.Equal("dead", dead.GetProperty("status").GetString());
        Assert.Equal(5, dead.GetProperty("attempts").GetInt32());

        var alert = (await receiver.WaitForAsync(webhooks => webhooks.Any(webhook => webhook.Path == "/alert")))
            .Single(webhook => webhook.Path == "/alert");
        var cause = alert.Json.GetProperty("data").GetProperty("follow_up_of");
        Assert.Equal("dead", cause.GetProperty("outcome").GetString());
        Assert.Equal(503, cause.GetProperty("status_code").GetInt32());
        Assert.Equal(JsonValueKind.Null, cause.GetProperty("response").ValueKind);
        Assert.Equal(5, receiver.Received.Count(webhook => webhook.Path == "/flaky"));
        Assert.DoesNotContain(receiver.Received, webhook => webhook.Path is "/thanks" or "/json");
    }

    [Fact]
    public async Task AnAnswerPostgreSqlCannotStoreStillFiresItsFollowUpWithoutTheAnswer()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (webhook, _) => webhook.Path == "/nul" ? new ReceiverAnswer(200, """{"state":"ok","note":"a\u0000b"}""") : ReceiverAnswer.Ok;
        using var owner = await EngineWorker.StartAsync(service);
        var action = WithThen(WebhookSteps.Action("start", receiver.Url("/nul")),
            FollowUp(new JsonObject { ["json"] = new JsonArray(new JsonObject { ["path"] = "state", ["equals"] = "ok" }) }, receiver.Url("/next")));
        var (id, _) = await owner.StartTaskAsync(action);

        var deliveries = await WaitForEndedDeliveriesAsync(owner.Client, id, 2);
        Assert.All(deliveries, delivery => Assert.Equal("delivered", delivery.GetProperty("status").GetString()));
        var next = (await receiver.WaitForAsync(webhooks => webhooks.Any(webhook => webhook.Path == "/next"))).Single(webhook => webhook.Path == "/next");
        var cause = next.Json.GetProperty("data").GetProperty("follow_up_of");
        Assert.Equal(JsonValueKind.Null, cause.GetProperty("response").ValueKind);
        Assert.Equal(200, cause.GetProperty("status_code").GetInt32());
    }

    [Fact]
    public async Task AFollowUpCanSendThroughATemplateOfTheTasksProject()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var owner = await EngineWorker.StartAsync(service);
        using var created = await owner.PostAsync("/api/v1/action-templates", new JsonObject
        {
            ["project_id"] = owner.ProjectId.ToString(), ["name"] = "audit trail", ["trigger"] = "success", ["url"] = receiver.Url("/template"),
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var body = await created.ReadJsonAsync();
        var templateSecret = body.GetProperty("secret").GetString()!;
        var template = body.GetProperty("template");
        var action = WithThen(WebhookSteps.Action("start", receiver.Url("/first")),
            new JsonObject { ["when"] = new JsonObject { ["status"] = 200 }, ["template_id"] = template.GetProperty("id").GetString() });
        var (id, _) = await owner.StartTaskAsync(action);

        await WaitForEndedDeliveriesAsync(owner.Client, id, 2);
        var sent = (await receiver.WaitForAsync(webhooks => webhooks.Any(webhook => webhook.Path == "/template"))).Single(webhook => webhook.Path == "/template");
        Assert.True(WebhookReceiver.IsSignedWith(sent, templateSecret));
        Assert.Equal("task.follow_up", sent.Json.GetProperty("type").GetString());
    }

    [Fact]
    public async Task FollowUpsAreStoredInTheirNormalFormOnTheTasksAction()
    {
        using var owner = await EngineWorker.StartAsync(service);
        var task = await owner.CreateAsync("stored", WebhookSteps.WithActions(WithThen(WebhookSteps.Action("success", "http://127.0.0.1:9/done"),
            FollowUp(new JsonObject
            {
                ["status"] = 409, ["json"] = new JsonArray(new JsonObject { ["path"] = "reason", ["equals"] = null }),
            }, "http://127.0.0.1:9/conflict"))));

        var stored = task.GetProperty("actions")[0].GetProperty("then")[0];
        Assert.Equal(409, stored.GetProperty("when").GetProperty("status")[0].GetInt32());
        Assert.Equal(JsonValueKind.Null, stored.GetProperty("when").GetProperty("json")[0].GetProperty("equals").ValueKind);
        Assert.Equal("POST", stored.GetProperty("method").GetString());
        Assert.Equal("http://127.0.0.1:9/conflict", stored.GetProperty("url").GetString());
    }

    [Fact]
    public async Task InvalidFollowUpsAreRefusedWithEveryProblemNamed()
    {
        using var owner = await EngineWorker.StartAsync(service);
        var url = "http://127.0.0.1:9/x";
        var action = WithThen(WebhookSteps.Action("success", url),
            new JsonObject { ["url"] = url },
            FollowUp(new JsonObject(), url),
            FollowUp(new JsonObject { ["status"] = new JsonArray(99, "6xx") }, url),
            FollowUp(new JsonObject { ["outcome"] = "maybe" }, url),
            FollowUp(new JsonObject { ["json"] = new JsonArray(new JsonObject { ["path"] = "a..b", ["equals"] = 1, ["exists"] = true }) }, url));
        using var response = await owner.Client.PostAsync("/api/v1/tasks", TestJson.Raw(new JsonObject
        {
            ["project_id"] = owner.ProjectId.ToString(), ["title"] = "bad follow-ups", ["actions"] = new JsonArray(action),
        }.ToJsonString()));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(problem.Errors("actions[0].then[0].when"));
        Assert.NotEmpty(problem.Errors("actions[0].then[1].when"));
        Assert.NotEmpty(problem.Errors("actions[0].then[2].when.status"));
        Assert.NotEmpty(problem.Errors("actions[0].then[3].when.outcome"));
        Assert.NotEmpty(problem.Errors("actions[0].then[4].when.json[0].path"));
        Assert.NotEmpty(problem.Errors("actions[0].then[4].when.json[0]"));
    }

    [Fact]
    public async Task AStatusClassWithAnUnpairedSurrogateIsRefusedNotAServerError()
    {
        using var owner = await EngineWorker.StartAsync(service);
        // Raw text: a JSON writer would not let the lone surrogate escape through.
        var body = $$"""
            {"project_id":"{{owner.ProjectId}}","title":"lone surrogate","actions":[{"trigger":"success","url":"http://127.0.0.1:9/x",
             "then":[{"when":{"status":"5x\udfff"},"url":"http://127.0.0.1:9/y"}]}]}
            """;

        using var response = await owner.Client.PostAsync("/api/v1/tasks", TestJson.Raw(body));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.NotEmpty(problem.Errors("actions[0].then[0].when.status"));
    }

    [Fact]
    public async Task AFollowUpTemplateOfAnotherProjectIsRefused()
    {
        using var owner = await EngineWorker.StartAsync(service);
        using var other = await EngineWorker.StartAsync(service);
        using var created = await other.PostAsync("/api/v1/action-templates", new JsonObject
        {
            ["project_id"] = other.ProjectId.ToString(), ["name"] = "elsewhere", ["trigger"] = "success", ["url"] = "http://127.0.0.1:9/elsewhere",
        });
        var templateId = (await created.ReadJsonAsync()).GetProperty("template").GetProperty("id").GetString();
        var action = WithThen(WebhookSteps.Action("success", "http://127.0.0.1:9/x"),
            new JsonObject { ["when"] = new JsonObject { ["status"] = 200 }, ["template_id"] = templateId });
        using var response = await owner.Client.PostAsync("/api/v1/tasks", TestJson.Raw(new JsonObject
        {
            ["project_id"] = owner.ProjectId.ToString(), ["title"] = "foreign template", ["actions"] = new JsonArray(action),
        }.ToJsonString()));

        var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Contains(templateId!, string.Join(" ", problem.Errors("actions")));
    }

    [Fact]
    public async Task AFollowUpCannotHaveFollowUpsOfItsOwn()
    {
        using var owner = await EngineWorker.StartAsync(service);
        var nested = FollowUp(new JsonObject { ["status"] = 200 }, "http://127.0.0.1:9/x");
        nested["then"] = new JsonArray(FollowUp(new JsonObject { ["status"] = 200 }, "http://127.0.0.1:9/y"));
        var action = WithThen(WebhookSteps.Action("success", "http://127.0.0.1:9/x"), nested);
        using var response = await owner.Client.PostAsync("/api/v1/tasks", TestJson.Raw(new JsonObject
        {
            ["project_id"] = owner.ProjectId.ToString(), ["title"] = "nested", ["actions"] = new JsonArray(action),
        }.ToJsonString()));

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
    }
}
