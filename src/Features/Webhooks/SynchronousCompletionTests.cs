using System.Net;
using System.Text.Json;
using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Webhooks;

public sealed class SynchronousCompletionTests(FastDeliveryService service) : IClassFixture<FastDeliveryService>
{
    [Fact]
    public async Task StartWebhookAnsweringAnOutcomeCompletesTheTaskAndReleasesItsChildren()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, _) => new ReceiverAnswer(200, """{"status":"succeeded","output":{"rows":42}}""");
        using var owner = await EngineWorker.StartAsync(service);
        var (id, _) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));
        var child = await owner.CreateIdAsync("child", EngineWorker.DependsOn(id));

        await owner.Client.WaitForDeliveryAsync(id, "delivered");
        Assert.Equal("succeeded", await owner.StatusAsync(id));
        using var task = await owner.Client.GetAsync($"/api/v1/tasks/{id}");
        Assert.Equal(42, (await task.ReadJsonAsync()).GetProperty("output").GetProperty("rows").GetInt32());
        Assert.Equal(child.ToString(), (await owner.ClaimOneAsync()).GetProperty("id").GetString());
    }

    [Fact]
    public async Task FailedAnswerGoesThroughTheEnginesRetryRules()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, _) => new ReceiverAnswer(200, """{"status":"failed","error":"no such customer"}""");
        using var owner = await EngineWorker.StartAsync(service);
        var (id, _) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));

        await owner.Client.WaitForDeliveryAsync(id, "delivered");
        Assert.Equal("failed", await owner.StatusAsync(id));
    }

    [Fact]
    public async Task AcceptedLeavesTheTaskRunningForALaterReportWithTheLeaseToken()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, _) => new ReceiverAnswer(202, """{"status":"succeeded"}""");
        using var owner = await EngineWorker.StartAsync(service);
        var (id, _) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));

        await owner.Client.WaitForDeliveryAsync(id, "delivered");
        Assert.Equal("running", await owner.StatusAsync(id));
        var leaseToken = receiver.Received.Single().Json.GetProperty("data").GetProperty("lease_token").GetInt64();
        using var completed = await owner.CompleteAsync(id, leaseToken);
        Assert.Equal(HttpStatusCode.OK, completed.StatusCode);
    }

    [Theory]
    [InlineData("""{"status":"succeeded","output":{"note":["ok","\ud800"]}}""", "output.note[1]")]
    [InlineData("""{"status":"succeeded","output":{"note":"a\u0000b"}}""", "output.note")]
    [InlineData("""{"status":"failed","error":"lost \udc00"}""", "error")]
    public async Task AnAnswerPostgresCannotStoreIsRefusedWithWhereAndTheDeliveryEnds(string answer, string path)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, _) => new ReceiverAnswer(200, answer);
        using var owner = await EngineWorker.StartAsync(service);
        var (id, _) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));

        // Delivered is final: the delivery is not sent again (before, the failed write left it to be resent forever).
        var detail = await owner.Client.WaitForDeliveryAsync(id, "delivered");
        var errors = detail.GetProperty("attempts").EnumerateArray().Select(attempt => attempt.GetProperty("error").GetString() ?? "").ToList();
        Assert.Contains(errors, error => error.StartsWith("answer not applied", StringComparison.Ordinal) && error.Contains($"(at {path})", StringComparison.Ordinal));
        Assert.Equal("running", await owner.StatusAsync(id));
    }

    [Fact]
    public async Task LateAnswerForAnAttemptThatAlreadyEndedChangesNothing()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var release = new TaskCompletionSource();
        receiver.Answer = (_, _) => new ReceiverAnswer(200, """{"status":"succeeded"}""", Hold: release.Task);
        using var owner = await EngineWorker.StartAsync(service);
        var (id, leaseToken) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));
        await receiver.WaitForAsync(received => received.Count == 1);
        using (var failed = await owner.CompleteAsync(id, leaseToken, "failed"))
            Assert.Equal(HttpStatusCode.OK, failed.StatusCode);
        release.SetResult();

        var detail = await owner.Client.WaitForDeliveryAsync(id, "delivered");
        Assert.Contains("answer not applied", detail.GetProperty("attempts")[0].GetProperty("error").GetString());
        Assert.Equal("failed", await owner.StatusAsync(id));
    }
}

public sealed class CrashedNodeDeliveryTests(FastDeliveryService service) : IClassFixture<FastDeliveryService>
{
    [Fact]
    public async Task DeliveriesLeasedByANodeThatDiedAreDeliveredByTheLivingNodes()
    {
        await using var second = await SecondNode.StartAsync(service, FastDeliveryService.FastSettings(service.ConnectionString));
        await using var receiver = await WebhookReceiver.StartAsync();
        using var owner = await EngineWorker.StartAsync(service);
        var task = await owner.CreateIdAsync("crashed");
        const int count = 10;
        // What a node leaves behind when it dies mid-send: rows it leased, whose lease runs out in a moment.
        for (var i = 0; i < count; i++)
            await service.ExecuteSqlAsync("""
                INSERT INTO outbox (id, task_id, trigger, action, payload, status, lease_owner, lease_expires_at)
                VALUES ($1, $2, 'success', jsonb_build_object('trigger', 'success', 'url', $3::text, 'method', 'POST'),
                        jsonb_build_object('task_id', $2::text, 'attempt', 1), 'delivering', 'crashed-node', now() + interval '2 seconds')
                """, Guid.CreateVersion7(), task, receiver.Url());
        Assert.Empty(receiver.Received);

        var received = await receiver.WaitForAsync(webhooks => webhooks.Select(webhook => webhook.Header("webhook-id")).Distinct().Count() == count);
        Assert.All(received, webhook => Assert.True(webhook.At > DateTime.UtcNow.AddSeconds(-20)));
        // The outcome is recorded just after the receiver answers.
        await Eventually.Until(async () => await service.ScalarAsync<long>(
                "SELECT count(*) FROM outbox WHERE task_id = $1 AND status = 'delivered'", task) >= count,
            "the deliveries were not recorded as delivered", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));
        var nodes = await service.QueryTextAsync("SELECT DISTINCT node FROM delivery_attempts a JOIN outbox o ON o.id = a.delivery_id WHERE o.task_id = $1", task);
        Assert.DoesNotContain("crashed-node", nodes);
    }
}
