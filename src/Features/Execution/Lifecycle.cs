using Dapper;
using Npgsql;
using TaskRunner.Features.Tasks;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Features.Execution;

/// <summary>
/// The transitions several use cases share: the deliveries a task's end writes to the outbox, failure propagation and
/// release of children, and revival of what a failure had cancelled. Each walks the graph one level per statement, and
/// each level's statement runs after the previous one updated (so locked) its parents: a task being created under one
/// of those parents (which holds it FOR SHARE while inserting edges) is either waited for and then seen by the next level,
/// or itself waits and then sees the parent already ended. No child is ever missed, however the two interleave.
/// </summary>
internal static class Lifecycle
{
    /// <summary>
    /// Outbox rows for the triggers that fire when tasks end: the trigger matching the status, and <c>end</c>. Reads the
    /// CTE <c>ended (id, status, kind, attempt, actions, output, error)</c> of the statement it is part of.
    /// </summary>
    public const string EndDeliveriesSql = """
        INSERT INTO outbox (id, task_id, trigger, action, payload)
        SELECT uuid_v7(), e.id, a.action->>'trigger', a.action,
               jsonb_build_object('task_id', e.id, 'kind', e.kind, 'status', e.status, 'attempt', e.attempt,
                                  'output', e.output, 'error', e.error)
        FROM ended e
        CROSS JOIN LATERAL jsonb_array_elements(e.actions) AS a (action)
        WHERE a.action->>'trigger' IN ('end', CASE e.status WHEN 'succeeded' THEN 'success' WHEN 'failed' THEN 'failure'
                                                            WHEN 'cancelled' THEN 'cancel' WHEN 'timed_out' THEN 'timeout' END)
        """;

    // Every way a running task's attempt ends: a report, a timeout, an expired lease. Each row of the unnest ends one task —
    // or, with a retry delay, sends it back to pending for another attempt — drops its lease and writes its deliveries.
    private const string EndSql = """
        WITH reports AS (
            SELECT * FROM unnest(@ids::uuid[], @statuses::text[], @outputs::text[], @errors::text[], @retryDelays::double precision[])
                AS r (id, status, output, error, retry_delay)
        ),
        updated AS (
            UPDATE tasks t
            SET status = CASE WHEN r.retry_delay IS NULL THEN r.status ELSE 'pending' END,
                ended_at = CASE WHEN r.retry_delay IS NULL THEN now() END,
                scheduled_at = CASE WHEN r.retry_delay IS NULL THEN t.scheduled_at ELSE now() + make_interval(secs => r.retry_delay) END,
                output = r.output::jsonb,
                error = r.error
            FROM reports r
            WHERE t.id = r.id
            RETURNING t.id, t.status, t.kind, t.attempt, t.actions, t.output, t.error, t.scheduled_at
        ),
        dropped AS (
            DELETE FROM task_leases l USING reports r WHERE l.task_id = r.id
        ),
        ended AS (SELECT * FROM updated WHERE status <> 'pending'),
        deliveries AS (
        """ + EndDeliveriesSql + """
        )
        SELECT id, kind, status, scheduled_at FROM updated
        """;


    /// <summary>How one running task's attempt ends: a terminal status, or back to pending after <see cref="RetryDelay"/> seconds.</summary>
    public sealed record End(Guid TaskId, string Status, string? Output, string? Error, double? RetryDelay);

    /// <summary>A task after its end: its new status (pending when retried) and, when retried, when it may start again.</summary>
    public sealed record EndedAttempt(Guid Id, string Kind, string Status, DateTime? ScheduledAt);

    /// <summary>
    /// What ending some attempts did: the tasks themselves, the descendants cancelled as upstream_failed in this transaction,
    /// and, when the propagation outgrew it, the walk that continues it (<see cref="GraphWalks.FinishAsync"/> after commit).
    /// </summary>
    public sealed record Ending(List<EndedAttempt> Ended, List<EndedTask> Cancelled, Guid? Walk = null)
    {
        public static Ending None => new([], []);
    }

    /// <summary>
    /// Ends the attempts of running tasks the caller has locked, then propagates: successes release children; failures and
    /// timeouts cancel, transitively, the descendants that required their success. Retried tasks propagate nothing.
    /// </summary>
    public static async Task<Ending> EndAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<End> ends, EngineOptions options, CancellationToken cancellationToken)
    {
        using var span = Tracing.Source.StartActivity("engine.propagate");
        // The first level of propagation rides in the same round trip: which attempts end, and how, is known before the
        // update (callers hold the tasks' locks, so every end updates its row), and the batch's next statement takes a new
        // snapshot that sees the update, exactly as a separate statement would.
        var level = ends.Where(end => end.RetryDelay is null && end.Status is TaskRules.Succeeded or TaskRules.Failed or TaskRules.TimedOut)
            .Select(end => new WalkParent(end.TaskId, end.Status == TaskRules.Succeeded, Guid.Empty)).ToList();
        var ended = new List<EndedAttempt>(ends.Count);
        LevelResult? first = null;
        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            batch.BatchCommands.Add(Sql.Command(EndSql,
                Sql.Parameter("ids", ends.Select(end => end.TaskId).ToArray()),
                Sql.Parameter("statuses", ends.Select(end => end.Status).ToArray()),
                Sql.Parameter("outputs", ends.Select(end => end.Output).ToArray()),
                Sql.Parameter("errors", ends.Select(end => end.Error).ToArray()),
                Sql.Parameter("retryDelays", ends.Select(end => end.RetryDelay).ToArray())));
            if (level.Count > 0)
                batch.BatchCommands.Add(LevelCommand(level, options.GraphWalkBatchSize));
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                ended.Add(new EndedAttempt(reader.GetGuid(0), reader.GetString(1), reader.GetString(2),
                    reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTime>(3)));
            if (level.Count > 0)
            {
                await reader.NextResultAsync(cancellationToken);
                first = await ReadLevelAsync(reader, cancellationToken);
            }
        }
        span?.SetTag("taskrunner.tasks_ended", ended.Count);
        if (first is null)
            return new Ending(ended, []);
        var (cancelled, walk) = await WalkAsync(connection, transaction, level, first, options, cancellationToken);
        span?.SetTag("taskrunner.tasks_cancelled", cancelled.Count);
        return new Ending(ended, cancelled, walk);
    }

    /// <summary>A task whose end is propagated to its children: those after <see cref="After"/> (in id order) are still to visit.</summary>
    public sealed record WalkParent(Guid Id, bool Succeeded, Guid After);

    /// <summary>
    /// One statement of a walk: how many children it locked (at most its limit; fewer means the parents' children are all
    /// visited), the last of them in id order, and those it cancelled.
    /// </summary>
    public sealed record LevelResult(int Locked, Guid? Last, List<EndedTask> Doomed);

    // One level of propagation, or its next part. Children of failed parents that required their success are cancelled (and
    // are the next level's failed parents); every other child whose edge the level satisfied counts one parent less. A
    // child with a success edge to a failed parent is never also counted down, so no row is updated twice in the statement.
    // Children through task_dependencies_parent_idx (parent_id, child_id); the child rows through their primary key.
    // The edges are read once, driven from the arrays, and the "blocked by a failed parent" test is one set computed once:
    // right after a bulk create the edges' statistics are stale, and a NOT EXISTS subplan per child then scanned the whole
    // edge table for every candidate (a 10,000-task DAG took 52 s to cancel; now one pass per level).
    // The level's children are locked in id order first (the CTE's rows are locked as they are produced, sorted), and
    // each update joins them, so it only changes rows already locked: two levels racing through shared children (a
    // diamond's bottom, siblings of two parents) wait for each other in one order instead of deadlocking, whatever order
    // the plans of the updates visit them in. At most @limit children are locked, the first in id order after each
    // parent's cursor: every edge of a locked child to the level's parents is applied at once, so a later part resuming
    // after the last locked child applies each edge exactly once.
    private const string PropagateLevelSql = """
        WITH edges AS (
            SELECT d.child_id, d.require, p.succeeded
            FROM unnest(@parents::uuid[], @succeeded::boolean[], @after::uuid[]) AS p (id, succeeded, after)
            JOIN task_dependencies d ON d.parent_id = p.id AND d.child_id > p.after
        ),
        blocked AS (
            SELECT DISTINCT e.child_id FROM edges e WHERE NOT e.succeeded AND e.require = 'success'
        ),
        locked AS (
            SELECT t.id
            FROM tasks t
            WHERE t.id IN (SELECT e.child_id FROM edges e)
              AND t.status IN ('pending', 'paused')
            ORDER BY t.id
            LIMIT @limit
            FOR UPDATE OF t
        ),
        doomed AS (
            UPDATE tasks t
            SET status = 'cancelled', cancel_reason = 'upstream_failed', ended_at = now()
            FROM blocked b JOIN locked l ON l.id = b.child_id
            WHERE t.id = b.child_id AND t.status IN ('pending', 'paused')
            RETURNING t.id, t.status, t.kind, t.attempt, t.actions, t.output, t.error
        ),
        released AS (
            UPDATE tasks t
            SET pending_parents = t.pending_parents - c.edges
            FROM (SELECT e.child_id, count(*)::int AS edges FROM edges e
                  WHERE e.succeeded OR e.require = 'completion'
                  GROUP BY e.child_id) c
            JOIN locked l ON l.id = c.child_id
            WHERE t.id = c.child_id AND t.status IN ('pending', 'paused')
              AND t.id NOT IN (SELECT child_id FROM blocked)
            RETURNING t.id
        ),
        ended AS (SELECT * FROM doomed),
        deliveries AS (
        """ + EndDeliveriesSql + """
        )
        SELECT s.locked, s.last, d.id, d.kind
        FROM (SELECT count(*)::int AS locked, (SELECT l.id FROM locked l ORDER BY l.id DESC LIMIT 1) AS last FROM locked) s
        LEFT JOIN doomed d ON true
        """;

    public sealed record EndedTask(Guid Id, string Kind);

    /// <summary>The statement that visits, for <paramref name="parents"/>, at most <paramref name="limit"/> children.</summary>
    public static NpgsqlBatchCommand LevelCommand(List<WalkParent> parents, int limit) => Sql.Command(PropagateLevelSql,
        Sql.Parameter("parents", parents.Select(parent => parent.Id).ToArray()),
        Sql.Parameter("succeeded", parents.Select(parent => parent.Succeeded).ToArray()),
        Sql.Parameter("after", parents.Select(parent => parent.After).ToArray()),
        Sql.Parameter("limit", limit));

    /// <summary>Reads what <see cref="LevelCommand"/> answered.</summary>
    public static async Task<LevelResult> ReadLevelAsync(NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        var result = new LevelResult(0, null, []);
        while (await reader.ReadAsync(cancellationToken))
        {
            result = result with { Locked = reader.GetInt32(0), Last = reader.IsDBNull(1) ? null : reader.GetGuid(1) };
            if (!reader.IsDBNull(2))
                result.Doomed.Add(new EndedTask(reader.GetGuid(2), reader.GetString(3)));
        }
        return result;
    }

    public static async Task<LevelResult> RunLevelAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<WalkParent> parents, int limit, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(LevelCommand(parents, limit));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        return await ReadLevelAsync(reader, cancellationToken);
    }

    /// <summary>
    /// Releases and cancels, transitively, what the ends of <paramref name="failed"/> (failed, cancelled or timed out) tasks
    /// decide. Returns the descendants cancelled as upstream_failed in this transaction, and the walk that continues when
    /// they are more than <see cref="EngineOptions.GraphWalkBatchSize"/>.
    /// </summary>
    public static async Task<(List<EndedTask> Cancelled, Guid? Walk)> PropagateAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] failed, EngineOptions options, CancellationToken cancellationToken) =>
        await WalkAsync(connection, transaction, failed.Select(id => new WalkParent(id, false, Guid.Empty)).ToList(), null, options,
            cancellationToken);

    // Level after level, until the transaction has locked GraphWalkBatchSize children: then what is left (the level's
    // parents with their cursor, the next level's) becomes a durable walk, written in this transaction.
    private static async Task<(List<EndedTask> Cancelled, Guid? Walk)> WalkAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<WalkParent> level, LevelResult? first, EngineOptions options,
        CancellationToken cancellationToken)
    {
        var cancelled = new List<EndedTask>();
        var used = 0;
        while (level.Count > 0)
        {
            var limit = options.GraphWalkBatchSize - used;
            var result = first ?? await RunLevelAsync(connection, transaction, level, limit, cancellationToken);
            first = null;
            used += result.Locked;
            cancelled.AddRange(result.Doomed);
            var next = result.Doomed.Select(task => new WalkParent(task.Id, false, Guid.Empty)).ToList();
            if (result.Locked == limit)
            {
                var rest = level.Select(parent => parent with { After = result.Last!.Value }).Concat(next).ToList();
                return (cancelled, await GraphWalks.StartAsync(connection, transaction, rest, used, options, cancellationToken));
            }
            level = next;
        }
        return (cancelled, null);
    }

    // The unfinished parents of task t as its edges count them: a success edge waits for success, a completion edge for any end.
    private const string UnmetParentsSql = """
        (SELECT count(*)::int FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id
         WHERE d.child_id = t.id
           AND CASE d.require WHEN 'success' THEN p.status <> 'succeeded'
                              ELSE p.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out') END)
        """;

    // One level of revival: the children a reopened task had cancelled as upstream_failed come back, unless another
    // parent they require to succeed still failed (a child whose last failed parent is revived later is looked at again
    // then). Children waiting on a reopened task through a completion edge wait for it again — those its end released:
    // when a walk had not yet visited all its children (the task is in a walk's frontier), only those up to its cursor,
    // and the walk forgets it. The reopened tasks are locked already, so a batch of that walk that visited them has
    // committed before this statement's snapshot.
    private const string ReviveLevelSql = """
        WITH revived AS (
            UPDATE tasks t
            SET status = 'pending', cancel_reason = NULL, ended_at = NULL
            WHERE t.id IN (SELECT d.child_id FROM task_dependencies d WHERE d.parent_id = ANY (@reopened::uuid[]) AND d.require = 'success')
              AND t.status = 'cancelled' AND t.cancel_reason = 'upstream_failed' AND t.deleted_at IS NULL
              AND NOT EXISTS (SELECT FROM task_dependencies f JOIN tasks p ON p.id = f.parent_id
                              WHERE f.child_id = t.id AND f.require = 'success' AND p.status IN ('failed', 'cancelled', 'timed_out'))
            RETURNING t.id
        ),
        waiting_again AS (
            UPDATE tasks c
            SET pending_parents = c.pending_parents + e.edges
            FROM (SELECT d.child_id, count(*)::int AS edges
                  FROM task_dependencies d LEFT JOIN graph_walk_frontier f ON f.task_id = d.parent_id
                  WHERE d.parent_id = ANY (@reopened::uuid[]) AND d.require = 'completion'
                    AND (f.task_id IS NULL OR d.child_id <= f.after_child)
                  GROUP BY d.child_id) e
            WHERE c.id = e.child_id AND c.status IN ('pending', 'paused')
        ),
        unwalked AS (
            DELETE FROM graph_walk_frontier WHERE task_id = ANY (@reopened::uuid[])
        )
        SELECT id FROM revived
        """;

    // Last, with every revival visible: the revived tasks' own counters (a parent revived in the same level looked ended).
    private const string RecountSql = """
        UPDATE tasks t SET pending_parents =
        """ + UnmetParentsSql + """

        WHERE t.id = ANY (@revived::uuid[])
        """;

    /// <summary>
    /// After <paramref name="reopened"/> went back to pending: revives, transitively, the descendants their failure had
    /// cancelled as upstream_failed, and recounts their unfinished parents. Returns how many were revived.
    /// </summary>
    public static async Task<int> ReviveAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] reopened, CancellationToken cancellationToken)
    {
        var all = new List<Guid>(reopened);
        var initiallyReopened = reopened.Length;
        while (reopened.Length > 0)
        {
            reopened = (await connection.QueryAsync<Guid>(ReviveLevelSql, new { reopened = PgArray.Of(reopened), cancellationToken }, transaction)).ToArray();
            all.AddRange(reopened);
        }
        var revived = all.ToArray();
        await connection.ExecuteAsync(RecountSql, new { revived = PgArray.Of(revived), cancellationToken }, transaction);
        return revived.Length - initiallyReopened;
    }

    /// <summary>The full rows of tasks, in the shape every read has, for answering a command.</summary>
    public static async Task<TaskRow> ReadAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, CancellationToken cancellationToken) =>
        await connection.QuerySingleAsync<TaskRow>(ReadSql, new { id, cancellationToken }, transaction);

    private const string ReadSql = TaskReads.SelectSql + "\nWHERE t.id = @id";
}
