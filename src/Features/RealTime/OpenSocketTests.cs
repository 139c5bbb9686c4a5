using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using TaskRunner.Infrastructure.Events;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Features.RealTime;

/// <summary>Small real-time limits, so tests reach them with a few messages; a long close handshake for the slow reader.</summary>
public sealed class RealTimeFixture : ServiceFixture
{
    public const int MaxInboundMessageBytes = 1024;
    public const int InboundBurst = 20;
    public const int MaxSocketsPerUser = 3;
    public const int MaxQueuedMessages = 3000;

    public static IEnumerable<KeyValuePair<string, string?>> RealTimeSettings(string connectionString) =>
    [
        .. BaseSettings(connectionString),
        new("RealTime:MaxInboundMessageBytes", MaxInboundMessageBytes.ToString()),
        new("RealTime:InboundMessagesPerSecond", "5"),
        new("RealTime:InboundBurst", InboundBurst.ToString()),
        new("RealTime:MaxSocketsPerUser", MaxSocketsPerUser.ToString()),
        new("RealTime:MaxSubscriptionsPerSocket", "3"),
        new("RealTime:MaxQueuedMessages", MaxQueuedMessages.ToString()),
        new("RealTime:CloseTimeoutSeconds", "60"),
    ];

    protected override IEnumerable<KeyValuePair<string, string?>> Settings(string connectionString) => RealTimeSettings(connectionString);
}

/// <summary>The WebSocket endpoint: who may open it, what each socket receives, and that no client can harm another or the node.</summary>
public sealed class OpenSocketTests(RealTimeFixture service) : IClassFixture<RealTimeFixture>
{
    private static bool IsEventOf(System.Text.Json.JsonElement message, string type, Guid taskId) =>
        TestSocket.Type(message) == type && TestSocket.Data(message, "task_id") == taskId.ToString();

    [Fact]
    public async Task AnEventCausedOnOneNodeReachesAClientOnAnother()
    {
        using var worker = await EngineWorker.StartAsync(service);
        await using var second = await SecondNode.StartAsync(service, RealTimeFixture.RealTimeSettings(service.ConnectionString));
        await using var socket = await TestSocket.OpenAsync(second.BaseAddress, worker.Client);
        await socket.SubscribeAsync("project_id", worker.ProjectId);

        var task = await worker.CreateIdAsync("made on the first node");

        var created = await socket.WaitForAsync(message => IsEventOf(message, "task.created", task), "the second node's client never got the event");
        Assert.Equal(worker.ProjectId.ToString(), TestSocket.Data(created, "project_id"));
        Assert.Equal("pending", TestSocket.Data(created, "status"));
        Assert.True(EventPosition.TryParse(created.GetProperty("id").GetString(), out _));
    }

    [Fact]
    public async Task ASubscriptionToAnotherUsersProjectIsRefusedAndNoneOfItsEventsArrive()
    {
        using var owner = await EngineWorker.StartAsync(service);
        using var outsider = await EngineWorker.StartAsync(service);
        await using var socket = await TestSocket.OpenAsync(service.BaseAddress, outsider.Client);

        await socket.SubscribeAsync("project_id", owner.ProjectId);
        var refused = await socket.WaitForAsync(message => TestSocket.Type(message) == "error", "no refusal");
        Assert.Equal("not_found", TestSocket.Data(refused, "code"));
        var hidden = await owner.CreateIdAsync("not for the outsider");
        await socket.SubscribeAsync("task_id", hidden);
        await socket.SubscribeAsync("project_id", outsider.ProjectId);
        var own = await outsider.CreateIdAsync("the outsider's own");

        // Events arrive in log order: once the later own event is in, the earlier hidden one would have been too.
        await socket.WaitForAsync(message => IsEventOf(message, "task.created", own), "the client's own event never came");
        Assert.DoesNotContain(socket.Events, message => TestSocket.Data(message, "project_id") == owner.ProjectId.ToString());
        Assert.Equal(2, socket.Received.Count(message => TestSocket.Type(message) == "error"));
    }

    [Fact]
    public async Task AClientThatReconnectsWithTheLastEventIdGetsEveryEventItMissed()
    {
        using var worker = await EngineWorker.StartAsync(service);
        string lastSeen;
        await using (var first = await TestSocket.OpenAsync(service.BaseAddress, worker.Client))
        {
            await first.SubscribeAsync("project_id", worker.ProjectId);
            var seen = await worker.CreateIdAsync("seen");
            lastSeen = (await first.WaitForAsync(message => IsEventOf(message, "task.created", seen), "no event")).GetProperty("id").GetString()!;
        }
        var missed = new List<Guid>();
        for (var i = 0; i < 3; i++)
            missed.Add(await worker.CreateIdAsync($"missed {i}"));

        await using var resumed = await TestSocket.OpenAsync(service.BaseAddress, worker.Client, lastSeen);
        await resumed.SubscribeAsync("project_id", worker.ProjectId);
        var live = await worker.CreateIdAsync("after the reconnect");

        await resumed.WaitForAsync(message => IsEventOf(message, "task.created", live), "the live event never came");
        var created = resumed.Events.Where(message => TestSocket.Type(message) == "task.created")
            .Select(message => Guid.Parse(TestSocket.Data(message, "task_id")!)).ToList();
        Assert.Equal([.. missed, live], created);
    }

    [Fact]
    public async Task APositionTheLogNoLongerHoldsGetsAResync()
    {
        using var worker = await EngineWorker.StartAsync(service);

        await using var socket = await TestSocket.OpenAsync(service.BaseAddress, worker.Client, lastEventId: "1-1");

        await socket.WaitForAsync(message => TestSocket.Type(message) == "resync", "no resync message");
    }

    [Fact]
    public async Task AMissingForgedReusedOrExpiredTicketIsRefusedBeforeTheUpgrade()
    {
        using var client = await service.ClientForNewUserAsync();
        Assert.Equal(HttpStatusCode.Unauthorized, await TestSocket.RefusedAsync(TestSocket.Address(service.BaseAddress)));
        Assert.Equal(HttpStatusCode.Unauthorized, await TestSocket.RefusedAsync(TestSocket.Address(service.BaseAddress, "ticket=forged")));

        var ticket = await TestSocket.TicketAsync(client);
        await using (await TestSocket.ConnectAsync(TestSocket.Address(service.BaseAddress, "ticket=" + ticket)))
            Assert.Equal(HttpStatusCode.Unauthorized, await TestSocket.RefusedAsync(TestSocket.Address(service.BaseAddress, "ticket=" + ticket)));

        var expired = await TestSocket.TicketAsync(client);
        await service.ExecuteSqlAsync("UPDATE ws_tickets SET expires_at = now() - interval '1 second' WHERE secret_hash = sha256(convert_to($1, 'UTF8'))", expired);
        Assert.Equal(HttpStatusCode.Unauthorized, await TestSocket.RefusedAsync(TestSocket.Address(service.BaseAddress, "ticket=" + expired)));
    }

    [Fact]
    public async Task ATicketNeedsACredential()
    {
        using var anonymous = service.CreateClient();

        using var response = await anonymous.PostAsync("/api/v1/ws/ticket", null);

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task ABrowserOriginThatIsNeitherTheServicesOwnNorAllowedIsRefused()
    {
        using var client = await service.ClientForNewUserAsync();
        var ticket = await TestSocket.TicketAsync(client);

        Assert.Equal(HttpStatusCode.Forbidden, await TestSocket.RefusedAsync(TestSocket.Address(service.BaseAddress, "ticket=" + ticket),
            options => options.SetRequestHeader("Origin", "https://elsewhere.example")));
        await using var own = await TestSocket.ConnectAsync(TestSocket.Address(service.BaseAddress, "ticket=" + ticket),
            options => options.SetRequestHeader("Origin", service.BaseAddress.GetLeftPart(UriPartial.Authority)));
        await own.SendAsync("""{"type":"ping"}""");
        await own.WaitForAsync(message => TestSocket.Type(message) == "pong", "no pong");
    }

    [Fact]
    public async Task ANonBrowserClientAuthenticatesWithTheBearerSubprotocol()
    {
        using var client = await service.ClientForNewUserAsync();
        var token = client.DefaultRequestHeaders.Authorization!.Parameter!;

        await using var socket = await TestSocket.ConnectAsync(TestSocket.Address(service.BaseAddress), options =>
        {
            options.AddSubProtocol("bearer");
            options.AddSubProtocol(token);
        });

        Assert.Equal("bearer", socket.SubProtocol);
        Assert.Equal(HttpStatusCode.Unauthorized, await TestSocket.RefusedAsync(TestSocket.Address(service.BaseAddress), options =>
        {
            options.AddSubProtocol("bearer");
            options.AddSubProtocol(token[..^4] + "AAAA");
        }));
    }

    [Fact]
    public async Task RemovingAMemberEndsTheirSubscriptionBeforeAnyLaterEvent()
    {
        using var owner = await EngineWorker.StartAsync(service);
        using var member = await EngineWorker.StartAsync(service);
        await service.ExecuteSqlAsync("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'viewer')", owner.ProjectId, member.Account.Id);
        await using var socket = await TestSocket.OpenAsync(service.BaseAddress, member.Client);
        await socket.SubscribeAsync("project_id", owner.ProjectId);
        await socket.SubscribeAsync("project_id", member.ProjectId);
        var before = await owner.CreateIdAsync("while a member");
        await socket.WaitForAsync(message => IsEventOf(message, "task.created", before), "no event while a member");

        using (var removed = await owner.Client.DeleteAsync($"/api/v1/projects/{owner.ProjectId}/members/{member.Account.Id}"))
            Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        var after = await owner.CreateIdAsync("after the removal");
        var own = await member.CreateIdAsync("the member's own, later");

        var ended = await socket.WaitForAsync(message => TestSocket.Type(message) == "subscription_ended", "the subscription did not end");
        Assert.Equal(owner.ProjectId.ToString(), TestSocket.Data(ended, "project_id"));
        await socket.WaitForAsync(message => IsEventOf(message, "task.created", own), "the member's own event never came");
        Assert.DoesNotContain(socket.Events, message => TestSocket.Data(message, "task_id") == after.ToString());
    }

    [Fact]
    public async Task RevokingTheSessionClosesItsSocketWith4401()
    {
        using var client = await service.ClientForNewUserAsync();
        await using var socket = await TestSocket.OpenAsync(service.BaseAddress, client);
        await socket.SendAsync("""{"type":"ping"}""");
        await socket.WaitForAsync(message => TestSocket.Type(message) == "pong", "no pong");

        using (var logout = await client.PostAsync("/api/v1/auth/logout", null))
            Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);

        await socket.WaitUntilClosedAsync();
        Assert.Equal((WebSocketCloseStatus)4401, socket.CloseStatus);
    }

    [Fact]
    public async Task DisablingTheUserClosesTheSocketsOfItsApiKeys()
    {
        using var admin = await service.ClientForNewUserAsync(Infrastructure.Security.Roles.Admin);
        var account = await service.CreateUserAsync();
        using var session = await service.ClientForAsync(account);
        using var created = await session.PostAsync("/api/v1/auth/api-keys", TestJson.Body(("name", "socket key")));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        using var keyed = service.CreateClient().WithApiKey((await created.ReadJsonAsync()).GetProperty("key").GetString()!);
        await using var socket = await TestSocket.OpenAsync(service.BaseAddress, keyed);

        using (var disabled = await admin.PatchAsync($"/api/v1/users/{account.Id}", TestJson.Body(("disabled", true))))
            Assert.Equal(HttpStatusCode.OK, disabled.StatusCode);

        await socket.WaitUntilClosedAsync();
        Assert.Equal((WebSocketCloseStatus)4401, socket.CloseStatus);
    }

    [Fact]
    public async Task BinaryFramesInvalidJsonAndUnknownTypesAreAnsweredWithErrorsAndTheSocketGoesOn()
    {
        using var worker = await EngineWorker.StartAsync(service);
        await using var socket = await TestSocket.OpenAsync(service.BaseAddress, worker.Client);

        await socket.SendAsync([1, 2, 3], WebSocketMessageType.Binary);
        await socket.SendAsync("{not json");
        await socket.SendAsync("""{"type":"dance"}""");
        await socket.SendAsync("""{"type":"subscribe","project_id":"not-a-uuid"}""");
        await socket.SendAsync("[]");

        await Eventually.Until(() => socket.Received.Count(message => TestSocket.Type(message) == "error") == 5,
            "not every bad message was answered with an error");
        Assert.Equal(["binary_not_supported", "invalid_json", "unknown_type", "invalid_message", "invalid_message"],
            socket.Received.Select(message => TestSocket.Data(message, "code")));
        await socket.SubscribeAsync("project_id", worker.ProjectId);
        var task = await worker.CreateIdAsync("still served");
        await socket.WaitForAsync(message => IsEventOf(message, "task.created", task), "the socket stopped working");
    }

    [Fact]
    public async Task AnOversizedMessageClosesOnlyItsOwnSocketWith1009()
    {
        using var client = await service.ClientForNewUserAsync();
        await using var bystander = await TestSocket.OpenAsync(service.BaseAddress, client);
        await using var offender = await TestSocket.OpenAsync(service.BaseAddress, client);

        await offender.SendAsync(Encoding.UTF8.GetBytes(new string(' ', RealTimeFixture.MaxInboundMessageBytes + 1)), WebSocketMessageType.Text);

        await offender.WaitUntilClosedAsync();
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, offender.CloseStatus);
        await bystander.SendAsync("""{"type":"ping"}""");
        await bystander.WaitForAsync(message => TestSocket.Type(message) == "pong", "the other socket stopped answering");
    }

    [Fact]
    public async Task AFloodOfMessagesClosesTheFlooderWith4429AndSparesTheOthers()
    {
        using var client = await service.ClientForNewUserAsync();
        await using var bystander = await TestSocket.OpenAsync(service.BaseAddress, client);
        await using var flooder = await TestSocket.OpenAsync(service.BaseAddress, client);

        try
        {
            for (var i = 0; i < RealTimeFixture.InboundBurst * 10 && flooder.CloseStatus is null; i++)
                await flooder.SendAsync("""{"type":"ping"}""");
        }
        catch (WebSocketException)
        {
            // The server closed it mid-flood.
        }

        await flooder.WaitUntilClosedAsync();
        Assert.Equal((WebSocketCloseStatus)4429, flooder.CloseStatus);
        Assert.True(EventPosition.TryParse(flooder.CloseReason, out _), $"the close reason '{flooder.CloseReason}' is no resume id");
        await bystander.SendAsync("""{"type":"ping"}""");
        await bystander.WaitForAsync(message => TestSocket.Type(message) == "pong", "the other socket stopped answering");
    }

    [Fact]
    public async Task AUserHoldsAtMostTheConfiguredNumberOfSocketsPerNode()
    {
        using var client = await service.ClientForNewUserAsync();
        var open = new List<TestSocket>();
        try
        {
            for (var i = 0; i < RealTimeFixture.MaxSocketsPerUser; i++)
                open.Add(await TestSocket.OpenAsync(service.BaseAddress, client));

            var ticket = await TestSocket.TicketAsync(client);
            Assert.Equal(HttpStatusCode.TooManyRequests, await TestSocket.RefusedAsync(TestSocket.Address(service.BaseAddress, "ticket=" + ticket)));
        }
        finally
        {
            foreach (var socket in open)
                await socket.DisposeAsync();
        }
    }

    [Fact]
    public async Task ASocketHoldsAtMostTheConfiguredNumberOfSubscriptions()
    {
        var account = await service.CreateUserAsync();
        using var client = await service.ClientForAsync(account);
        await using var socket = await TestSocket.OpenAsync(service.BaseAddress, client);
        for (var i = 0; i < 3; i++)
        {
            await socket.SubscribeAsync("project_id", await service.CreateProjectAsync(account));
        }

        var oneTooMany = await service.CreateProjectAsync(account);
        await socket.SendAsync($$"""{"type":"subscribe","project_id":"{{oneTooMany}}"}""");

        var refused = await socket.WaitForAsync(message => TestSocket.Type(message) == "error", "no refusal");
        Assert.Equal("too_many_subscriptions", TestSocket.Data(refused, "code"));
    }

    /// <summary>
    /// The slow client never reads, so what the server sends piles up in the socket buffers and then in its queue, until the
    /// queue overflows. Meanwhile the fast client must get every event as it happens; afterwards the slow client finds
    /// <c>overflow</c>, a close 4408 whose reason is its resume id, and resuming from there loses nothing.
    /// </summary>
    [Fact]
    public async Task ASlowClientOverflowsWithoutDelayingAFastOneAndResumesWithoutLoss()
    {
        using var worker = await EngineWorker.StartAsync(service);
        await using var fast = await TestSocket.OpenAsync(service.BaseAddress, worker.Client);
        await fast.SubscribeAsync("project_id", worker.ProjectId);
        var slow = await SlowReader.OpenAsync(service.BaseAddress, worker.Client, worker.ProjectId);

        // The server's socket buffer grows to megabytes: the slow client overflows after some ten thousand events.
        var created = 0;
        for (var round = 0; round < 40 && !await OverflowedAsync(); round++)
        {
            using var bulk = await worker.PostAsync("/api/v1/tasks/bulk", new JsonObject
            {
                ["project_id"] = worker.ProjectId.ToString(),
                ["tasks"] = new JsonArray(Enumerable.Range(0, 1000).Select(i => (JsonNode)new JsonObject { ["title"] = $"r{round} t{i}" }).ToArray()),
            });
            Assert.Equal(HttpStatusCode.Created, bulk.StatusCode);
            created += 1000;
            await Eventually.Until(() => fast.Events.Count(message => TestSocket.Type(message) == "task.created") == created,
                $"the fast client fell behind at {created} tasks", TimeSpan.FromSeconds(20));
        }
        using (var scrape = service.CreateClient())
            Assert.True(await OverflowedAsync(), "the slow client never overflowed: "
                + string.Join('\n', (await scrape.GetStringAsync("/metrics")).Split('\n').Where(line => line.Contains("realtime", StringComparison.Ordinal))));
        Assert.Null(fast.CloseStatus);

        var (lastEventId, closeStatus, received) = await slow.ReadToTheEndAsync();
        Assert.Equal((WebSocketCloseStatus)4408, closeStatus);
        await using var resumed = await TestSocket.OpenAsync(service.BaseAddress, worker.Client, lastEventId);
        await resumed.SubscribeAsync("project_id", worker.ProjectId);
        var all = (await service.QueryTextAsync("SELECT id::text FROM tasks WHERE project_id = $1", worker.ProjectId)).ToHashSet();
        await Eventually.Until(() => received.Concat(resumed.Events.Select(message => TestSocket.Data(message, "task_id")!)).ToHashSet().IsSupersetOf(all),
            "some events were lost between the overflow and the resume");

        async Task<bool> OverflowedAsync()
        {
            using var scrape = service.CreateClient();
            var metrics = await scrape.GetStringAsync("/metrics");
            return metrics.Split('\n').Any(line => line.StartsWith("taskrunner_realtime_sockets_dropped_total{", StringComparison.Ordinal)
                && line.Contains("reason=\"overflow\"", StringComparison.Ordinal) && !line.EndsWith(" 0", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task ANodeThatShutsDownClosesItsSocketsWith1012AndAResumeId()
    {
        using var worker = await EngineWorker.StartAsync(service);
        var second = await SecondNode.StartAsync(service, RealTimeFixture.RealTimeSettings(service.ConnectionString));
        await using var socket = await TestSocket.OpenAsync(second.BaseAddress, worker.Client);
        await socket.SubscribeAsync("project_id", worker.ProjectId);

        await second.DisposeAsync();

        await socket.WaitUntilClosedAsync();
        Assert.Equal((WebSocketCloseStatus)1012, socket.CloseStatus);
        Assert.True(EventPosition.TryParse(socket.CloseReason, out _), $"the close reason '{socket.CloseReason}' is no resume id");
    }

    /// <summary>A client whose receive buffer is tiny and who does not read until told to.</summary>
    private sealed class SlowReader(ClientWebSocket socket)
    {
        public static async Task<SlowReader> OpenAsync(Uri baseAddress, HttpClient client, Guid project)
        {
            var socket = new ClientWebSocket();
            using var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (context, cancellationToken) =>
                {
                    var tcp = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 1024, NoDelay = true };
                    await tcp.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(tcp, ownsSocket: true);
                },
            };
            var query = "ticket=" + Uri.EscapeDataString(await TestSocket.TicketAsync(client));
            await socket.ConnectAsync(TestSocket.Address(baseAddress, query), new HttpMessageInvoker(handler, disposeHandler: false), CancellationToken.None);
            await socket.SendAsync(Encoding.UTF8.GetBytes($$"""{"type":"subscribe","project_id":"{{project}}"}"""), WebSocketMessageType.Text, true, CancellationToken.None);
            return new SlowReader(socket);
        }

        /// <summary>Reads everything the server sent: the overflow message's resume id, the close status, and the task ids of the events.</summary>
        public async Task<(string LastEventId, WebSocketCloseStatus? Status, List<string> TaskIds)> ReadToTheEndAsync()
        {
            var taskIds = new List<string>();
            string? lastEventId = null;
            var buffer = new byte[64 * 1024];
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(50));
            while (true)
            {
                using var message = new MemoryStream();
                WebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer, deadline.Token);
                    message.Write(buffer, 0, result.Count);
                }
                while (!result.EndOfMessage);
                if (result.MessageType == WebSocketMessageType.Close)
                    break;
                var json = System.Text.Json.JsonDocument.Parse(message.ToArray()).RootElement;
                if (TestSocket.Type(json) == "overflow")
                    lastEventId = TestSocket.Data(json, "last_event_id");
                else if (TestSocket.Data(json, "task_id") is { } taskId)
                    taskIds.Add(taskId);
            }
            Assert.NotNull(lastEventId);
            Assert.Equal(lastEventId, socket.CloseStatusDescription);
            var status = socket.CloseStatus;
            socket.Dispose();
            return (lastEventId, status, taskIds);
        }
    }
}
