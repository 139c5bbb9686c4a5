using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TaskRunner.Tests.Harness;

/// <summary>One request the receiver got: when, where, its headers (lower-case names) and body.</summary>
public sealed record ReceivedWebhook(DateTime At, string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement.Clone();

    public string Header(string name) => Headers.TryGetValue(name, out var value) ? value : "";

    /// <summary>The task id in the Standard Webhooks envelope's data.</summary>
    public Guid TaskId => Guid.Parse(Json.GetProperty("data").GetProperty("task_id").GetString()!);
}

/// <summary>
/// What the receiver answers: a status, optional body and headers; with <see cref="Hold"/>, only once that task completes
/// (a sender that gives up first, or dies, aborts the request and gets no answer).
/// </summary>
public sealed record ReceiverAnswer(int Status, string? Body = null, Task? Hold = null, IReadOnlyDictionary<string, string>? Headers = null)
{
    public static readonly ReceiverAnswer Ok = new(200);

    /// <summary>Never answers: the request stays open until its sender gives up or goes away.</summary>
    public static readonly ReceiverAnswer Unanswered = new(200, Hold: new TaskCompletionSource().Task);
}

/// <summary>
/// A real HTTP server on 127.0.0.1 that records every webhook and answers as the test tells it: failures, slow answers,
/// 410, Retry-After, synchronous outcomes. It can be stopped and started again on the same port (a receiver that is down
/// and comes back). Signatures are checked here independently of the service's code (Standard Webhooks, recomputed).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly ConcurrentQueue<ReceivedWebhook> received = new();
    private WebApplication? app;
    private int port;

    /// <summary>Decides each answer from the request and how many requests came before it (0-based). Default: 200.</summary>
    public Func<ReceivedWebhook, int, ReceiverAnswer> Answer { get; set; } = (_, _) => ReceiverAnswer.Ok;

    public IReadOnlyCollection<ReceivedWebhook> Received => received.ToArray();

    public string Url(string path = "/hook") => $"http://127.0.0.1:{port}{path}";

    public static async Task<WebhookReceiver> StartAsync()
    {
        var receiver = new WebhookReceiver();
        await receiver.StartOnAsync(0);
        return receiver;
    }

    /// <summary>Listens again on the port it had (after <see cref="StopAsync"/>).</summary>
    public Task RestartAsync() => StartOnAsync(port);

    private async Task StartOnAsync(int onPort)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, onPort));
        var started = builder.Build();
        var count = 0;
        started.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var webhook = new ReceivedWebhook(DateTime.UtcNow, context.Request.Method, context.Request.Path,
                context.Request.Headers.ToDictionary(header => header.Key.ToLowerInvariant(), header => header.Value.ToString()), body);
            received.Enqueue(webhook);
            var answer = Answer(webhook, Interlocked.Increment(ref count) - 1);
            if (answer.Hold is { } hold)
            {
                try
                {
                    await hold.WaitAsync(context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            context.Response.StatusCode = answer.Status;
            foreach (var (name, value) in answer.Headers ?? new Dictionary<string, string>())
                context.Response.Headers[name] = value;
            if (answer.Body is { } text)
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(text);
            }
        });
        await started.StartAsync();
        port = new Uri(started.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First()).Port;
        app = started;
    }

    public async Task StopAsync()
    {
        if (app is null)
            return;
        await app.StopAsync();
        await app.DisposeAsync();
        app = null;
    }

    /// <summary>Waits until the received requests satisfy <paramref name="condition"/>; fails the test after the timeout.</summary>
    public Task<IReadOnlyCollection<ReceivedWebhook>> WaitForAsync(Func<IReadOnlyCollection<ReceivedWebhook>, bool> condition, TimeSpan? timeout = null) =>
        Eventually.Until(() => Task.FromResult(Received), condition,
            snapshot => $"the receiver did not get what was expected; it got {snapshot.Count} requests", timeout, TimeSpan.FromMilliseconds(20));

    /// <summary>
    /// Whether the request carries a valid Standard Webhooks signature under <paramref name="secret"/> (whsec_ + base64):
    /// HMAC-SHA256 of <c>id.timestamp.body</c>, compared with each <c>v1,</c> signature of the space-separated header.
    /// </summary>
    public static bool IsSignedWith(ReceivedWebhook webhook, string secret)
    {
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var content = Encoding.UTF8.GetBytes($"{webhook.Header("webhook-id")}.{webhook.Header("webhook-timestamp")}.{webhook.Body}");
        var expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, content));
        return webhook.Header("webhook-signature").Split(' ').Contains(expected);
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
