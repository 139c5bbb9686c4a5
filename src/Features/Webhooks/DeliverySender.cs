using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Polly.Timeout;
using TaskRunner.Features.Execution;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// Sends one claimed delivery and records what happened: one <c>delivery_attempts</c> row and the delivery's new state,
/// in one statement fenced by the lease (a node that lost its lease records nothing). 2xx delivers; 410 Gone is final and
/// retires the action; anything else is retried on the schedule (or at the receiver's <c>Retry-After</c>, if later) until
/// the schedule runs out and the delivery is dead. A <c>start</c> delivery answered with an outcome completes the task.
/// </summary>
public sealed partial class DeliverySender(
    NpgsqlDataSource dataSource,
    IHttpClientFactory httpClients,
    DeliveryMetrics metrics,
    DestinationCircuits circuits,
    EngineMetrics engineMetrics,
    IOptions<WebhooksOptions> options,
    IOptions<EngineOptions> engineOptions,
    WebhookSecretVault vault,
    TimeProvider clock,
    ILogger<DeliverySender> logger)
{
    private const int ExcerptBytes = 1024;

    /// <summary>A synchronous answer may carry as much output as a completion report, plus its envelope.</summary>
    private const int MaxAnswerBytes = 256 * 1024 + 4096;

    // A delivery that ends (delivered or dead) also writes the follow-ups its answer matched, in the same statement: they
    // exist exactly when the end is recorded, once, and carry the task's payload plus what the answer was — but not a start's
    // lease, which is for the worker the start went to. A 410 retires the action in the same statement too, so a delivery
    // of it written after this one is seen dead is never sent.
    private const string RecordSql = """
        WITH updated AS (
            UPDATE outbox
            SET status = @status, attempts = attempts + 1,
                next_attempt_at = CASE WHEN @retryDelay::double precision IS NULL THEN next_attempt_at
                                       ELSE now() + make_interval(secs => @retryDelay::double precision) END,
                lease_owner = NULL, lease_expires_at = NULL, last_status_code = @statusCode, last_error = @error,
                delivered_at = CASE WHEN @status = 'delivered' THEN now() END, updated_at = now()
            WHERE id = @id AND status = 'delivering' AND lease_owner = @node
            RETURNING id, attempts, task_id, trigger, payload
        ),
        follow_ups AS (
            INSERT INTO outbox (id, task_id, trigger, action, payload, follow_up_of)
            SELECT uuid_v7(), u.task_id, 'follow_up', f.action,
                   (u.payload - 'lease_token' - 'lease_expires_at') || jsonb_build_object('follow_up_of', jsonb_build_object(
                       'delivery_id', u.id, 'trigger', u.trigger, 'outcome', @status, 'status_code', @statusCode,
                       'response', @response::jsonb)),
                   u.id
            FROM updated u CROSS JOIN jsonb_array_elements(@followUps::jsonb) AS f (action)
        ),
        retired_template AS (
            UPDATE action_templates SET disabled_at = now(), disabled_reason = @goneReason, updated_at = now()
            WHERE @goneReason::text IS NOT NULL AND id = @templateId AND disabled_at IS NULL AND EXISTS (SELECT FROM updated)
        ),
        retired_inline AS (
            INSERT INTO disabled_actions (task_id, url)
            SELECT task_id, @url FROM updated WHERE @goneReason::text IS NOT NULL AND @templateId::uuid IS NULL
            ON CONFLICT DO NOTHING
        )
        INSERT INTO delivery_attempts (id, delivery_id, attempt, node, started_at, duration_ms, status_code, error, response_excerpt)
        SELECT @attemptId, id, attempts, @node, @startedAt, @durationMs, @statusCode, @error, @excerpt FROM updated
        """;

    // Not an attempt (nothing was sent): back to pending without counting one.
    private const string PostponeSql = """
        UPDATE outbox
        SET status = 'pending', next_attempt_at = now() + make_interval(secs => @delaySeconds), lease_owner = NULL,
            lease_expires_at = NULL, last_error = @error, updated_at = now()
        WHERE id = @id AND status = 'delivering' AND lease_owner = @node
        """;

    // Never sent: the action is retired or gone.
    private const string ParkSql = """
        UPDATE outbox
        SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL, last_error = @error, updated_at = now()
        WHERE id = @id AND status = 'delivering' AND lease_owner = @node
        """;

    public const string InterruptedError = "interrupted: this node shut down before the receiver answered";

    private sealed record Outcome(string Status, string MetricOutcome, int? StatusCode, string? Error, string? Excerpt, double? RetryDelay);

    /// <summary>
    /// Sends and records one delivery. <paramref name="interrupt"/> cuts the exchange with the receiver short (the node is
    /// shutting down): the attempt is then recorded as failed, to be retried, rather than left leased. The statements that
    /// record it take no token, so they happen even then (bounded by the command timeout).
    /// </summary>
    public async Task DeliverAsync(ClaimedDelivery delivery, string node, CancellationToken interrupt)
    {
        // In the trace of the request that created the task, so the receiver's work joins the DAG's trace.
        using var span = Tracing.StartInTaskTrace("webhook.deliver", delivery.Traceparent, ActivityKind.Producer);
        span?.SetTag("taskrunner.task_id", delivery.TaskId.ToString());
        span?.SetTag("taskrunner.trigger", delivery.Trigger);
        metrics.Started();
        try
        {
            await DeliverCoreAsync(delivery, node, interrupt);
        }
        finally
        {
            metrics.Ended();
        }
    }

    private async Task DeliverCoreAsync(ClaimedDelivery delivery, string node, CancellationToken interrupt)
    {
        var cancellationToken = CancellationToken.None;
        using var action = JsonDocument.Parse(delivery.Action);
        var url = action.RootElement.TryGetProperty("url", out var urlElement) ? urlElement.GetString() : null;
        if (delivery.Disabled || url is null)
        {
            var reason = url is null
                ? "not sent: its action template was deleted"
                : "not sent: the action was disabled after its receiver answered 410 Gone";
            await using var parking = await dataSource.OpenConnectionAsync(cancellationToken);
            await parking.ExecuteAsync(ParkSql, new { id = delivery.Id, node, error = reason, cancellationToken });
            metrics.Attempted(delivery.Host, "disabled", TimeSpan.Zero);
            metrics.Dead(delivery.Host);
            return;
        }

        var settings = options.Value;
        var messageId = delivery.Id.ToString();
        var timestamp = clock.GetUtcNow().ToUnixTimeSeconds();
        var body = Body(delivery, clock.GetUtcNow().UtcDateTime);
        using var request = new HttpRequestMessage(new HttpMethod(action.RootElement.GetProperty("method").GetString() ?? "POST"), url)
        {
            Content = new ByteArrayContent(body) { Headers = { { "Content-Type", "application/json" } } },
        };
        if (action.RootElement.TryGetProperty("headers", out var headers) && headers.ValueKind == JsonValueKind.Object)
            foreach (var header in headers.EnumerateObject())
                request.Headers.TryAddWithoutValidation(header.Name, HeaderTemplates.Fill(header.Value.GetString() ?? "", delivery.Metadata));
        // With tracing on, the HTTP client's span sets traceparent (a child of webhook.deliver); off, the creator's is passed on.
        if (Activity.Current is null && delivery.Traceparent is { } traceparent)
            request.Headers.TryAddWithoutValidation("traceparent", traceparent);
        request.Headers.TryAddWithoutValidation("webhook-id", messageId);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
        var stored = delivery.Secrets.Length == 0 && delivery.TemplateId is null
            ? await WebhookSecrets.EnsureProjectSecretAsync(dataSource, delivery.ProjectId, vault, cancellationToken)
            : delivery.Secrets;
        var secrets = vault.Open(stored, out var unsigned);
        if (secrets is not null && WebhookSigning.Signature(secrets, messageId, timestamp, body) is { } signature)
            request.Headers.TryAddWithoutValidation("webhook-signature", signature);
        else
            unsigned ??= "it has no signing secret";

        var startedAt = clock.GetUtcNow().UtcDateTime;
        var started = Stopwatch.GetTimestamp();
        Outcome outcome;
        byte[]? answer = null;
        var completes = false;
        var hasFollowUps = FollowUpActions.Any(action.RootElement);
        var authority = Uri.TryCreate(url, UriKind.Absolute, out var destination) ? destination.GetLeftPart(UriPartial.Authority) : url;
        if (unsigned is not null)
        {
            // Never sent unsigned: the attempt fails (and is retried on the schedule) until the operator restores the key.
            outcome = Failed(delivery, null, "not sent: " + unsigned, null, null);
        }
        else if (!circuits.TryEnter(authority))
        {
            // The host's circuit is open: nothing was sent, so no attempt is used up; look again when it may close.
            outcome = new Outcome("pending", "circuit_open", null, "not sent: the destination's circuit is open after repeated failures", null,
                settings.BreakSeconds);
        }
        else
        {
            // Every attempt let through is recorded, whatever ends it, or a half-open circuit would wait on its trial forever.
            var failedTransiently = true;
            try
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(interrupt);
                deadline.CancelAfter(TimeSpan.FromSeconds(settings.TotalTimeoutSeconds));
                try
                {
                    using var response = await httpClients.CreateClient(DeliveryHttp.ClientName)
                        .SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
                    var status = (int)response.StatusCode;
                    completes = delivery.Trigger == "start" && response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.Accepted;
                    // One byte past the limit tells a whole answer from a cut one (which is not JSON to a follow-up).
                    answer = await ReadAsync(response,
                        Math.Max(completes ? MaxAnswerBytes : ExcerptBytes, hasFollowUps ? FollowUpActions.MaxAnswerBytes + 1 : 0), deadline.Token);
                    var excerpt = Excerpt(answer);
                    if (response.IsSuccessStatusCode)
                        outcome = new Outcome("delivered", "delivered", status, null, excerpt, null);
                    else if (response.StatusCode == HttpStatusCode.Gone)
                        outcome = new Outcome("dead", "gone", status, "410 Gone: the action is disabled", excerpt, null);
                    else
                        outcome = Failed(delivery, status, ErrorOf(response), excerpt, RetryAfter(response));
                }
                catch (HttpRequestException e) when (e.InnerException is DestinationRejectedException rejected)
                {
                    outcome = new Outcome("dead", "rejected", null, "refused: " + rejected.Message, null, null);
                }
                catch (TimeoutRejectedException)
                {
                    outcome = Failed(delivery, null, $"no response within {settings.AttemptTimeoutSeconds} s", null, null);
                }
                catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
                {
                    outcome = Failed(delivery, null, InterruptedError, null, null);
                }
                catch (OperationCanceledException) when (deadline.IsCancellationRequested)
                {
                    outcome = Failed(delivery, null, $"the attempt did not finish within {settings.TotalTimeoutSeconds} s", null, null);
                }
                catch (HttpRequestException e)
                {
                    outcome = Failed(delivery, null, Truncate(e.Message), null, null);
                }
                // What the circuit counts as a failure of the destination: no answer, or 5xx, 408, 429 (not a shutdown).
                failedTransiently = outcome.StatusCode is >= 500 or 408 or 429
                    || (outcome.StatusCode is null && outcome.MetricOutcome is "retry" or "dead" && !interrupt.IsCancellationRequested);
            }
            finally
            {
                circuits.Record(authority, failedTransiently);
            }
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (outcome.MetricOutcome == "circuit_open")
        {
            await connection.ExecuteAsync(PostponeSql, new { id = delivery.Id, node, delaySeconds = outcome.RetryDelay, error = outcome.Error, cancellationToken });
            metrics.Attempted(delivery.Host, outcome.MetricOutcome, TimeSpan.Zero);
            return;
        }

        // Parsed only when something reads it: a start's outcome, or the conditions of follow-ups.
        using var answerJson = completes || hasFollowUps ? ParseAnswer(answer) : null;
        if (completes && answerJson is not null && await CompleteFromAnswerAsync(delivery, answerJson.RootElement, cancellationToken) is { } refused)
            outcome = outcome with { Error = refused };

        var ends = outcome.Status is "delivered" or "dead";
        var matched = ends ? FollowUpActions.Matching(action.RootElement, outcome.Status, outcome.StatusCode, FollowUpAnswer(answerJson, answer)) : null;
        var followUps = matched?.Json;
        // JSON that PostgreSQL will not store (a NUL or a lone surrogate escaped in a string): the follow-ups go without it.
        var answered = matched is not null && FollowUpAnswer(answerJson, answer) is { } answerElement
                       && StorableJson.FindUnstorable(answerElement, "response") is null
            ? answerElement.GetRawText()
            : null;
        var record = new
        {
            id = delivery.Id, node, status = outcome.Status, retryDelay = outcome.RetryDelay, statusCode = outcome.StatusCode, error = outcome.Error,
            attemptId = Guid.CreateVersion7(), startedAt, durationMs = elapsed.TotalMilliseconds, excerpt = outcome.Excerpt, followUps, response = answered,
            goneReason = outcome.MetricOutcome == "gone" ? GoneReason(url) : null, templateId = delivery.TemplateId, url, cancellationToken,
        };
        var recorded = await connection.ExecuteAsync(RecordSql, record);
        if (recorded > 0 && matched is { } written)
            metrics.FollowUpsWritten(written.Count);
        metrics.Attempted(delivery.Host, outcome.MetricOutcome, elapsed);
        if (outcome.Status == "dead")
            metrics.Dead(delivery.Host);
    }

    /// <summary>A failed attempt: retried after the next wait of the schedule, or dead when the schedule is used up.</summary>
    private Outcome Failed(ClaimedDelivery delivery, int? statusCode, string error, string? excerpt, TimeSpan? retryAfter)
    {
        var settings = options.Value;
        var schedule = settings.RetryDelays();
        if (delivery.Attempts >= schedule.Count)
            return new Outcome("dead", "dead", statusCode, error, excerpt, null);
        var wait = schedule[delivery.Attempts] * (0.8 + Random.Shared.NextDouble() * 0.4);
        if (retryAfter is { } asked)
            wait = Math.Max(wait, Math.Min(asked.TotalSeconds, settings.MaxRetryAfterSeconds));
        return new Outcome("pending", "retry", statusCode, error, excerpt, wait);
    }

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
    /// A start webhook's 2xx answer <c>{"status":"succeeded"|"failed","output":…,"error":…}</c> completes the task through
    /// the engine, fenced by the attempt the delivery started. Other answers leave the task running. Returns why a
    /// completion was refused, for the attempt's record; null when applied or when the answer was not an outcome.
    /// </summary>
    private async Task<string?> CompleteFromAnswerAsync(ClaimedDelivery delivery, JsonElement root, CancellationToken cancellationToken)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("status", out var status) || status.ValueKind != JsonValueKind.String)
            return null;
        // Decoding a lone surrogate throws, and PostgreSQL stores neither it nor NUL: such an answer is refused, with where.
        var unstorable = new ValidationErrors();
        StorableJson.Check(unstorable, "status", status);
        if (root.TryGetProperty("error", out var sentError))
            StorableJson.Check(unstorable, "error", sentError);
        if (!unstorable.IsEmpty)
        {
            metrics.CompletedSynchronously("conflict");
            LogAnswerRefused(logger, delivery.TaskId, unstorable.Describe());
            return Truncate("answer not applied: " + unstorable.Describe());
        }
        using var payload = JsonDocument.Parse(delivery.Payload);
        var attempt = payload.RootElement.GetProperty("attempt").GetInt32();
        JsonElement? output = root.TryGetProperty("output", out var outputElement) ? outputElement : null;
        var error = root.TryGetProperty("error", out var errorElement) && errorElement.ValueKind == JsonValueKind.String ? errorElement.GetString() : null;
        var result = await CompleteTasks.CompleteStartedAttemptAsync(dataSource, delivery.TaskId, attempt, delivery.LeaseToken,
            status.GetString()!, output, error, engineOptions.Value, engineMetrics, cancellationToken);
        metrics.CompletedSynchronously(result.Status);
        if (result.Status == "ok")
            return null;
        LogAnswerRefused(logger, delivery.TaskId, result.Detail ?? result.Status);
        return Truncate("answer not applied: " + (result.Detail ?? result.Status));
    }

    /// <summary>The answer as JSON, or null when it is empty or not JSON.</summary>
    private static JsonDocument? ParseAnswer(byte[]? answer)
    {
        if (answer is not { Length: > 0 })
            return null;
        try
        {
            return JsonDocument.Parse(answer);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The JSON answer follow-up conditions test and follow-ups carry: only a whole one, within their limit.</summary>
    private static JsonElement? FollowUpAnswer(JsonDocument? answerJson, byte[]? answer) =>
        answerJson is not null && answer!.Length <= FollowUpActions.MaxAnswerBytes ? answerJson.RootElement : null;

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

    private static string Truncate(string text) => text.Length <= 2000 ? text : text[..2000];

    /// <summary>Why a template was retired, within its 500 characters (a URL may be 2,048).</summary>
    private static string GoneReason(string url)
    {
        var reason = $"{url} answered 410 Gone";
        return reason.Length <= 500 ? reason : "…" + reason[^499..];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Start webhook answer for task {TaskId} not applied: {Reason}")]
    private static partial void LogAnswerRefused(ILogger logger, Guid taskId, string reason);
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
