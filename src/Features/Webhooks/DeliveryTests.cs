using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using TaskRunner.Features.Execution;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.Webhooks;

/// <summary>A service whose delivery schedule is short enough to watch retries, timeouts and dead letters within a test.</summary>
public sealed class FastDeliveryService : ServiceFixture
{
    public static IEnumerable<KeyValuePair<string, string?>> FastSettings(string connectionString) =>
    [
        .. BaseSettings(connectionString),
        new("Webhooks:RetrySchedule", "1,1,1,1"),
        new("Webhooks:AttemptTimeoutSeconds", "1"),
        new("Webhooks:TotalTimeoutSeconds", "2"),
        new("Webhooks:LeaseSeconds", "7"),
        new("Webhooks:PollSeconds", "1"),
        new("Webhooks:BreakSeconds", "1"),
    ];

    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) => FastSettings(connectionString);
}

public sealed class DeliveryTests(FastDeliveryService service) : IClassFixture<FastDeliveryService>
{
    [Fact]
    public async Task StartWebhookIsSignedWithTheProjectSecretAndFillsHeadersFromMetadata()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var owner = await EngineWorker.StartAsync(service);
        using var rotated = await owner.PostAsync($"/api/v1/projects/{owner.ProjectId}/webhook-secret");
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        var secret = (await rotated.ReadJsonAsync()).GetProperty("secret").GetString()!;
        Assert.StartsWith("whsec_", secret);

        var id = await owner.CreateIdAsync("signed", body =>
        {
            body["metadata"] = new JsonObject { ["customer_id"] = "c-42", ["account"] = new JsonObject { ["region"] = "eu" } };
            WebhookSteps.WithActions(WebhookSteps.Action("start", receiver.Url(),
                new JsonObject { ["X-Customer"] = "{{metadata.customer_id}}/{{ metadata.account.region }}", ["X-Static"] = "yes" }))(body);
        });
        await owner.WaitUntilPushedAsync(id);

        var webhook = (await receiver.WaitForAsync(received => received.Count == 1)).Single();
        Assert.True(WebhookReceiver.IsSignedWith(webhook, secret), webhook.Header("webhook-signature"));
        Assert.Equal("c-42/eu", webhook.Header("x-customer"));
        Assert.Equal("yes", webhook.Header("x-static"));
        Assert.Equal("task.start", webhook.Json.GetProperty("type").GetString());
        Assert.Equal(id, webhook.TaskId);
        Assert.True(webhook.Json.GetProperty("data").GetProperty("lease_token").GetInt64() > 0);
        var detail = await owner.Client.WaitForDeliveryAsync(id, "delivered");
        Assert.Equal(webhook.Header("webhook-id"), detail.GetProperty("delivery").GetProperty("id").GetString());
        Assert.Equal([200], detail.StatusCodes());
    }

    [Fact]
    public async Task AnInlineActionOfANewProjectArrivesSignedWithTheSecretItsCreationAnswered()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var account = await service.CreateUserAsync();
        var client = await service.ClientForAsync(account);
        using var created = await client.PostAsync("/api/v1/projects", TestJson.Body(("name", "signed from the start")));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var project = await created.ReadJsonAsync();
        var secret = project.GetProperty("webhook_secret").GetString()!;
        using var owner = new EngineWorker(service, client, Guid.Parse(project.GetProperty("id").GetString()!), account);

        await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));

        var webhook = (await receiver.WaitForAsync(received => received.Count == 1)).Single();
        Assert.True(WebhookReceiver.IsSignedWith(webhook, secret), webhook.Header("webhook-signature"));
    }

    [Fact]
    public async Task AProjectWithoutASecretGetsASealedOneAtItsFirstDeliveryAndNothingGoesOutUnsigned()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        // Written straight into the database: a project from before every project got a secret at creation.
        using var owner = await EngineWorker.StartAsync(service);
        Assert.Empty(await service.QueryTextAsync("SELECT secret FROM webhook_secrets WHERE project_id = $1", owner.ProjectId));

        await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));
        await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));

        var webhooks = await receiver.WaitForAsync(received => received.Count == 2);
        var stored = Assert.Single(await service.QueryTextAsync("SELECT secret FROM webhook_secrets WHERE project_id = $1", owner.ProjectId));
        Assert.StartsWith($"aesgcm:{ServiceFixture.SecretKeyId}:", stored);
        var vault = WebhookSecretVaultTests.Vault(ServiceFixture.SecretKeyId, (ServiceFixture.SecretKeyId, ServiceFixture.SecretKey));
        Assert.True(vault.TryOpen(stored, out var secret, out _));
        Assert.All(webhooks, webhook => Assert.True(WebhookReceiver.IsSignedWith(webhook, secret), webhook.Header("webhook-signature")));
    }

    [Fact]
    public async Task SecretsAreStoredSealedAndOneWhoseKeyIsGoneSendsNothingUnsigned()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var owner = await EngineWorker.StartAsync(service);
        using var rotated = await owner.PostAsync($"/api/v1/projects/{owner.ProjectId}/webhook-secret");
        var secret = (await rotated.ReadJsonAsync()).GetProperty("secret").GetString()!;
        var stored = Assert.Single(await service.QueryTextAsync("SELECT secret FROM webhook_secrets WHERE project_id = $1", owner.ProjectId));
        Assert.StartsWith($"aesgcm:{ServiceFixture.SecretKeyId}:", stored);
        Assert.DoesNotContain(secret[WebhookSigning.SecretPrefix.Length..], stored);

        // As if the key that sealed it had been dropped from the configuration.
        await service.ExecuteSqlAsync(
            "UPDATE webhook_secrets SET secret = 'aesgcm:retired:' || split_part(secret, ':', 3) WHERE project_id = $1", owner.ProjectId);
        var (id, _) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));

        var dead = await owner.Client.WaitForDeliveryAsync(id, "dead");
        Assert.All(dead.GetProperty("attempts").EnumerateArray(), attempt => Assert.Contains("key 'retired'", attempt.GetProperty("error").GetString()));
        Assert.Equal([null, null, null, null, null], dead.StatusCodes());
        Assert.Empty(receiver.Received);
    }

    [Fact]
    public async Task FailedAttemptsAreRetriedWithTheSameIdUntilDelivered()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, index) => index < 2 ? new ReceiverAnswer(500, """{"oops":true}""") : ReceiverAnswer.Ok;
        using var owner = await EngineWorker.StartAsync(service);
        var (id, _) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));

        var detail = await owner.Client.WaitForDeliveryAsync(id, "delivered");
        Assert.Equal([500, 500, 200], detail.StatusCodes());
        Assert.Equal("""{"oops":true}""", detail.GetProperty("attempts")[0].GetProperty("response_excerpt").GetString());
        Assert.Single(receiver.Received.Select(webhook => webhook.Header("webhook-id")).Distinct());
        Assert.Equal(3, detail.GetProperty("delivery").GetProperty("attempts").GetInt32());
    }

    [Fact]
    public async Task RetryAfterPostponesTheNextAttempt()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, index) => index == 0
            ? new ReceiverAnswer(503, Headers: new Dictionary<string, string> { ["Retry-After"] = "3" })
            : ReceiverAnswer.Ok;
        using var owner = await EngineWorker.StartAsync(service);
        var (id, _) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));

        await owner.Client.WaitForDeliveryAsync(id, "delivered");
        var times = receiver.Received.Select(webhook => webhook.At).ToList();
        Assert.Equal(2, times.Count);
        // The schedule alone would wait about 1 s.
        Assert.True(times[1] - times[0] >= TimeSpan.FromSeconds(2.8), $"retried after {times[1] - times[0]}");
    }

    [Fact]
    public async Task SlowReceiverTimesOutAndIsTriedAgain()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, index) => index == 0 ? ReceiverAnswer.Unanswered : ReceiverAnswer.Ok;
        using var owner = await EngineWorker.StartAsync(service);
        var (id, _) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));

        var detail = await owner.Client.WaitForDeliveryAsync(id, "delivered");
        var attempts = detail.GetProperty("attempts");
        Assert.Equal(2, attempts.GetArrayLength());
        Assert.Contains("within 1 s", attempts[0].GetProperty("error").GetString());
        Assert.True(attempts[0].GetProperty("duration_ms").GetDouble() < 2500);
    }

    [Fact]
    public async Task GoneDisablesTheActionSoLaterDeliveriesAreNotSent()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, _) => new ReceiverAnswer(410);
        using var owner = await EngineWorker.StartAsync(service);
        var (id, leaseToken) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()), WebhookSteps.Action("end", receiver.Url()));

        var start = await owner.Client.WaitForDeliveryAsync(id, "dead");
        Assert.Equal([410], start.StatusCodes());
        using (var completed = await owner.CompleteAsync(id, leaseToken))
            Assert.Equal(HttpStatusCode.OK, completed.StatusCode);

        var end = await owner.Client.WaitForDeliveryAsync(id, "dead", trigger: "end");
        Assert.Empty(end.GetProperty("attempts").EnumerateArray());
        Assert.Contains("410", end.GetProperty("delivery").GetProperty("last_error").GetString());
        Assert.Single(receiver.Received);
    }

    [Fact]
    public async Task DeliveryIsDeadAfterTheLastAttemptListedOnlyToReadersAndCanBeRedelivered()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, _) => new ReceiverAnswer(500);
        using var owner = await EngineWorker.StartAsync(service);
        var (id, _) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));

        var dead = await owner.Client.WaitForDeliveryAsync(id, "dead");
        Assert.Equal([500, 500, 500, 500, 500], dead.StatusCodes());
        var deliveryId = dead.GetProperty("delivery").GetProperty("id").GetString()!;

        using (var list = await owner.Client.GetAsync($"/api/v1/deliveries?status=dead&task_id={id}"))
            Assert.Equal(deliveryId, Assert.Single((await list.ReadJsonAsync()).GetProperty("data").EnumerateArray()).GetProperty("id").GetString());
        using var stranger = await service.ClientForNewUserAsync();
        using (var list = await stranger.GetAsync("/api/v1/deliveries?status=dead"))
            Assert.Empty((await list.ReadJsonAsync()).GetProperty("data").EnumerateArray());
        using (var denied = await stranger.PostAsync($"/api/v1/deliveries/{deliveryId}/redeliver", null))
            await denied.AssertProblemAsync(HttpStatusCode.NotFound);

        receiver.Answer = (_, _) => ReceiverAnswer.Ok;
        using (var redelivered = await owner.PostAsync($"/api/v1/deliveries/{deliveryId}/redeliver"))
            Assert.Equal(HttpStatusCode.OK, redelivered.StatusCode);
        using (var again = await owner.PostAsync($"/api/v1/deliveries/{deliveryId}/redeliver"))
            Assert.True(again.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.OK);
        var delivered = await owner.Client.WaitForDeliveryAsync(id, "delivered");
        Assert.Equal(200, delivered.StatusCodes()[^1]);
    }

    [Fact]
    public async Task RedeliveringAPendingDeliveryIsAConflict()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, _) => new ReceiverAnswer(500);
        using var owner = await EngineWorker.StartAsync(service);
        var (id, _) = await owner.StartTaskAsync(WebhookSteps.Action("start", receiver.Url()));
        await receiver.WaitForAsync(received => received.Count >= 1);
        var deliveryId = (await owner.Client.DeliveriesOfAsync(id))[0].GetProperty("id").GetString();

        using var response = await owner.PostAsync($"/api/v1/deliveries/{deliveryId}/redeliver");
        await response.AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task ReceiverThatIsDownThenComesBackGetsEveryDelivery()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await receiver.StopAsync();
        using var owner = await EngineWorker.StartAsync(service);
        const int count = 20;
        var ids = new List<Guid>();
        for (var i = 0; i < count; i++)
            ids.Add(await owner.CreateIdAsync($"while down {i}", WebhookSteps.WithActions(WebhookSteps.Action("start", receiver.Url()))));
        foreach (var id in ids)
            await owner.WaitUntilPushedAsync(id);

        // Every delivery failed at least once while the receiver was away.
        await Eventually.Until(async () => await service.ScalarAsync<long>(
                "SELECT count(*) FROM outbox WHERE task_id = ANY ($1) AND last_error IS NOT NULL", ids.ToArray()) >= count,
            "deliveries were not attempted while the receiver was down");
        await receiver.RestartAsync();

        var received = await receiver.WaitForAsync(webhooks => webhooks.Select(webhook => webhook.TaskId).Distinct().Count() == count, TimeSpan.FromSeconds(30));
        Assert.Equal(ids.Order(), received.Select(webhook => webhook.TaskId).Distinct().Order());
        foreach (var id in ids)
            await owner.Client.WaitForDeliveryAsync(id, "delivered");
    }
}

public sealed class BackpressureTests(FastDeliveryService service) : IClassFixture<FastDeliveryService>
{
    [Fact]
    public async Task ABacklogForOneHostDrainsAtTheHostBoundNotAtThePollRate()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var owner = await EngineWorker.StartAsync(service);
        var task = await owner.CreateIdAsync("backlog");
        const int count = 400;
        var started = DateTime.UtcNow;
        await service.ExecuteSqlAsync("""
            INSERT INTO outbox (id, task_id, trigger, action, payload)
            SELECT uuid_v7(), $1, 'success', jsonb_build_object('trigger', 'success', 'url', $2::text, 'method', 'POST'),
                   jsonb_build_object('task_id', $1::text, 'attempt', 1)
            FROM generate_series(1, $3)
            """, task, receiver.Url(), count);

        await receiver.WaitForAsync(received => received.Count >= count, TimeSpan.FromSeconds(60));
        // At 16 per poll (1 s) this would take 25 s.
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), $"took {DateTime.UtcNow - started}");
    }
}

public sealed class CircuitBreakerTests(FastDeliveryService service) : IClassFixture<FastDeliveryService>
{
    [Fact]
    public async Task AFailingDestinationOpensItsCircuitWhichMetricsReportByAuthority()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = (_, _) => new ReceiverAnswer(500);
        using var owner = await EngineWorker.StartAsync(service);
        var task = await owner.CreateIdAsync("failing destination");
        var authority = new Uri(receiver.Url()).GetLeftPart(UriPartial.Authority);
        using var opened = new NodeMeasurements(service, "taskrunner.webhooks.circuit_opened", "taskrunner_webhooks_circuit_opened_total", ("authority", authority));
        using var heldBack = new NodeMeasurements(service, "taskrunner.webhooks.attempts", "taskrunner_webhooks_attempts_total", ("outcome", "circuit_open"));
        NodeMeasurements State(string state) =>
            new(service, "taskrunner.webhooks.circuit_state", "taskrunner_webhooks_circuit_state", ("authority", authority), ("state", state));
        using var closed = State("closed");
        using var open = State("open");
        using var halfOpen = State("half_open");
        await service.ExecuteSqlAsync("""
            INSERT INTO outbox (id, task_id, trigger, action, payload)
            SELECT uuid_v7(), $1, 'success', jsonb_build_object('trigger', 'success', 'url', $2::text, 'method', 'POST'),
                   jsonb_build_object('task_id', $1::text, 'attempt', 1)
            FROM generate_series(1, 20)
            """, task, receiver.Url());

        // Half of at least 10 attempts failed: the circuit opens, and deliveries to it wait without being sent.
        await Eventually.Until(async () => (Opened: await opened.ValueAsync(), HeldBack: await heldBack.ValueAsync()),
            seen => seen.Opened > 0 && seen.HeldBack > 0,
            seen => $"the circuit did not open: {seen.Opened} openings, {seen.HeldBack} attempts held back", TimeSpan.FromSeconds(30));
        // Open, or half-open when the break (1 s here) is over: never closed, since every answer is still a failure. The
        // states are read one after another, so a trial between two reads can hide the circuit once: read again.
        await Eventually.Until(async () => await open.ValueAsync() + await halfOpen.ValueAsync() == 1,
            "the state series do not show the circuit open or half-open", TimeSpan.FromSeconds(30));
        Assert.Equal(0, await closed.ValueAsync());
        // Fewer attempts reached the receiver than were made: the open circuit kept the rest from being sent.
        Assert.True(receiver.Received.Count < 20 * 5, $"{receiver.Received.Count} requests");
    }
}

public sealed class OutboxWakeUpTests(FastDeliveryService service) : IClassFixture<FastDeliveryService>
{
    [Fact]
    public async Task OnlyAStatementThatWritesDeliveriesWakesTheDeliveryWorkers()
    {
        using var owner = await EngineWorker.StartAsync(service);
        var task = await owner.CreateIdAsync("wake-ups");
        await using var listener = new NpgsqlConnection(service.ConnectionString);
        await listener.OpenAsync();
        var payloads = new ConcurrentQueue<string>();
        listener.Notification += (_, notification) => payloads.Enqueue(notification.Payload);
        await using (var listen = new NpgsqlCommand("LISTEN taskrunner_outbox", listener))
            await listen.ExecuteNonQueryAsync();

        // The engine's statements carry such an INSERT for triggers without actions: it writes nothing and must wake no one.
        const string InsertSql = """
            INSERT INTO outbox (id, task_id, trigger, action, payload)
            SELECT uuid_v7(), $1, 'success', jsonb_build_object('trigger', 'success', 'url', 'http://127.0.0.1:9/x', 'method', 'POST'),
                   jsonb_build_object('task_id', $1::text, 'attempt', 1)
            FROM generate_series(1, $2)
            """;
        await service.ExecuteSqlAsync(InsertSql, task, 0);
        await service.ExecuteSqlAsync(InsertSql, task, 1);
        // Notifications arrive in commit order: once the marker is here, every earlier one is too.
        await service.ExecuteSqlAsync("SELECT pg_notify('taskrunner_outbox', 'marker')");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!payloads.Contains("marker"))
        {
            Assert.True(DateTime.UtcNow < deadline, "the marker notification never came");
            await listener.WaitAsync(TimeSpan.FromMilliseconds(100));
        }
        Assert.Equal(["", "marker"], payloads.ToArray());
    }
}
