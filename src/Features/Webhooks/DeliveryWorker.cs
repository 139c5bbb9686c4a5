using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Cluster;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Events;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Webhooks;

/// <summary>A claimed delivery with everything sending it needs, read in the claim statement.</summary>
public sealed record ClaimedDelivery(
    Guid Id, Guid TaskId, string Trigger, string Action, string Payload, int Attempts, Guid? TemplateId, string Host,
    DateTime CreatedAt, string? Metadata, long? LeaseToken, bool Disabled, string[] Secrets, Guid ProjectId, string? Traceparent);

/// <summary>
/// Delivery on every node (not only the leader: sending is parallel work, and the outbox hands each row to one node).
/// One loop claims due deliveries while this node has room — at most <see cref="WebhooksOptions.MaxInFlight"/> in flight,
/// and <see cref="WebhooksOptions.MaxInFlightPerHost"/> per host, both enforced by the claim itself from the node's one
/// account of its sends (<see cref="InFlightSends"/>), so at the bound the node simply stops claiming and the rest waits,
/// safe, in the outbox — and starts a send for each: <see cref="DeliverySender"/> sends it, <see cref="DeliveryRecorder"/>
/// records what came of it. It wakes on the outbox NOTIFY (new deliveries), when a send frees room while work was left
/// behind, and every <see cref="WebhooksOptions.PollSeconds"/> (retries coming due; leases of dead nodes expiring).
/// </summary>
public sealed partial class DeliveryWorker(
    NpgsqlDataSource dataSource,
    DeliverySender sender,
    DeliveryRecorder recorder,
    DeliveryMetrics metrics,
    NodeIdentity node,
    BackgroundFailures failures,
    ShutdownState shutdown,
    IOptions<ShutdownOptions> shutdownOptions,
    IOptions<WebhooksOptions> options,
    NotificationBus bus,
    ILogger<DeliveryWorker> logger) : BackgroundService
{
    /// <summary>What an interrupted send keeps of the shutdown budget to record its attempt before the host gives up on it.</summary>
    private static readonly TimeSpan RecordingTime = TimeSpan.FromSeconds(2);

    // Deliveries whose node died mid-send: back to pending, sent again (receivers deduplicate on webhook-id).
    private const string ReleaseExpiredSql = """
        UPDATE outbox SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id = ANY (ARRAY(SELECT id FROM outbox WHERE status = 'delivering' AND lease_expires_at < now()
                              ORDER BY lease_expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED))
        """;

    // Due rows, oldest due first, through outbox_due_idx, skipping hosts this node already has at their bound (from the
    // node's account of its sends, given as busyHosts/busyCounts); then at most
    // the host's remaining room per host and the node's remaining room in all. Candidates not chosen are only locked until
    // commit. Everything the send needs comes back with the lease: the start attempt's lease token (null when the task has
    // moved on to another attempt), whether the action was retired by a 410, the active secrets (newest first), the
    // traceparent of the task's creator.
    private const string ClaimSql = """
        WITH candidates AS (
            SELECT o.id, coalesce(o.host, '') AS host, o.next_attempt_at
            FROM outbox o
            WHERE o.status = 'pending' AND o.next_attempt_at <= now()
              AND NOT EXISTS (SELECT FROM unnest(@busyHosts, @busyCounts) AS b (host, in_flight)
                              WHERE b.host = coalesce(o.host, '') AND b.in_flight >= @perHost)
            ORDER BY o.next_attempt_at
            LIMIT @scan
            FOR UPDATE SKIP LOCKED
        ),
        ranked AS (
            SELECT c.id, c.next_attempt_at, row_number() OVER (PARTITION BY c.host ORDER BY c.next_attempt_at, c.id) AS rank,
                   @perHost - coalesce(b.in_flight, 0) AS room
            FROM candidates c
            LEFT JOIN unnest(@busyHosts, @busyCounts) AS b (host, in_flight) ON b.host = c.host
        ),
        chosen AS (
            SELECT id FROM ranked WHERE rank <= room ORDER BY next_attempt_at, id LIMIT @want
        )
        UPDATE outbox o
        SET status = 'delivering', lease_owner = @node, lease_expires_at = now() + make_interval(secs => @leaseSeconds), updated_at = now()
        FROM chosen c, tasks t
        WHERE o.id = c.id AND t.id = o.task_id
        RETURNING o.id, o.task_id, o.trigger, o.action::text, o.payload::text, o.attempts, o.template_id, coalesce(o.host, ''),
                  o.created_at, t.metadata::text,
                  (SELECT l.lease_token FROM task_leases l
                   WHERE o.trigger = 'start' AND l.task_id = o.task_id AND t.attempt = (o.payload->>'attempt')::int),
                  EXISTS (SELECT FROM disabled_actions d WHERE d.task_id = o.task_id AND d.url = o.action->>'url')
                      OR EXISTS (SELECT FROM action_templates a WHERE a.id = o.template_id AND a.disabled_at IS NOT NULL),
                  ARRAY(SELECT s.secret FROM webhook_secrets s
                        WHERE (s.template_id = o.template_id OR (o.template_id IS NULL AND s.project_id = t.project_id))
                          AND (s.retires_at IS NULL OR s.retires_at > now())
                        ORDER BY s.created_at DESC),
                  t.project_id, t.traceparent
        """;

    private readonly InFlightSends sends = new(options.Value, metrics);
    private readonly CancellationTokenSource interrupt = new();
    private readonly WakeSignal wake = new();

    /// <summary>The lease owner written on claimed rows: this process, unique across restarts.</summary>
    private string Owner => node.Id.ToString();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.MaxInFlight == 0)
            return;
        // Deliveries written while the bus was not listening are found by the next look; while it is down the poll still
        // finds every delivery, only the immediate wake-up is lost.
        using var subscription = bus.Subscribe(Channels.Outbox, _ => wake.Wake(), wake.Wake);
        var guard = failures.For("webhook-delivery");
        var poll = TimeSpan.FromSeconds(options.Value.PollSeconds);
        var nextRelease = DateTime.MinValue;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                // Taken before looking, so a notification arriving while we look wakes the wait below.
                var next = wake.Next;
                var claimedAll = false;
                // After a failure nothing was claimed (or the claim rolled back): the rows are still pending, and the
                // guard has waited its backoff, so the next look does not wait on a wake-up as well.
                if (!await guard.RunAsync(async cancellationToken =>
                    {
                        if (DateTime.UtcNow >= nextRelease)
                        {
                            await using (var release = dataSource.CreateCommand(ReleaseExpiredSql))
                                await release.ExecuteNonQueryAsync(cancellationToken);
                            nextRelease = DateTime.UtcNow + poll;
                        }
                        claimedAll = await ClaimAndSendAsync(cancellationToken);
                    }, stoppingToken))
                    continue;
                // A full claim means more may be due right away.
                if (!claimedAll)
                    await Task.WhenAny(next, Task.Delay(poll, stoppingToken));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: no new claims. Sends in flight finish (each bounded by the total timeout) and record their outcome;
            // one still waiting on its receiver when the shutdown budget runs low is interrupted and recorded as a failed
            // attempt (retried on the schedule), so nothing is left leased by a node that is gone.
        }
        var budget = TimeSpan.FromSeconds(shutdownOptions.Value.DrainDelaySeconds + shutdownOptions.Value.TimeoutSeconds) - shutdown.Elapsed - RecordingTime;
        interrupt.CancelAfter(budget > TimeSpan.Zero ? budget : TimeSpan.Zero);
        await Task.WhenAll(sends.Pending());
    }

    public override void Dispose()
    {
        interrupt.Dispose();
        base.Dispose();
    }

    /// <summary>Claims as much as there is room for and starts sending it. True when it got all it asked for.</summary>
    private async Task<bool> ClaimAndSendAsync(CancellationToken cancellationToken)
    {
        if (sends.Free() is not { } room)
            return false;
        var settings = options.Value;
        var claimed = new List<ClaimedDelivery>();
        await using (var command = dataSource.CreateCommand(ClaimSql))
        {
            command.Parameters.Add(new NpgsqlParameter<string[]>("busyHosts", room.BusyHosts));
            command.Parameters.Add(new NpgsqlParameter<int[]>("busyCounts", room.BusyCounts));
            command.Parameters.Add(new NpgsqlParameter<int>("perHost", settings.MaxInFlightPerHost));
            command.Parameters.Add(new NpgsqlParameter<int>("scan", room.Want * 2));
            command.Parameters.Add(new NpgsqlParameter<int>("want", room.Want));
            command.Parameters.Add(new NpgsqlParameter<string>("node", Owner));
            command.Parameters.Add(new NpgsqlParameter<int>("leaseSeconds", settings.LeaseSeconds));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                claimed.Add(new ClaimedDelivery(
                    reader.GetGuid(0), reader.GetGuid(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetInt32(5),
                    reader.IsDBNull(6) ? null : reader.GetGuid(6), reader.GetString(7), reader.GetDateTime(8),
                    reader.IsDBNull(9) ? null : reader.GetString(9), reader.IsDBNull(10) ? null : reader.GetInt64(10), reader.GetBoolean(11),
                    reader.GetFieldValue<string[]>(12), reader.GetGuid(13), reader.IsDBNull(14) ? null : reader.GetString(14)));
        }
        sends.Start(room, claimed, SendAsync);
        return claimed.Count == room.Want;
    }

    private async Task SendAsync(ClaimedDelivery delivery)
    {
        // Off the claim loop's stack: the loop goes on claiming while this waits on the network.
        await Task.Yield();
        try
        {
            // In the trace of the request that created the task, so the receiver's work joins the DAG's trace.
            using var span = Tracing.StartInTaskTrace("webhook.deliver", delivery.Traceparent, ActivityKind.Producer);
            span?.SetTag("taskrunner.task_id", delivery.TaskId.ToString());
            span?.SetTag("taskrunner.trigger", delivery.Trigger);
            using var action = JsonDocument.Parse(delivery.Action);
            // Not the stopping token: a send under way finishes and records its outcome even during shutdown, unless the
            // shutdown budget runs out first (then it is recorded as an interrupted attempt).
            var sent = await sender.SendAsync(delivery, action.RootElement, interrupt.Token);
            await recorder.RecordAsync(delivery, action.RootElement, Owner, sent);
        }
        catch (Exception e)
        {
            // The lease runs out and another look sends it again; nothing is lost, only delayed.
            LogSendFailed(logger, delivery.Id, e.Message);
        }
        finally
        {
            if (sends.End(delivery))
                wake.Wake();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} failed unexpectedly; it is sent again when its lease expires: {Reason}")]
    private static partial void LogSendFailed(ILogger logger, Guid deliveryId, string reason);
}
