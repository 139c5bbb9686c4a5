using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Npgsql;
using Polly.Timeout;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Features.Webhooks;

/// <summary>How one send ended, as <see cref="DeliverySender"/> classified it.</summary>
public enum SendResult
{
    /// <summary>A 2xx answer.</summary>
    Delivered,

    /// <summary>410 Gone: final, and the action is retired.</summary>
    Gone,

    /// <summary>The destination was refused by policy when connecting: final.</summary>
    Rejected,

    /// <summary>No answer, any other status, or not sent because it could not be signed: retried on the schedule.</summary>
    Failed,

    /// <summary>Not sent, no attempt used: the destination's circuit is open.</summary>
    CircuitOpen,

    /// <summary>Not sent, never will be: the action was retired by a 410 or its template deleted.</summary>
    Disabled,
}

/// <summary>
/// One send's outcome. <see cref="Answer"/> holds as much of the answer as anything reads (the excerpt, a start's outcome,
/// follow-up conditions); <see cref="Completes"/> says the answer is a start webhook's synchronous outcome to apply.
/// </summary>
public sealed record SendOutcome(
    SendResult Result, string? Url, DateTime StartedAt, TimeSpan Elapsed, int? StatusCode = null, string? Error = null,
    string? Excerpt = null, TimeSpan? RetryAfter = null, byte[]? Answer = null, bool Completes = false);

/// <summary>
/// Sends one claimed delivery: builds the Standard Webhooks request (envelope, signature, header templates), lets it through
/// the destination's circuit, and classifies what came back into a <see cref="SendOutcome"/>. It records nothing: that is
/// <see cref="DeliveryRecorder"/>'s.
/// </summary>
public sealed class DeliverySender(
    NpgsqlDataSource dataSource,
    IHttpClientFactory httpClients,
    DestinationCircuits circuits,
    IOptions<WebhooksOptions> options,
    WebhookSecretVault vault,
    TimeProvider clock)
{
    private const int ExcerptBytes = 1024;

    /// <summary>A synchronous answer may carry as much output as a completion report, plus its envelope.</summary>
    private const int MaxAnswerBytes = 256 * 1024 + 4096;

    public const string InterruptedError = "interrupted: this node shut down before the receiver answered";

    /// <summary>
    /// Sends one delivery of <paramref name="action"/>. <paramref name="interrupt"/> cuts the exchange with the receiver
    /// short (the node is shutting down): the send then fails, to be retried, rather than being left leased.
    /// </summary>
    public async Task<SendOutcome> SendAsync(ClaimedDelivery delivery, JsonElement action, CancellationToken interrupt)
    {
        var url = action.TryGetProperty("url", out var urlElement) ? urlElement.GetString() : null;
        if (delivery.Disabled || url is null)
            return new SendOutcome(SendResult.Disabled, url, clock.GetUtcNow().UtcDateTime, TimeSpan.Zero, Error: url is null
                ? "not sent: its action template was deleted"
                : "not sent: the action was disabled after its receiver answered 410 Gone");

        var messageId = delivery.Id.ToString();
        var timestamp = clock.GetUtcNow().ToUnixTimeSeconds();
        var body = Body(delivery, clock.GetUtcNow().UtcDateTime);
        using var request = new HttpRequestMessage(new HttpMethod(action.GetProperty("method").GetString() ?? "POST"), url)
        {
            Content = new ByteArrayContent(body) { Headers = { { "Content-Type", "application/json" } } },
        };
        if (action.TryGetProperty("headers", out var headers) && headers.ValueKind == JsonValueKind.Object)
            foreach (var header in headers.EnumerateObject())
                request.Headers.TryAddWithoutValidation(header.Name, HeaderTemplates.Fill(header.Value.GetString() ?? "", delivery.Metadata));
        // With tracing on, the HTTP client's span sets traceparent (a child of webhook.deliver); off, the creator's is passed on.
        if (Activity.Current is null && delivery.Traceparent is { } traceparent)
            request.Headers.TryAddWithoutValidation("traceparent", traceparent);
        request.Headers.TryAddWithoutValidation("webhook-id", messageId);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
        var stored = delivery.Secrets.Length == 0 && delivery.TemplateId is null
            ? await WebhookSecrets.EnsureProjectSecretAsync(dataSource, delivery.ProjectId, vault, CancellationToken.None)
            : delivery.Secrets;
        var secrets = vault.Open(stored, out var unsigned);
        if (secrets is not null && WebhookSigning.Signature(secrets, messageId, timestamp, body) is { } signature)
            request.Headers.TryAddWithoutValidation("webhook-signature", signature);
        else
            unsigned ??= "it has no signing secret";

        var startedAt = clock.GetUtcNow().UtcDateTime;
        var started = Stopwatch.GetTimestamp();
        // Never sent unsigned: the attempt fails (and is retried on the schedule) until the operator restores the key.
        if (unsigned is not null)
            return new SendOutcome(SendResult.Failed, url, startedAt, Stopwatch.GetElapsedTime(started), Error: "not sent: " + unsigned);
        var authority = Uri.TryCreate(url, UriKind.Absolute, out var destination) ? destination.GetLeftPart(UriPartial.Authority) : url;
        // The host's circuit is open: nothing was sent, so no attempt is used up.
        if (!circuits.TryEnter(authority))
            return new SendOutcome(SendResult.CircuitOpen, url, startedAt, TimeSpan.Zero,
                Error: "not sent: the destination's circuit is open after repeated failures");

        // Every attempt let through is recorded by the circuit, whatever ends it, or a half-open circuit would wait on its
        // trial forever.
        var failedTransiently = true;
        try
        {
            var outcome = await ExchangeAsync(delivery, request, action, interrupt);
            // What the circuit counts as a failure of the destination: no answer, or 5xx, 408, 429 (not a shutdown).
            failedTransiently = outcome.StatusCode is >= 500 or 408 or 429
                || (outcome.StatusCode is null && outcome.Result == SendResult.Failed && !interrupt.IsCancellationRequested);
            return outcome with { Url = url, StartedAt = startedAt, Elapsed = Stopwatch.GetElapsedTime(started) };
        }
        finally
        {
            circuits.Record(authority, failedTransiently);
        }
    }

    /// <summary>Sends the request and classifies the answer, or its absence.</summary>
    private async Task<SendOutcome> ExchangeAsync(ClaimedDelivery delivery, HttpRequestMessage request, JsonElement action, CancellationToken interrupt)
    {
        var settings = options.Value;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(interrupt);
        deadline.CancelAfter(TimeSpan.FromSeconds(settings.TotalTimeoutSeconds));
        try
        {
            using var response = await httpClients.CreateClient(DeliveryHttp.ClientName)
                .SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            var status = (int)response.StatusCode;
            var completes = delivery.Trigger == "start" && response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.Accepted;
            // One byte past the limit tells a whole answer from a cut one (which is not JSON to a follow-up).
            var answer = await ReadAsync(response,
                Math.Max(completes ? MaxAnswerBytes : ExcerptBytes, FollowUpActions.Any(action) ? FollowUpActions.MaxAnswerBytes + 1 : 0),
                deadline.Token);
            var result = response.IsSuccessStatusCode ? SendResult.Delivered
                : response.StatusCode == HttpStatusCode.Gone ? SendResult.Gone
                : SendResult.Failed;
            var error = result switch
            {
                SendResult.Delivered => null,
                SendResult.Gone => "410 Gone: the action is disabled",
                _ => ErrorOf(response),
            };
            return Answered(result, status, error, Excerpt(answer), result == SendResult.Failed ? RetryAfter(response) : null, answer, completes);
        }
        catch (HttpRequestException e) when (e.InnerException is DestinationRejectedException rejected)
        {
            return Unanswered(SendResult.Rejected, "refused: " + rejected.Message);
        }
        catch (TimeoutRejectedException)
        {
            return Unanswered(SendResult.Failed, $"no response within {settings.AttemptTimeoutSeconds} s");
        }
        catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
        {
            return Unanswered(SendResult.Failed, InterruptedError);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return Unanswered(SendResult.Failed, $"the attempt did not finish within {settings.TotalTimeoutSeconds} s");
        }
        catch (HttpRequestException e)
        {
            return Unanswered(SendResult.Failed, e.Message);
        }
    }

    private static SendOutcome Answered(
        SendResult result, int status, string? error, string? excerpt, TimeSpan? retryAfter, byte[] answer, bool completes) =>
        new(result, null, default, default, status, error, excerpt, retryAfter, answer, completes);

    private static SendOutcome Unanswered(SendResult result, string error) => new(result, null, default, default, Error: error);

    private TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - clock.GetUtcNow(),
        _ => null,
    };

    private static string ErrorOf(HttpResponseMessage response) => (int)response.StatusCode is >= 300 and < 400
        ? $"{(int)response.StatusCode} redirect not followed"
        : $"{(int)response.StatusCode} {response.ReasonPhrase}";

    /// <summary>
    /// The Standard Webhooks envelope: <c>{"type":"task.start","timestamp":…,"data":{…the task…}}</c>. A start delivery's
    /// data also carries the attempt's <c>lease_token</c> (when it has a lease), so a receiver answering 202 can report later.
    /// </summary>
    private static byte[] Body(ClaimedDelivery delivery, DateTime now)
    {
        var buffer = new ArrayBufferWriter<byte>(delivery.Payload.Length + 256);
        using (var writer = new Utf8JsonWriter(buffer))
        using (var payload = JsonDocument.Parse(delivery.Payload))
        {
            writer.WriteStartObject();
            writer.WriteString("type", "task." + delivery.Trigger);
            writer.WriteString("timestamp", now.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            writer.WriteStartObject("data");
            foreach (var property in payload.RootElement.EnumerateObject())
                property.WriteTo(writer);
            if (delivery.LeaseToken is { } leaseToken)
                writer.WriteNumber("lease_token", leaseToken);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static async Task<byte[]> ReadAsync(HttpResponseMessage response, int limit, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[limit];
        var read = 0;
        while (read < limit && await stream.ReadAsync(buffer.AsMemory(read), cancellationToken) is var count and > 0)
            read += count;
        return buffer.AsSpan(0, read).ToArray();
    }

    /// <summary>At most 1 KiB of UTF-8, cut on a character boundary, without NUL (which PostgreSQL text cannot hold).</summary>
    private static string? Excerpt(byte[] answer)
    {
        if (answer.Length == 0)
            return null;
        var text = Encoding.UTF8.GetString(answer, 0, Math.Min(answer.Length, ExcerptBytes)).Replace("\0", "", StringComparison.Ordinal);
        while (Encoding.UTF8.GetByteCount(text) > ExcerptBytes)
            text = text[..^1];
        return text;
    }
}

/// <summary>
/// Header values filled from the task's metadata: <c>{{metadata.customer_id}}</c> becomes that field's value (a dotted path
/// reaches into nested objects: <c>{{metadata.account.region}}</c>). Strings are inserted as they are, numbers and booleans
/// as their JSON text, anything missing, null, an object or an array as nothing. Control characters are dropped, so a
/// value cannot split the header.
/// </summary>
public static partial class HeaderTemplates
{
    [GeneratedRegex(@"\{\{\s*metadata\.([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)\s*\}\}")]
    private static partial Regex Placeholder();

    public static string Fill(string value, string? metadata)
    {
        if (!value.Contains("{{", StringComparison.Ordinal))
            return value;
        using var document = metadata is null ? null : JsonDocument.Parse(metadata);
        return Placeholder().Replace(value, match =>
        {
            if (document is null)
                return "";
            var element = document.RootElement;
            foreach (var name in match.Groups[1].Value.Split('.'))
                if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
                    return "";
            var text = element.ValueKind switch
            {
                JsonValueKind.String => element.GetString()!,
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => element.GetRawText(),
                _ => "",
            };
            return string.Concat(text.Where(character => !char.IsControl(character)));
        });
    }
}
