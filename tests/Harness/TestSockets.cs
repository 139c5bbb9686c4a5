using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Xunit;

namespace TaskRunner.Tests.Harness;

/// <summary>
/// A WebSocket client of the real-time endpoint, as an application would use it: it keeps every message it receives (in
/// order) and how the server closed it, so tests wait for a message or a close rather than for time.
/// </summary>
public sealed class TestSocket : IAsyncDisposable
{
    private readonly ClientWebSocket socket;
    private readonly ConcurrentQueue<JsonElement> received = new();
    private readonly Task reading;

    private TestSocket(ClientWebSocket socket)
    {
        this.socket = socket;
        reading = ReadAsync();
    }

    /// <summary>Every message so far, in the order received.</summary>
    public IReadOnlyList<JsonElement> Received => [.. received];

    public WebSocketCloseStatus? CloseStatus => socket.CloseStatus;

    public string? CloseReason => socket.CloseStatusDescription;

    public string? SubProtocol => socket.SubProtocol;

    /// <summary>Completes when the server has closed the socket (or it failed).</summary>
    public Task Closed => reading;

    public static Uri Address(Uri baseAddress, string query = "") =>
        new UriBuilder(baseAddress) { Scheme = baseAddress.Scheme == "https" ? "wss" : "ws", Path = "/api/v1/ws", Query = query }.Uri;

    /// <summary>A fresh ticket for the client's credential.</summary>
    public static async Task<string> TicketAsync(HttpClient client)
    {
        using var response = await client.PostAsync("/api/v1/ws/ticket", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("ticket").GetString()!;
    }

    /// <summary>Opens a socket with a fresh ticket of <paramref name="client"/>, resuming after <paramref name="lastEventId"/> if given.</summary>
    public static async Task<TestSocket> OpenAsync(Uri baseAddress, HttpClient client, string? lastEventId = null)
    {
        var query = "ticket=" + Uri.EscapeDataString(await TicketAsync(client))
            + (lastEventId is null ? "" : "&last_event_id=" + Uri.EscapeDataString(lastEventId));
        return await ConnectAsync(Address(baseAddress, query));
    }

    public static async Task<TestSocket> ConnectAsync(Uri address, Action<ClientWebSocketOptions>? configure = null)
    {
        var socket = new ClientWebSocket();
        configure?.Invoke(socket.Options);
        await socket.ConnectAsync(address, CancellationToken.None);
        return new TestSocket(socket);
    }

    /// <summary>The status of a handshake the server refused (it must refuse: an accepted socket fails the test).</summary>
    public static async Task<HttpStatusCode> RefusedAsync(Uri address, Action<ClientWebSocketOptions>? configure = null)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(address, CancellationToken.None));
        Assert.True(socket.HttpStatusCode != 0, "no HTTP answer: " + refused.Message);
        return socket.HttpStatusCode;
    }

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    public Task SendAsync(byte[] bytes, WebSocketMessageType type) => socket.SendAsync(bytes, type, true, CancellationToken.None);

    /// <summary>Subscribes to a project, task or batch (<paramref name="field"/> = project_id, task_id, batch_id) and waits until the server confirms.</summary>
    public async Task SubscribeAsync(string field, Guid id)
    {
        var before = received.Count;
        await SendAsync($$"""{"type":"subscribe","{{field}}":"{{id}}"}""");
        await WaitForAsync(message => Type(message) is "subscribed" or "error" && Data(message, field) == id.ToString(), $"no answer to subscribing to {field} {id}", skip: before);
    }

    /// <summary>Waits for a message (among all received, after the first <paramref name="skip"/>) that matches; returns it.</summary>
    public async Task<JsonElement> WaitForAsync(Func<JsonElement, bool> match, string failure, TimeSpan? timeout = null, int skip = 0)
    {
        JsonElement found = default;
        await Eventually.Until(() =>
        {
            foreach (var message in received.Skip(skip))
                if (match(message))
                {
                    found = message;
                    return true;
                }
            return false;
        }, failure + "; received: " + string.Join(", ", received.Select(message => message.GetRawText())), timeout);
        return found;
    }

    /// <summary>Waits until the server closes the socket.</summary>
    public async Task WaitUntilClosedAsync(TimeSpan? timeout = null) =>
        await reading.WaitAsync(timeout ?? TimeSpan.FromSeconds(20));

    public static string? Type(JsonElement message) => message.GetProperty("type").GetString();

    public static string? Data(JsonElement message, string field) =>
        message.GetProperty("data").TryGetProperty(field, out var value) ? value.GetString() : null;

    /// <summary>The events received (messages with an id), in order.</summary>
    public IReadOnlyList<JsonElement> Events => [.. received.Where(message => message.TryGetProperty("id", out _))];

    private async Task ReadAsync()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                using var message = new MemoryStream();
                WebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        if (socket.State == WebSocketState.CloseReceived)
                            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                        return;
                    }
                    message.Write(buffer, 0, result.Count);
                }
                while (!result.EndOfMessage);
                received.Enqueue(JsonDocument.Parse(message.ToArray()).RootElement.Clone());
            }
        }
        catch (WebSocketException)
        {
            // Aborted: Closed completes, CloseStatus stays null.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (socket.State == WebSocketState.Open)
        {
            try
            {
                using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", deadline.Token);
                await reading.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or TimeoutException)
            {
                // Already going away.
            }
        }
        socket.Abort();
        socket.Dispose();
    }
}
