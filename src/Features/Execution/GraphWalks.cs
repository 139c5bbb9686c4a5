using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Features.Execution;

/// <summary>
/// Graph walks larger than one transaction (<see cref="EngineOptions.GraphWalkBatchSize"/> locked tasks), of five kinds
/// that differ only in their level statement: failure propagation (<see cref="PropagateLevelStatement"/>), a retry's
/// revival (<see cref="ReviveLevelStatement"/>), and the delete, restore and permanent delete (purge) cascades
/// (<see cref="Tasks.TaskGraph"/>; a purge walks as a delete does, and removes each task once its children were visited). The
/// transaction that changed the first tasks walks as far as its budget (<see cref="WalkAsync"/>), then writes what is
/// left — the parents whose children are still to visit, each with a cursor — as a walk. After its commit the same
/// request continues the walk in transactions of at most the same size (<see cref="FinishAsync"/>), each level after
/// level from the frontier while its budget lasts, and answers when it is done; each batch applies its part and moves
/// the frontier in one transaction, so a batch is either wholly done or not at all, and whoever continues (the request,
/// or the leader's sweeper once <c>resume_at</c> passed because the request's process died: <see cref="ResumeAsync"/>)
/// starts from a consistent frontier. Batches of one walk take its row's lock, so they never run at once.
/// </summary>
internal static class GraphWalks
{
    public const string Propagate = "propagate";
    public const string Revive = "revive";
    public const string Delete = "delete";
    public const string Restore = "restore";
    public const string Purge = "purge";

    /// <summary>
    /// A cursor past every child: the bound of a revived task whose end had released all its children
    /// (<see cref="ReviveLevelStatement.AdoptSql"/>).
    /// </summary>
    public static readonly Guid Visited = Guid.Parse("ffffffff-ffff-ffff-ffff-ffffffffffff");

    /// <summary>
    /// What a walk does; a cascade also names its project, the <c>deleted_at</c> it sets or undoes, and the audit row of
    /// the request that started it (each continuing batch writes one like it for the tasks it changed).
    /// </summary>
    public sealed record Walk(string Kind, Guid? ProjectId = null, DateTime? Stamp = null, Guid? AuditId = null);

    private const string StartSql = """
        WITH walk AS (
            INSERT INTO graph_walks (id, resume_at, rows, kind, project_id, stamp, audit_id)
            VALUES (uuid_v7(), now() + make_interval(secs => @resumeSeconds), @rows, @kind, @projectId, @stamp, @auditId)
            RETURNING id, kind
        ),
        frontier AS (
            INSERT INTO graph_walk_frontier (task_id, walk_id, kind, succeeded, after_child, bound)
            SELECT p.id, w.id, w.kind, p.succeeded, p.after, p.bound
            FROM unnest(@parents::uuid[], @succeeded::boolean[], @after::uuid[], @bound::uuid[]) AS p (id, succeeded, after, bound)
            CROSS JOIN walk w
        """ + TakeOverRevivedSql + """

        )
        SELECT id FROM walk
        """;

    // A task is in at most one frontier of each kind. A revived task that is revived again (it failed again in between)
    // joins the walk that revives it now; a propagation frontier keeps the walk that holds it.
    private const string TakeOverRevivedSql = """

            ON CONFLICT (kind, task_id) DO UPDATE
            SET walk_id = excluded.walk_id, after_child = excluded.after_child, bound = excluded.bound
            WHERE excluded.kind = 'revive'
        """;

    // The walk's lock for this batch, and the promise to finish it within GraphWalkResumeSeconds (else the sweeper does).
    private const string TakeSql = """
        UPDATE graph_walks SET resume_at = now() + make_interval(secs => @resumeSeconds), batches = batches + 1
        WHERE id = @walk
        RETURNING id, kind, project_id, stamp, audit_id
        """;

    private const string AbandonedSql = """
        SELECT id FROM graph_walks WHERE resume_at < now() ORDER BY resume_at LIMIT 1 FOR UPDATE SKIP LOCKED
        """;

    // The cascades still running in a project.
    private const string CascadesInProjectSql = """
        SELECT id FROM graph_walks WHERE project_id = @projectId AND kind IN ('delete', 'restore', 'purge') ORDER BY id
        """;

    // The project row's lock orders the cascades that start in it: one that commits a walk is seen by the next.
    private const string LockProjectSql = "SELECT id FROM projects WHERE id = @projectId FOR NO KEY UPDATE";

    // The next parents in id order, locked in share mode: a retry of a failed one (which revives what the walk cancelled
    // below it) waits for this batch, or this batch sees it pending again and no longer propagates its failure; a restored
    // one cannot be deleted (with children of its own restored meanwhile) while the batch runs. A purge's parents are
    // locked for update: the batch removes those whose children were all visited.
    private const string FrontierSql = FrontierSelectSql + "FOR SHARE OF t";

    private const string PurgeFrontierSql = FrontierSelectSql + "FOR UPDATE OF t";

    private const string FrontierSelectSql = """
        SELECT f.task_id AS id, f.succeeded, f.after_child AS after, f.bound,
               CASE f.kind WHEN 'propagate' THEN f.succeeded OR t.status IN ('failed', 'cancelled', 'timed_out')
                           WHEN 'restore' THEN t.deleted_at IS NULL
                           ELSE true END AS propagates
        FROM graph_walk_frontier f JOIN tasks t ON t.id = f.task_id
        WHERE f.walk_id = @walk
        ORDER BY f.task_id
        LIMIT @limit

        """;

    // A revive walk's parents, locked for update: a propagation batch that holds one of them in its own frontier (FOR
    // SHARE) has committed before the revive takes over its cursor (ReviveLevelStatement.AdoptSql). A parent that failed
    // again meanwhile revives nothing: its new failure stands.
    private const string ReviveFrontierSql = """
        SELECT f.task_id AS id, f.succeeded, f.after_child AS after, f.bound,
               t.status NOT IN ('failed', 'cancelled', 'timed_out') AS propagates
        FROM graph_walk_frontier f JOIN tasks t ON t.id = f.task_id
        WHERE f.walk_id = @walk
        ORDER BY f.task_id
        LIMIT @limit
        FOR UPDATE OF t
        """;

    // Parents whose children are all visited leave the frontier; the others keep the last child visited as their cursor.
    // Added: the tasks the batch changed last (their children are next), and the parents of a later level the batch
    // stopped in, with its cursor.
    // A propagation frontier task that is pending again was revived by a walk that has not taken it over yet: its
    // cursor goes to that walk (ReviveLevelStatement.AdoptSql would have taken it).
    private const string AdvanceSql = """
        WITH handed AS (
            UPDATE graph_walk_frontier r SET bound = f.after_child
            FROM graph_walk_frontier f
            WHERE f.walk_id = @walk AND f.kind = 'propagate' AND f.task_id = ANY (@dropped::uuid[])
              AND r.kind = 'revive' AND r.task_id = f.task_id AND r.bound IS NULL
        ),
        finished AS (
            DELETE FROM graph_walk_frontier WHERE walk_id = @walk AND task_id = ANY (@finished::uuid[])
        ),
        advanced AS (
            UPDATE graph_walk_frontier f SET after_child = greatest(f.after_child, @last::uuid), bound = u.bound
            FROM unnest(@unfinished::uuid[], @unfinishedBound::uuid[]) AS u (id, bound)
            WHERE f.walk_id = @walk AND f.task_id = u.id
        ),
        added AS (
            INSERT INTO graph_walk_frontier (task_id, walk_id, kind, succeeded, after_child, bound)
            SELECT a.id, @walk, @kind, false, a.after, a.bound
            FROM unnest(@added::uuid[], @addedAfter::uuid[], @addedBound::uuid[]) AS a (id, after, bound)
        """ + TakeOverRevivedSql + """

        )
        UPDATE graph_walks SET rows = rows + @locked WHERE id = @walk
        """;

    // A separate statement, so it sees what the one before changed in the frontier.
    private const string EndSql = """
        DELETE FROM graph_walks w
        WHERE w.id = @walk AND NOT EXISTS (SELECT FROM graph_walk_frontier f WHERE f.walk_id = @walk)
        RETURNING w.id
        """;

    // In the name of the request that started the cascade, as its own audit row.
    private const string CascadeAuditSql = """
        INSERT INTO audit_log (id, actor_user_id, actor_api_key_id, action, resource_type, resource_id, ip, request_id, diff)
        SELECT uuid_v7(), a.actor_user_id, a.actor_api_key_id, a.action, a.resource_type, a.resource_id, a.ip, a.request_id,
               jsonb_build_object('cascaded_ids', jsonb_build_object('from', NULL, 'to', to_jsonb(@ids::text[])))
        FROM audit_log a
        WHERE a.id = @auditId
        """;

    internal sealed record WalkRow(Guid Id, string Kind, Guid? ProjectId, DateTime? Stamp, Guid? AuditId);

    internal sealed record FrontierRow(Guid Id, bool Succeeded, Guid After, Guid? Bound, bool Propagates);

    /// <summary>What a batch did: whether the walk is done, how many tasks it locked, and the tasks it changed.</summary>
    private sealed record Batch(string Kind, bool Done, int Locked, List<Lifecycle.EndedTask> Changed);

    /// <summary>
    /// Levels walked in one transaction: the tasks locked and changed, the parents of the level the budget cut short (none
    /// when the last level was finished; a revive walk's with their bound), whether that was the first level, the last
    /// child it visited, the parents of the next level (the tasks that level changed), and a revive walk's tasks whose
    /// parents are to be counted again.
    /// </summary>
    public sealed record Levels(
        int Locked, List<Lifecycle.EndedTask> Changed, List<Lifecycle.WalkParent> Cut, bool CutInFirst, Guid? Last,
        List<Lifecycle.WalkParent> Next, List<Guid> Recount);

    /// <summary>
    /// Walks from <paramref name="level"/> (in the transaction that changed its parents) level after level until the
    /// transaction has locked GraphWalkBatchSize children, then writes what is left as a walk (<see cref="StartAsync"/>).
    /// Returns the tasks changed and the walk, if any. <paramref name="first"/>: the first level's result when the caller
    /// ran it already.
    /// </summary>
    public static async Task<(List<Lifecycle.EndedTask> Changed, Guid? Walk)> WalkAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Walk walk, List<Lifecycle.WalkParent> level, Lifecycle.LevelResult? first,
        EngineOptions options, CancellationToken cancellationToken)
    {
        var walked = await WalkLevelsAsync(connection, transaction, walk, level, first, options, cancellationToken);
        return (walked.Changed, await StartAsync(connection, transaction, walk, walked, options, cancellationToken));
    }

    /// <summary>
    /// The first part of <see cref="WalkAsync"/>, for a cascade that writes its audit row (which its walk names) between
    /// the two: the levels the transaction walks within its budget.
    /// </summary>
    public static Task<Levels> WalkLevelsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Walk walk, List<Lifecycle.WalkParent> level, Lifecycle.LevelResult? first,
        EngineOptions options, CancellationToken cancellationToken) =>
        WalkLevelsAsync(connection, transaction, walk, level, first, options.GraphWalkBatchSize, cancellationToken);

    /// <summary>
    /// The same within <paramref name="budget"/>, what is left of the transaction's when it walks more than once (a bulk
    /// delete, one walk per project).
    /// </summary>
    public static async Task<Levels> WalkLevelsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Walk walk, List<Lifecycle.WalkParent> level, Lifecycle.LevelResult? first,
        int budget, CancellationToken cancellationToken)
    {
        // Nothing left: the whole walk continues after the commit, from its first level.
        if (budget <= 0)
            return new Levels(0, [], level, true, Guid.Empty, [], []);
        var walked = await WalkLevelsAsync(connection, transaction, walk, level, first, budget, continuing: false, cancellationToken);
        await FinishLevelsAsync(connection, transaction, walk, level, walked, cancellationToken);
        return walked;
    }

    /// <summary>Writes the rest of <paramref name="walked"/>, if the budget cut it short, as a walk; returns its id.</summary>
    public static async Task<Guid?> StartAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Walk walk, Levels walked, EngineOptions options,
        CancellationToken cancellationToken)
    {
        if (walked.Cut.Count == 0)
            return null;
        var frontier = walked.Cut.Select(parent => parent with { After = walked.Last!.Value }).Concat(walked.Next).ToList();
        await using var command = new NpgsqlCommand(StartSql, connection, transaction);
        command.Parameters.Add(Sql.Parameter("parents", frontier.Select(parent => parent.Id).ToArray()));
        command.Parameters.Add(Sql.Parameter("succeeded", frontier.Select(parent => parent.Succeeded).ToArray()));
        command.Parameters.Add(Sql.Parameter("after", frontier.Select(parent => parent.After).ToArray()));
        command.Parameters.Add(Sql.Parameter("bound", frontier.Select(parent => parent.Bound).ToArray()));
        command.Parameters.Add(Sql.Parameter("rows", (long)walked.Locked));
        command.Parameters.Add(Sql.Parameter("resumeSeconds", (double)options.GraphWalkResumeSeconds));
        command.Parameters.Add(Sql.Parameter("kind", walk.Kind));
        command.Parameters.Add(Nullable("projectId", walk.ProjectId));
        command.Parameters.Add(Nullable("stamp", walk.Stamp));
        command.Parameters.Add(Nullable("auditId", walk.AuditId));
        return (Guid)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static NpgsqlParameter Nullable<T>(string name, T? value) where T : struct =>
        new(name, value is { } present ? present : DBNull.Value);

    /// <summary>Continues the walk, if any, batch after batch until it is done: a request answers only then.</summary>
    public static async Task FinishAsync(
        NpgsqlDataSource dataSource, Guid? walk, EngineOptions options, EngineMetrics metrics, CancellationToken cancellationToken)
    {
        if (walk is not { } id)
            return;
        while (await ContinueAsync(dataSource, id, options, metrics, "request", cancellationToken) is false)
        {
        }
    }

    /// <summary>
    /// The sweeper's part: takes over one walk whose process stopped continuing it and runs at most
    /// <paramref name="maxBatches"/> of its batches. Returns whether there was one.
    /// </summary>
    public static async Task<bool> ResumeAsync(
        NpgsqlDataSource dataSource, int maxBatches, EngineOptions options, EngineMetrics metrics, CancellationToken cancellationToken)
    {
        var walk = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var id = await connection.QuerySingleOrDefaultAsync<Guid?>(AbandonedSql, new { cancellationToken }, transaction);
            if (id is not null)
                await connection.ExecuteAsync(TakeSql, new { walk = id.Value, resumeSeconds = (double)options.GraphWalkResumeSeconds, cancellationToken }, transaction);
            return id;
        }, cancellationToken);
        if (walk is not { } found)
            return false;
        metrics.WalkResumed();
        for (var batch = 0; batch < maxBatches; batch++)
            if (await ContinueAsync(dataSource, found, options, metrics, "sweeper", cancellationToken) is not false)
                break;
        return true;
    }

    /// <summary>
    /// Runs <paramref name="work"/> in a transaction after the delete and restore cascades of a project finished: the
    /// work calls <see cref="CascadeGate.WaitForProjectAsync"/> once it knows the project; when a cascade is still
    /// walking there, the transaction is rolled back, the cascades are finished, and the work runs again. A cascade
    /// therefore never interleaves with another one, or with the project's delete, in the same project.
    /// </summary>
    public static async Task<T> AfterCascadesAsync<T>(
        NpgsqlDataSource dataSource, Func<NpgsqlConnection, NpgsqlTransaction, CascadeGate, Task<T>> work, EngineOptions options,
        EngineMetrics metrics, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await dataSource.InTransactionAsync(
                    (connection, transaction) => work(connection, transaction, new CascadeGate(connection, transaction, cancellationToken)),
                    cancellationToken);
            }
            catch (CascadesRunningException running)
            {
                foreach (var walk in running.Walks)
                    await FinishAsync(dataSource, walk, options, metrics, cancellationToken);
            }
        }
    }

    /// <summary>The check <see cref="AfterCascadesAsync"/> hands its work.</summary>
    public sealed class CascadeGate(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        /// <summary>Locks the project row and stops the work (to run it again) while a cascade in the project walks.</summary>
        public async Task WaitForProjectAsync(Guid projectId)
        {
            await connection.ExecuteAsync(LockProjectSql, new { projectId, cancellationToken }, transaction);
            var walks = (await connection.QueryAsync<Guid>(CascadesInProjectSql, new { projectId, cancellationToken }, transaction)).ToList();
            if (walks.Count > 0)
                throw new CascadesRunningException(walks);
        }
    }

    private sealed class CascadesRunningException(List<Guid> walks) : Exception("cascades are still walking in the project")
    {
        public List<Guid> Walks { get; } = walks;
    }

    // One batch; true when the walk is done (or was finished by someone else), null when it no longer exists.
    private static async Task<bool?> ContinueAsync(
        NpgsqlDataSource dataSource, Guid walk, EngineOptions options, EngineMetrics metrics, string driver, CancellationToken cancellationToken)
    {
        Batch? batch;
        try
        {
            batch = await dataSource.InTransactionAsync(
                (connection, transaction) => RunBatchAsync(connection, transaction, walk, options, cancellationToken), cancellationToken);
        }
        catch (PostgresException e) when (PgErrors.IsUniqueViolation(e, "tasks_dedupe_idx"))
        {
            // A restore batch met a task created at the same moment with the dedupe_key of one it brought back: rolled
            // back, it runs again and sees that task, so the one it clashes with stays deleted.
            return false;
        }
        if (batch is null)
            return null;
        metrics.WalkBatch(driver, batch.Locked);
        switch (batch.Kind)
        {
            case Propagate:
                foreach (var task in batch.Changed)
                    metrics.Finished(task.Kind, Features.Tasks.TaskRules.Cancelled);
                metrics.Propagated("cancelled", batch.Changed.Count);
                break;
            case Revive:
                metrics.Propagated("revived", batch.Changed.Count);
                break;
        }
        return batch.Done;
    }

    private static async Task<Batch?> RunBatchAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, EngineOptions options, CancellationToken cancellationToken)
    {
        var resumeSeconds = (double)options.GraphWalkResumeSeconds;
        var row = await connection.QuerySingleOrDefaultAsync<WalkRow>(TakeSql, new { walk = id, resumeSeconds, cancellationToken }, transaction);
        if (row is null)
            return null;
        var walk = new Walk(row.Kind, row.ProjectId, row.Stamp, row.AuditId);
        var limit = options.GraphWalkBatchSize;
        var frontierArgs = new { walk = id, limit, cancellationToken };
        var frontier = (walk.Kind switch
        {
            Revive => await connection.QueryAsync<FrontierRow>(ReviveFrontierSql, frontierArgs, transaction),
            Purge => await connection.QueryAsync<FrontierRow>(PurgeFrontierSql, frontierArgs, transaction),
            _ => await connection.QueryAsync<FrontierRow>(FrontierSql, frontierArgs, transaction),
        }).ToList();
        var level = frontier.Where(parent => parent.Propagates)
            .Select(parent => new Lifecycle.WalkParent(parent.Id, parent.Succeeded, parent.After, parent.Bound)).ToList();
        var walked = await WalkLevelsAsync(connection, transaction, walk, level, null, limit, continuing: true, cancellationToken);
        await FinishLevelsAsync(connection, transaction, walk, level, walked, cancellationToken);
        // A cascade's continuing batch records its tasks as the request did (whose transaction wrote its own row).
        if (walk.AuditId is { } auditId && walked.Changed.Count > 0)
            await connection.ExecuteAsync(CascadeAuditSql, new
            {
                auditId, ids = PgArray.Of(walked.Changed.Select(task => task.Id.ToString())), cancellationToken,
            }, transaction);

        // Parents of the frontier are finished unless the budget cut their level short; a later level cut short, and the
        // next level, join the frontier.
        var unfinished = walked.CutInFirst ? walked.Cut : [];
        var finished = frontier.Select(parent => parent.Id).Except(unfinished.Select(parent => parent.Id)).ToArray();
        var added = (walked.CutInFirst ? [] : walked.Cut.Select(parent => parent with { After = walked.Last!.Value }))
            .Concat(walked.Next).ToList();
        await using (var advance = new NpgsqlCommand(AdvanceSql, connection, transaction))
        {
            advance.Parameters.Add(Sql.Parameter("finished", finished));
            advance.Parameters.Add(Sql.Parameter("dropped", frontier.Where(parent => !parent.Propagates).Select(parent => parent.Id).ToArray()));
            advance.Parameters.Add(Sql.Parameter("unfinished", unfinished.Select(parent => parent.Id).ToArray()));
            advance.Parameters.Add(Sql.Parameter("unfinishedBound", unfinished.Select(parent => parent.Bound).ToArray()));
            advance.Parameters.Add(Sql.Parameter("last", walked.Last ?? Guid.Empty));
            advance.Parameters.Add(Sql.Parameter("added", added.Select(parent => parent.Id).ToArray()));
            advance.Parameters.Add(Sql.Parameter("addedAfter", added.Select(parent => parent.After).ToArray()));
            advance.Parameters.Add(Sql.Parameter("addedBound", added.Select(parent => parent.Bound).ToArray()));
            advance.Parameters.Add(Sql.Parameter("walk", id));
            advance.Parameters.Add(Sql.Parameter("kind", walk.Kind));
            advance.Parameters.Add(Sql.Parameter("locked", (long)walked.Locked));
            await advance.ExecuteNonQueryAsync(cancellationToken);
        }
        var done = await connection.QuerySingleOrDefaultAsync<Guid?>(EndSql, new { walk = id, cancellationToken }, transaction) is not null;
        return new Batch(walk.Kind, done, walked.Locked, walked.Changed);
    }

    // Level after level while the budget lasts: one transaction per level would pay for every layer of a deep, narrow graph.
    private static async Task<Levels> WalkLevelsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Walk walk, List<Lifecycle.WalkParent> level, Lifecycle.LevelResult? first,
        int limit, bool continuing, CancellationToken cancellationToken)
    {
        var locked = 0;
        var changed = new List<Lifecycle.EndedTask>();
        var recount = new List<Guid>();
        var inFirst = true;
        while (level.Count > 0)
        {
            if (walk.Kind == Revive)
                level = await Lifecycle.AdoptAsync(connection, transaction, level, cancellationToken);
            var budget = limit - locked;
            var result = first ?? await RunLevelAsync(connection, transaction, walk, level, budget, continuing, cancellationToken);
            first = null;
            locked += result.Locked;
            changed.AddRange(result.Doomed);
            recount.AddRange(result.Recount ?? []);
            var next = result.Doomed.Select(task => new Lifecycle.WalkParent(task.Id, false, Guid.Empty)).ToList();
            if (result.Locked == budget)
                return new Levels(locked, changed, level, inFirst, result.Last, next, recount);
            level = next;
            inFirst = false;
        }
        return new Levels(locked, changed, [], false, null, [], recount);
    }

    private static Task<Lifecycle.LevelResult> RunLevelAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Walk walk, List<Lifecycle.WalkParent> parents, int limit,
        bool continuing, CancellationToken cancellationToken) => walk.Kind switch
    {
        Propagate => Lifecycle.RunLevelAsync(connection, transaction, parents, limit, cancellationToken),
        Revive => Lifecycle.RunReviveLevelAsync(connection, transaction, parents, limit, cancellationToken),
        Delete or Purge => Tasks.TaskGraph.DeleteLevelAsync(connection, transaction, parents, walk.ProjectId!.Value, walk.Stamp!.Value, limit, cancellationToken),
        Restore => Tasks.TaskGraph.RestoreLevelAsync(connection, transaction, parents, walk.ProjectId!.Value, walk.Stamp!.Value, limit,
            takenDedupeKeysStay: continuing, cancellationToken),
        _ => throw new InvalidOperationException($"No graph walk of kind {walk.Kind}."),
    };

    /// <summary>
    /// What a transaction's levels leave to do before its frontier moves: a revive walk counts again, with every revival
    /// of the transaction visible, the unfinished parents of what it revived; a purge removes the tasks whose children
    /// were all visited (<paramref name="level"/>, the transaction's first parents, and the tasks it stamped, except the
    /// parents of the level it stopped in and of the next one).
    /// </summary>
    private static async Task FinishLevelsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Walk walk, List<Lifecycle.WalkParent> level, Levels walked,
        CancellationToken cancellationToken)
    {
        if (walk.Kind == Revive && walked.Recount.Count > 0)
            await connection.ExecuteAsync(RecountParentsStatement.Sql, new { tasks = PgArray.Of(walked.Recount), cancellationToken }, transaction);
        if (walk.Kind == Purge)
        {
            var visited = level.Select(parent => parent.Id).Concat(walked.Changed.Select(task => task.Id))
                .Except(walked.Cut.Concat(walked.Next).Select(parent => parent.Id)).Order().ToArray();
            await Tasks.TaskGraph.PurgeAsync(connection, transaction, visited, cancellationToken);
        }
    }
}
