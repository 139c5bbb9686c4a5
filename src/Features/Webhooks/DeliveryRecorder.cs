using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Features.Execution;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Features.Webhooks;

/// <summary>
/// Records what a send came to and its consequences: one <c>delivery_attempts</c> row and the delivery's new state, in one
/// statement fenced by the lease (a node that lost its lease records nothing). 2xx delivers; 410 Gone is final and retires
/// the action; a refused destination is final; any other failure is retried on the schedule (or at the receiver's
/// <c>Retry-After</c>, if later) until the schedule runs out and the delivery is dead. A delivery that ends writes the
/// follow-ups its answer matched. A <c>start</c> delivery answered with an outcome completes the task through the engine's
/// <see cref="IStartedAttemptCompletion"/> first, so a refusal is part of the attempt's record.
/// </summary>
public sealed partial class DeliveryRecorder(
    NpgsqlDataSource dataSource,
    DeliveryMetrics metrics,
    IStartedAttemptCompletion completion,
    IOptions<WebhooksOptions> options,
    ILogger<DeliveryRecorder> logger)
{
    private const int MaxErrorLength = 2000;

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

    /// <summary>The delivery's next state after an attempt: where it goes, and when it is tried again.</summary>
    private sealed record NextState(string Status, AttemptOutcome MetricOutcome, double? RetryDelay);

    /// <summary>
    /// Records <paramref name="sent"/> for <paramref name="delivery"/> of <paramref name="action"/>, leased by
    /// <paramref name="node"/>. It takes no token: an attempt interrupted by shutdown is still recorded (bounded by the
    /// command timeout).
    /// </summary>
    public async Task RecordAsync(ClaimedDelivery delivery, JsonElement action, string node, SendOutcome sent)
    {
        var cancellationToken = CancellationToken.None;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        switch (sent.Result)
        {
            case SendResult.Disabled:
                await connection.ExecuteAsync(ParkSql, new { id = delivery.Id, node, error = sent.Error, cancellationToken });
                metrics.Attempted(delivery.Host, AttemptOutcome.Disabled, TimeSpan.Zero);
                metrics.Dead(delivery.Host);
                return;
            case SendResult.CircuitOpen:
                // Look again when the circuit may close.
                await connection.ExecuteAsync(PostponeSql,
                    new { id = delivery.Id, node, delaySeconds = (double)options.Value.BreakSeconds, error = sent.Error, cancellationToken });
                metrics.Attempted(delivery.Host, AttemptOutcome.CircuitOpen, TimeSpan.Zero);
                return;
        }

        var next = Next(delivery, sent);
        var error = sent.Error;
        // Parsed only when something reads it: a start's outcome, or the conditions of follow-ups.
        var hasFollowUps = FollowUpActions.Any(action);
        using var answerJson = sent.Completes || hasFollowUps ? ParseAnswer(sent.Answer) : null;
        if (sent.Completes && answerJson is not null && await CompleteAsync(delivery, answerJson.RootElement, cancellationToken) is { } refused)
            error = refused;

        var ends = next.Status is "delivered" or "dead";
        var followUpAnswer = answerJson is not null && sent.Answer!.Length <= FollowUpActions.MaxAnswerBytes ? answerJson.RootElement : (JsonElement?)null;
        var matched = ends ? FollowUpActions.Matching(action, next.Status, sent.StatusCode, followUpAnswer) : null;
        // JSON that PostgreSQL will not store (a NUL or a lone surrogate escaped in a string): the follow-ups go without it.
        var answered = matched is not null && followUpAnswer is { } answerElement && StorableJson.FindUnstorable(answerElement, "response") is null
            ? answerElement.GetRawText()
            : null;
        var record = new
        {
            id = delivery.Id, node, status = next.Status, retryDelay = next.RetryDelay, statusCode = sent.StatusCode,
            error = error is null ? null : Truncate(error), attemptId = Guid.CreateVersion7(), startedAt = sent.StartedAt,
            durationMs = sent.Elapsed.TotalMilliseconds, excerpt = sent.Excerpt, followUps = matched?.Json, response = answered,
            goneReason = sent.Result == SendResult.Gone ? GoneReason(sent.Url!) : null, templateId = delivery.TemplateId, url = sent.Url,
            cancellationToken,
        };
        var recorded = await connection.ExecuteAsync(RecordSql, record);
        if (recorded > 0 && matched is { } written)
            metrics.FollowUpsWritten(written.Count);
        metrics.Attempted(delivery.Host, next.MetricOutcome, sent.Elapsed);
        if (next.Status == "dead")
            metrics.Dead(delivery.Host);
    }

    /// <summary>Where an attempt leaves the delivery: a failure is retried after the schedule's next wait, or dead when it is used up.</summary>
    private NextState Next(ClaimedDelivery delivery, SendOutcome sent)
    {
        switch (sent.Result)
        {
            case SendResult.Delivered:
                return new NextState("delivered", AttemptOutcome.Delivered, null);
            case SendResult.Gone:
                return new NextState("dead", AttemptOutcome.Gone, null);
            case SendResult.Rejected:
                return new NextState("dead", AttemptOutcome.Rejected, null);
        }
        var settings = options.Value;
        var schedule = settings.RetryDelays();
        if (delivery.Attempts >= schedule.Count)
            return new NextState("dead", AttemptOutcome.Dead, null);
        var wait = schedule[delivery.Attempts] * (0.8 + Random.Shared.NextDouble() * 0.4);
        if (sent.RetryAfter is { } asked)
            wait = Math.Max(wait, Math.Min(asked.TotalSeconds, settings.MaxRetryAfterSeconds));
        return new NextState("pending", AttemptOutcome.Retry, wait);
    }

    /// <summary>
    /// A start webhook's 2xx answer <c>{"status":"succeeded"|"failed","output":…,"error":…}</c> completes the task through
    /// the engine, fenced by the attempt the delivery started. Other answers leave the task running. Returns why a
    /// completion was refused, for the attempt's record; null when applied or when the answer was not an outcome.
    /// </summary>
    private async Task<string?> CompleteAsync(ClaimedDelivery delivery, JsonElement root, CancellationToken cancellationToken)
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
            return "answer not applied: " + unstorable.Describe();
        }
        using var payload = JsonDocument.Parse(delivery.Payload);
        var attempt = payload.RootElement.GetProperty("attempt").GetInt32();
        JsonElement? output = root.TryGetProperty("output", out var outputElement) ? outputElement : null;
        var error = root.TryGetProperty("error", out var errorElement) && errorElement.ValueKind == JsonValueKind.String ? errorElement.GetString() : null;
        var result = await completion.CompleteAsync(delivery.TaskId, attempt, delivery.LeaseToken, status.GetString()!, output, error, cancellationToken);
        metrics.CompletedSynchronously(result.Status);
        if (result.Status == "ok")
            return null;
        LogAnswerRefused(logger, delivery.TaskId, result.Detail ?? result.Status);
        return "answer not applied: " + (result.Detail ?? result.Status);
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

    private static string Truncate(string text) => text.Length <= MaxErrorLength ? text : text[..MaxErrorLength];

    /// <summary>Why a template was retired, within its 500 characters (a URL may be 2,048).</summary>
    private static string GoneReason(string url)
    {
        var reason = $"{url} answered 410 Gone";
        return reason.Length <= 500 ? reason : "…" + reason[^499..];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Start webhook answer for task {TaskId} not applied: {Reason}")]
    private static partial void LogAnswerRefused(ILogger logger, Guid taskId, string reason);
}
