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
            batch.BatchCommands.Add(Sql.Command(EndStatement.Sql,
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
        var (cancelled, walk) = await GraphWalks.WalkAsync(connection, transaction, new GraphWalks.Walk(GraphWalks.Propagate), level, first,
            options, cancellationToken);
        span?.SetTag("taskrunner.tasks_cancelled", cancelled.Count);
        return new Ending(ended, cancelled, walk);
    }

    /// <summary>
    /// A task whose change a walk carries to its children: those after <see cref="After"/> (in id order) are still to
    /// visit. <see cref="Bound"/>: a revived task's last child its end had released (null until the walk looked it up).
    /// </summary>
    public sealed record WalkParent(Guid Id, bool Succeeded, Guid After, Guid? Bound = null);

    /// <summary>
    /// One statement of a walk: how many children it locked (at most its limit; fewer means the parents' children are all
    /// visited), the last of them in id order, and those it changed (cancelled, revived, deleted or restored: the next
    /// level's parents); a revival also names the tasks whose unfinished parents are to be counted again.
    /// </summary>
    public sealed record LevelResult(int Locked, Guid? Last, List<EndedTask> Doomed, List<Guid>? Recount = null);

    public sealed record EndedTask(Guid Id, string Kind);

    /// <summary>The statement that visits, for <paramref name="parents"/>, at most <paramref name="limit"/> children.</summary>
    public static NpgsqlBatchCommand LevelCommand(List<WalkParent> parents, int limit) => Sql.Command(PropagateLevelStatement.Sql,
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
        await GraphWalks.WalkAsync(connection, transaction, new GraphWalks.Walk(GraphWalks.Propagate),
            failed.Select(id => new WalkParent(id, false, Guid.Empty)).ToList(), null, options, cancellationToken);

    /// <summary>
    /// After <paramref name="reopened"/> went back to pending (the caller holds them locked): revives, transitively, the
    /// descendants their failure had cancelled as upstream_failed, and recounts their unfinished parents. Returns how many
    /// were revived in this transaction, and the walk that continues when they are more than
    /// <see cref="EngineOptions.GraphWalkBatchSize"/> (<see cref="GraphWalks.FinishAsync"/> after commit).
    /// </summary>
    public static async Task<(int Revived, Guid? Walk)> ReviveAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] reopened, EngineOptions options, CancellationToken cancellationToken)
    {
        var (revived, walk) = await GraphWalks.WalkAsync(connection, transaction, new GraphWalks.Walk(GraphWalks.Revive),
            reopened.Select(id => new WalkParent(id, false, Guid.Empty)).ToList(), null, options, cancellationToken);
        // Their own counters, from their edges: one may wait on another reopened with it (a batch's work and its failed
        // cleanup, through a completion edge).
        await connection.ExecuteAsync(RecountParentsStatement.Sql, new { tasks = PgArray.Of(reopened), cancellationToken }, transaction);
        return (revived.Count, walk);
    }

    /// <summary>
    /// Takes revive parents not looked up yet out of the propagation walk still carrying their failure, if any, with its
    /// cursor as their bound (<see cref="ReviveLevelStatement.AdoptSql"/>). The caller holds them locked.
    /// </summary>
    public static async Task<List<WalkParent>> AdoptAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<WalkParent> parents, CancellationToken cancellationToken)
    {
        var ids = parents.Where(parent => parent.Bound is null).Select(parent => parent.Id).ToArray();
        if (ids.Length == 0)
            return parents;
        var bounds = (await connection.QueryAsync<AdoptedParent>(ReviveLevelStatement.AdoptSql,
            new { ids = PgArray.Of(ids), visited = GraphWalks.Visited, cancellationToken }, transaction)).ToDictionary(row => row.Id, row => row.Bound);
        return parents.Select(parent => parent.Bound is null ? parent with { Bound = bounds[parent.Id] } : parent).ToList();
    }

    internal sealed record AdoptedParent(Guid Id, Guid Bound);

    /// <summary>One level of revival (<see cref="ReviveLevelStatement"/>) for adopted parents.</summary>
    public static async Task<LevelResult> RunReviveLevelAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<WalkParent> parents, int limit, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(Sql.Command(ReviveLevelStatement.Sql,
            Sql.Parameter("parents", parents.Select(parent => parent.Id).ToArray()),
            Sql.Parameter("after", parents.Select(parent => parent.After).ToArray()),
            Sql.Parameter("bound", parents.Select(parent => parent.Bound!.Value).ToArray()),
            Sql.Parameter("limit", limit)));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        var result = new LevelResult(0, null, [], []);
        while (await reader.ReadAsync(cancellationToken))
        {
            result = result with { Locked = reader.GetInt32(0), Last = reader.IsDBNull(1) ? null : reader.GetGuid(1) };
            if (reader.IsDBNull(2))
                continue;
            var id = reader.GetGuid(2);
            result.Recount!.Add(id);
            if (reader.GetBoolean(4))
                result.Doomed.Add(new EndedTask(id, reader.GetString(3)));
        }
        return result;
    }

    /// <summary>The full rows of tasks, in the shape every read has, for answering a command.</summary>
    public static async Task<TaskRow> ReadAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, CancellationToken cancellationToken) =>
        await connection.QuerySingleAsync<TaskRow>(ReadSql, new { id, cancellationToken }, transaction);

    private const string ReadSql = TaskReads.SelectSql + "\nWHERE t.id = @id";
}
