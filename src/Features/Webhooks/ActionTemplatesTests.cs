using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Webhooks;

public sealed class ActionTemplatesTests(FastDeliveryService service) : IClassFixture<FastDeliveryService>
{
    private static async Task<(Guid Id, string Secret)> CreateTemplateAsync(EngineWorker owner, string url, string trigger = "start")
    {
        using var response = await owner.PostAsync("/api/v1/action-templates", new JsonObject
        {
            ["project_id"] = owner.ProjectId.ToString(), ["name"] = "notify " + Guid.NewGuid(), ["trigger"] = trigger, ["url"] = url,
            ["headers"] = new JsonObject { ["X-Customer"] = "{{metadata.customer_id}}" },
        });
        var body = await response.ReadJsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToString());
        return (Guid.Parse(body.GetProperty("template").GetProperty("id").GetString()!), body.GetProperty("secret").GetString()!);
    }

    [Fact]
    public async Task TaskReferencingATemplateIsDeliveredToItsUrlSignedWithBothSecretsDuringTheGracePeriod()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var owner = await EngineWorker.StartAsync(service);
        var (templateId, oldSecret) = await CreateTemplateAsync(owner, receiver.Url("/templated"));
        using var rotated = await owner.PostAsync($"/api/v1/action-templates/{templateId}/rotate-secret");
        var rotation = await rotated.ReadJsonAsync();
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        var newSecret = rotation.GetProperty("secret").GetString()!;
        Assert.True(rotation.GetProperty("previous_retires_at").GetDateTime() > DateTime.UtcNow.AddHours(23));

        var id = await owner.CreateIdAsync("templated", body =>
        {
            body["metadata"] = new JsonObject { ["customer_id"] = "c-7" };
            body["actions"] = new JsonArray(new JsonObject { ["template_id"] = templateId.ToString() });
        });
        using (var task = await owner.Client.GetAsync($"/api/v1/tasks/{id}"))
            Assert.Equal("start", (await task.ReadJsonAsync()).GetProperty("actions")[0].GetProperty("trigger").GetString());
        await owner.WaitUntilPushedAsync(id);

        var webhook = (await receiver.WaitForAsync(received => received.Count == 1)).Single();
        Assert.Equal("/templated", webhook.Path);
        Assert.Equal("c-7", webhook.Header("x-customer"));
        Assert.True(WebhookReceiver.IsSignedWith(webhook, newSecret));
        Assert.True(WebhookReceiver.IsSignedWith(webhook, oldSecret));
        var detail = await owner.Client.WaitForDeliveryAsync(id, "delivered");
        Assert.Equal(templateId.ToString(), detail.GetProperty("delivery").GetProperty("template_id").GetString());
    }

    [Fact]
    public async Task ATemplateWithALongUrlAnswered410IsRetiredSoItsLaterDeliveriesAreNotSent()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, _) => new ReceiverAnswer(410);
        using var owner = await EngineWorker.StartAsync(service);
        var url = receiver.Url("/" + new string('g', 1500));
        var (templateId, _) = await CreateTemplateAsync(owner, url);
        var first = await owner.CreateIdAsync("gone", body => body["actions"] = new JsonArray(new JsonObject { ["template_id"] = templateId.ToString() }));
        await owner.WaitUntilPushedAsync(first);
        Assert.Equal([410], (await owner.Client.WaitForDeliveryAsync(first, "dead")).StatusCodes());

        using (var template = await owner.Client.GetAsync($"/api/v1/action-templates/{templateId}"))
        {
            var retired = await template.ReadJsonAsync();
            Assert.Equal(JsonValueKind.String, retired.GetProperty("disabled_at").ValueKind);
            Assert.EndsWith("answered 410 Gone", retired.GetProperty("disabled_reason").GetString());
            Assert.True(retired.GetProperty("disabled_reason").GetString()!.Length <= 500);
        }
        var second = await owner.CreateIdAsync("after gone", body => body["actions"] = new JsonArray(new JsonObject { ["template_id"] = templateId.ToString() }));
        await owner.WaitUntilPushedAsync(second);
        var parked = await owner.Client.WaitForDeliveryAsync(second, "dead");
        Assert.Empty(parked.GetProperty("attempts").EnumerateArray());
        Assert.Single(receiver.Received);
    }

    [Fact]
    public async Task AfterTheGracePeriodOnlyTheNewSecretSigns()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var owner = await EngineWorker.StartAsync(service);
        var (templateId, oldSecret) = await CreateTemplateAsync(owner, receiver.Url());
        using var rotated = await owner.PostAsync($"/api/v1/action-templates/{templateId}/rotate-secret");
        var newSecret = (await rotated.ReadJsonAsync()).GetProperty("secret").GetString()!;
        await service.ExecuteSqlAsync("UPDATE webhook_secrets SET retires_at = now() - interval '1 second' WHERE template_id = $1 AND retires_at IS NOT NULL", templateId);

        var afterGrace = await owner.CreateIdAsync("after grace", body => body["actions"] = new JsonArray(new JsonObject { ["template_id"] = templateId.ToString() }));
        await owner.WaitUntilPushedAsync(afterGrace);
        var webhook = (await receiver.WaitForAsync(received => received.Count == 1)).Single();
        Assert.True(WebhookReceiver.IsSignedWith(webhook, newSecret));
        Assert.False(WebhookReceiver.IsSignedWith(webhook, oldSecret));
    }

    [Fact]
    public async Task TemplateOfAnotherProjectOrUnknownIsRefusedWhenTheTaskIsCreated()
    {
        using var owner = await EngineWorker.StartAsync(service);
        using var other = await EngineWorker.StartAsync(service);
        var (foreignTemplate, _) = await CreateTemplateAsync(other, "http://127.0.0.1:9/x");
        foreach (var templateId in new[] { foreignTemplate, Guid.NewGuid() })
        {
            var body = new JsonObject
            {
                ["project_id"] = owner.ProjectId.ToString(), ["title"] = "bad reference",
                ["actions"] = new JsonArray(new JsonObject { ["template_id"] = templateId.ToString() }),
            };
            using var response = await owner.PostAsync("/api/v1/tasks", body);
            var problem = await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
            Assert.Contains(templateId.ToString(), Assert.Single(problem.Errors("actions")));
        }
        using var mixed = await owner.PostAsync("/api/v1/tasks", new JsonObject
        {
            ["project_id"] = owner.ProjectId.ToString(), ["title"] = "mixed",
            ["actions"] = new JsonArray(new JsonObject { ["template_id"] = foreignTemplate.ToString(), ["url"] = "http://127.0.0.1:9/" }),
        });
        await mixed.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
    }

    [Fact]
    public async Task ViewersReadTemplatesWithoutSecretsAndOnlyEditorsChangeThem()
    {
        using var owner = await EngineWorker.StartAsync(service);
        var (templateId, _) = await CreateTemplateAsync(owner, "http://127.0.0.1:9/x");
        var viewer = await service.CreateUserAsync();
        await service.AddMemberAsync(owner.ProjectId, viewer.Id, "viewer");
        using var viewerClient = await service.ClientForAsync(viewer);

        using (var list = await viewerClient.GetAsync($"/api/v1/action-templates?project_id={owner.ProjectId}"))
        {
            var item = Assert.Single((await list.ReadJsonAsync()).GetProperty("data").EnumerateArray());
            Assert.False(item.TryGetProperty("secret", out _));
        }
        using (var patch = await viewerClient.PatchAsync($"/api/v1/action-templates/{templateId}", TestJson.Body(("name", "renamed"))))
            await patch.AssertProblemAsync(HttpStatusCode.Forbidden);
        using (var patch = await owner.Client.PatchAsync($"/api/v1/action-templates/{templateId}", TestJson.Body(("name", "renamed"))))
            Assert.Equal("renamed", (await patch.ReadJsonAsync()).GetProperty("name").GetString());
        using var stranger = await service.ClientForNewUserAsync();
        using (var hidden = await stranger.GetAsync($"/api/v1/action-templates/{templateId}"))
            await hidden.AssertProblemAsync(HttpStatusCode.NotFound);
        using (var deleted = await owner.Client.DeleteAsync($"/api/v1/action-templates/{templateId}"))
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
    }

    [Fact]
    public async Task CreatingOrChangingATemplateWhileItsProjectIsDeletedAnswersWithoutAServerError()
    {
        // The response used to be read again after the commit: a project deleted in between left nothing to read (a 500).
        using var project = await service.CreateProjectAsync();
        for (var round = 0; round < 40; round++)
        {
            var projectId = Guid.CreateVersion7();
            await service.ExecuteSqlAsync("INSERT INTO projects (id, name, created_by) VALUES ($1, $2, $3)", projectId, "race " + projectId, project.Owner.Id);
            await service.AddMemberAsync(projectId, project.Owner.Id, "owner");
            var templateId = Guid.CreateVersion7();
            await service.ExecuteSqlAsync("INSERT INTO action_templates (id, project_id, name, trigger, url) VALUES ($1, $2, 'race', 'success', 'https://hooks.example.test/a')",
                templateId, projectId);

            var create = project.OwnerClient.PostAsync("/api/v1/action-templates", TestJson.Body(
                ("project_id", projectId), ("name", "created"), ("trigger", "success"), ("url", "https://hooks.example.test/b")));
            var change = project.OwnerClient.PatchAsync($"/api/v1/action-templates/{templateId}", TestJson.Body(("name", "renamed")));
            var delete = project.OwnerClient.DeleteAsync($"/api/v1/projects/{projectId}");
            await Task.WhenAll(create, change, delete);

            using var created = await create;
            using var changed = await change;
            using var deleted = await delete;
            Assert.Contains(created.StatusCode, new[] { HttpStatusCode.Created, HttpStatusCode.NotFound });
            Assert.Contains(changed.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.NotFound });
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
    }
}
