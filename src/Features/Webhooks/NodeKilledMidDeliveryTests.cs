using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Webhooks;

/// <summary>The fixture's node serves the API and sends no webhooks, so the test decides which nodes deliver.</summary>
public sealed class NonDeliveringNodeFixture : ServiceFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        [.. BaseSettings(connectionString), new("Webhooks:MaxInFlight", "0")];
}

public sealed class NodeKilledMidDeliveryTests(NonDeliveringNodeFixture service) : IClassFixture<NonDeliveringNodeFixture>
{
    private const int Deliveries = 100;

    private IEnumerable<KeyValuePair<string, string?>> DeliveringNode() =>
    [
        .. ServiceFixture.BaseSettings(service.ConnectionString),
        new("Webhooks:AttemptTimeoutSeconds", "5"),
        new("Webhooks:TotalTimeoutSeconds", "5"),
        new("Webhooks:LeaseSeconds", "10"),
        new("Webhooks:PollSeconds", "1"),
        new("Webhooks:RetrySchedule", "1,1,1,1"),
    ];

    [Fact]
    public async Task ANodeKilledWhileSendingLosesNoDeliveryAndAnotherNodeSendsWhatItHeld()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var crashed = new TaskCompletionSource();
        var acknowledged = new ConcurrentDictionary<string, int>();
        receiver.Answer = (webhook, _) =>
        {
            // Until the crash every request goes unanswered, so the doomed node dies with its sends in flight.
            if (!crashed.Task.IsCompleted)
                return ReceiverAnswer.Unanswered;
            acknowledged.AddOrUpdate(webhook.Header("webhook-id"), 1, (_, count) => count + 1);
            return ReceiverAnswer.Ok;
        };
        using var owner = await EngineWorker.StartAsync(service);
        var tasks = Enumerable.Range(0, Deliveries).Select(i => (JsonNode)new JsonObject
        {
            ["title"] = $"delivered despite a crash {i}",
            ["actions"] = new JsonArray(WebhookSteps.Action("success", receiver.Url())),
        }).ToArray();
        using (var bulk = await owner.PostAsync("/api/v1/tasks/bulk", new JsonObject { ["project_id"] = owner.ProjectId.ToString(), ["tasks"] = new JsonArray(tasks) }))
            Assert.Equal(HttpStatusCode.Created, bulk.StatusCode);
        foreach (var claimed in await owner.ClaimAsync(limit: Deliveries))
        {
            using var completed = await owner.CompleteAsync(Guid.Parse(claimed.GetProperty("id").GetString()!), claimed.GetProperty("lease_token").GetInt64());
            Assert.Equal(HttpStatusCode.OK, completed.StatusCode);
        }
        const string CountSql = "SELECT count(*) FROM outbox o JOIN tasks t ON t.id = o.task_id WHERE t.project_id = $1 AND o.status = $2";
        Assert.Equal(Deliveries, await service.ScalarAsync<long>(CountSql, owner.ProjectId, "pending"));

        await using var doomed = ServiceProcess.Start(DeliveringNode());
        Assert.True(await doomed.WaitUntilListeningAsync(TimeSpan.FromSeconds(30)), doomed.Output);
        // It claims up to the per-host bound (16) and sends them all; the receiver holds every one.
        var held = (await receiver.WaitForAsync(webhooks => webhooks.Count >= 16, TimeSpan.FromSeconds(30)))
            .Select(webhook => webhook.Header("webhook-id")).ToHashSet();
        doomed.Kill();
        Assert.NotNull(await doomed.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        crashed.SetResult();

        var leased = await service.QueryTextAsync(
            "SELECT o.id::text FROM outbox o JOIN tasks t ON t.id = o.task_id WHERE t.project_id = $1 AND o.status = 'delivering'", owner.ProjectId);
        Assert.Equal(held.Order(), leased.Order());
        Assert.Equal(0L, await service.ScalarAsync<long>(CountSql, owner.ProjectId, "delivered"));

        await using var survivor = await SecondNode.StartAsync(service, DeliveringNode());
        await Eventually.Until(() => service.ScalarAsync<long>(CountSql, owner.ProjectId, "delivered"), delivered => delivered >= Deliveries,
            delivered => $"{delivered} of {Deliveries} delivered after the crash", TimeSpan.FromSeconds(60));

        var all = await service.QueryTextAsync("SELECT o.id::text FROM outbox o JOIN tasks t ON t.id = o.task_id WHERE t.project_id = $1", owner.ProjectId);
        Assert.Equal(all.Order(), acknowledged.Keys.Order());
        // At least once, and more than once only for what the crash interrupted: each send the dead node held came again.
        Assert.All(acknowledged, pair => Assert.Equal(1, pair.Value));
        Assert.Equal(Deliveries + held.Count, receiver.Received.Count);
        // The dead node recorded nothing; each delivery has exactly the one successful attempt of the survivor.
        Assert.Equal((long)Deliveries, await service.ScalarAsync<long>(
            "SELECT count(*) FROM delivery_attempts a JOIN outbox o ON o.id = a.delivery_id JOIN tasks t ON t.id = o.task_id WHERE t.project_id = $1 AND a.status_code = 200",
            owner.ProjectId));
    }
}
