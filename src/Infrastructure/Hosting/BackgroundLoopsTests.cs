using System.Net;
using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Infrastructure.Hosting;

/// <summary>A node whose loops back off briefly after a failure, so a test sees several failed iterations in seconds.</summary>
public sealed class QuickBackoffFixture : ServiceFixture
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) =>
        base.Settings(connectionString)
            .Append(new("Background:FailureBackoffMilliseconds", "100"))
            .Append(new("Background:MaxFailureBackoffSeconds", "1"))
            .Append(new("Webhooks:PollSeconds", "1"));
}

public sealed class BackgroundLoopsTests(QuickBackoffFixture service) : IClassFixture<QuickBackoffFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task APoisonOutboxRowIsCountedAndBackedOffWhileTheNodeServesAndDeliveryResumesOnceItIsGone()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var worker = await EngineWorker.StartAsync(service);
        var taskId = await worker.CreateIdAsync("holds a lease");
        await worker.ClaimOneAsync();
        using var failures = new NodeMeasurements(service, "taskrunner.background.failures", "taskrunner_background_failures_total",
            ("service", "webhook-delivery"));
        var failuresBefore = await failures.ValueAsync();

        // A start delivery whose attempt is not a number: every claim of the outbox fails on it, whatever else is due.
        var poison = Guid.CreateVersion7();
        await service.ExecuteSqlAsync("""
            INSERT INTO outbox (id, task_id, trigger, action, payload)
            VALUES ($1, $2, 'start', jsonb_build_object('url', $3::text, 'method', 'POST', 'trigger', 'start'), '{"attempt": "poison"}')
            """, poison, taskId, receiver.Url());

        await Eventually.Until(async () => await failures.ValueAsync() >= failuresBefore + 3,
            "the delivery loop did not keep failing on the poison row", Patience, TimeSpan.FromMilliseconds(100));
        using (var ready = await service.CreateClient().GetAsync("/health/ready"))
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("running", await worker.StatusAsync(taskId));

        await service.ExecuteSqlAsync("UPDATE outbox SET payload = jsonb_build_object('attempt', 1, 'task_id', task_id) WHERE id = $1", poison);

        var delivered = await receiver.WaitForAsync(received => received.Count > 0, Patience);
        Assert.Equal(taskId, delivered.First().TaskId);
    }
}
