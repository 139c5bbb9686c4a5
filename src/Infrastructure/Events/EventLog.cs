using System.Diagnostics.Metrics;
using System.Globalization;
using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Infrastructure.Events;

/// <summary>
/// A place in the event log: the writing transaction's id and the event's id. Events are read in this order, so a
/// position once passed is never passed again by a late commit (see <see cref="EventLog"/>). Written as
/// <c>"&lt;xid&gt;-&lt;id&gt;"</c>, which clients treat as opaque.
/// </summary>
public readonly record struct EventPosition(long Xid, long Id)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Xid}-{Id}");

    public static bool TryParse(string? text, out EventPosition position)
    {
        position = default;
        var dash = text?.IndexOf('-') ?? -1;
        if (dash <= 0
            || !long.TryParse(text.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var xid)
            || !long.TryParse(text.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            return false;
        position = new EventPosition(xid, id);
        return true;
    }
}

/// <summary>One event of the log; <see cref="Data"/> is its JSON object.</summary>
public sealed record LoggedEvent(long Xid, long Id, DateTime At, string Type, Guid ProjectId, Guid? TaskId, Guid? BatchId, Guid? UserId, string Data)
{
    public EventPosition Position => new(Xid, Id);
}

/// <summary>What one read found: the events safe to deliver (later ones may have committed, but are not settled yet).</summary>
public sealed record EventBatch(IReadOnlyList<LoggedEvent> Events);

/// <summary>
/// The event log (migration 23): rows written by triggers in the transaction of each change, read by polling
/// (<see cref="EventFeed"/>). Ids come from a sequence and so commit out of order; a reader that went by
/// id could pass id 11 while id 10 is still to commit, and skip it for good. So readers go in <c>(xid, id)</c> order and
/// only up to the oldest transaction still running anywhere on the server (<c>pg_snapshot_xmin</c>): every event of an
/// older transaction is final (committed or rolled back), and every event yet to commit belongs to a transaction at or
/// above it, hence after any position already delivered. The price is latency: a transaction that stays open holds back
/// the events committed after it began (for as long as it stays open).
/// </summary>
public static class EventLog
{
    /// <summary>
    /// Connection options (libpq's <c>options</c>) of a session whose changes write no events: the log's triggers fire only
    /// while <c>taskrunner.event_log</c> is not <c>off</c> (migration 34).
    /// </summary>
    public static string? WithLogOff(string? options) =>
        string.IsNullOrEmpty(options) ? LogOffOption : options + " " + LogOffOption;

    private const string LogOffOption = "-c taskrunner.event_log=off";

    private const string StartSql = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

    // "settled": below the oldest running transaction, so nothing can still commit before it in this order.
    private const string ReadSql = """
        SELECT xid::text::bigint AS xid, id, at, type, project_id, task_id, batch_id, user_id, data::text AS data,
               xid < pg_snapshot_xmin(pg_current_snapshot()) AS settled
        FROM events
        WHERE (xid, id) > (@afterXid::text::xid8, @afterId)
        ORDER BY xid, id
        LIMIT @limit
        """;

    // The same read narrowed to the events of one project, task or batch (a resuming client's replay).
    private const string ReadOfSql = """
        SELECT xid::text::bigint AS xid, id, at, type, project_id, task_id, batch_id, user_id, data::text AS data,
               xid < pg_snapshot_xmin(pg_current_snapshot()) AS settled
        FROM events
        WHERE (xid, id) > (@afterXid::text::xid8, @afterId)
          AND (@projectId::uuid IS NULL OR project_id = @projectId)
          AND (@taskId::uuid IS NULL OR task_id = @taskId)
          AND (@batchId::uuid IS NULL OR batch_id = @batchId)
        ORDER BY xid, id
        LIMIT @limit
        """;

    private const string HoldsSql = "SELECT EXISTS (SELECT FROM events WHERE (xid, id) <= (@xid::text::xid8, @id))";

    // The oldest expired rows through events_at_idx, each deleted through its physical address.
    private const string DeleteBatchSql = """
        DELETE FROM events
        WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM events
            WHERE at < now() - make_interval(secs => @retentionSeconds)
            ORDER BY at
            LIMIT @batchSize
            FOR UPDATE SKIP LOCKED))
        """;

    internal sealed record Row(long Xid, long Id, DateTime At, string Type, Guid ProjectId, Guid? TaskId, Guid? BatchId, Guid? UserId, string Data, bool Settled);

    /// <summary>The position from which a reader that starts now sees every event not yet settled, and nothing older.</summary>
    public static async Task<EventPosition> CurrentPositionAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return new EventPosition(await connection.ExecuteScalarAsync<long>(StartSql, new { cancellationToken }), 0);
    }

    /// <summary>Up to <paramref name="limit"/> settled events after <paramref name="after"/>, in log order.</summary>
    public static async Task<EventBatch> ReadAsync(NpgsqlDataSource dataSource, EventPosition after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<Row>(ReadSql, new { afterXid = after.Xid, afterId = after.Id, limit, cancellationToken });
        return Settled(rows);
    }

    /// <summary>As <see cref="ReadAsync"/>, only the events of one project, task or batch (the others null).</summary>
    public static async Task<EventBatch> ReadOfAsync(
        NpgsqlDataSource dataSource, EventPosition after, Guid? projectId, Guid? taskId, Guid? batchId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<Row>(ReadOfSql,
            new { afterXid = after.Xid, afterId = after.Id, projectId, taskId, batchId, limit, cancellationToken });
        return Settled(rows);
    }

    /// <summary>
    /// Whether the log still reaches back to <paramref name="position"/>: retention deletes the oldest events first, so while
    /// one at or before it is kept, the events after it are too, and a reader may resume from it without a gap.
    /// </summary>
    public static async Task<bool> HoldsAsync(NpgsqlDataSource dataSource, EventPosition position, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<bool>(HoldsSql, new { xid = position.Xid, id = position.Id, cancellationToken });
    }

    private static EventBatch Settled(IEnumerable<Row> rows)
    {
        var settled = new List<LoggedEvent>();
        foreach (var row in rows)
        {
            // Settled rows all come before unsettled ones: their transactions are older.
            if (!row.Settled)
                break;
            settled.Add(new LoggedEvent(row.Xid, row.Id, row.At, row.Type, row.ProjectId, row.TaskId, row.BatchId, row.UserId, row.Data));
        }
        return new EventBatch(settled);
    }

    public static RetentionJob Retention(EventsOptions options, IMeterFactory meters) =>
        new("event-retention", TimeSpan.FromSeconds(options.RetentionSweepSeconds), 0, options.RetentionBatchSize,
        [
            new("events", DeleteBatchSql, meters.Create(Telemetry.ServiceName)
                .CreateCounter<long>("taskrunner.events.retention.deleted", "{event}", "Events deleted from the event log by the retention sweep")),
        ])
        { Retention = TimeSpan.FromMinutes(options.RetentionMinutes) };
}
