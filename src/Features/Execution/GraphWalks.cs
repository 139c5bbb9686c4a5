using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Features.Execution;

/// <summary>
/// Propagation walks larger than one transaction (<see cref="EngineOptions.GraphWalkBatchSize"/> locked tasks). The
/// transaction that ended the first tasks walks as far as its budget, then writes what is left — the parents whose
/// children are still to visit, each with a cursor — as a walk (<see cref="StartAsync"/>). After its commit the same
/// request continues the walk in transactions of at most the same size (<see cref="FinishAsync"/>), each level after
/// level from the frontier while its budget lasts, and answers when it is done; each batch applies its part and moves the frontier in one transaction, so a batch is either wholly done or not
/// at all, and whoever continues (the request, or the leader's sweeper once <c>resume_at</c> passed because the request's
/// process died: <see cref="ResumeAsync"/>) starts from a consistent frontier. Batches of one walk take its row's lock,
/// so they never run at once.
/// </summary>
internal static class GraphWalks
{
    private const string StartSql = """
        WITH walk AS (
            INSERT INTO graph_walks (id, resume_at, rows)
            VALUES (uuid_v7(), now() + make_interval(secs => @resumeSeconds), @rows)
            RETURNING id
        ),
        frontier AS (
            INSERT INTO graph_walk_frontier (task_id, walk_id, succeeded, after_child)
            SELECT p.id, w.id, p.succeeded, p.after
            FROM unnest(@parents::uuid[], @succeeded::boolean[], @after::uuid[]) AS p (id, succeeded, after) CROSS JOIN walk w
            ON CONFLICT (task_id) DO NOTHING
        )
        SELECT id FROM walk
        """;

    // The walk's lock for this batch, and the promise to finish it within GraphWalkResumeSeconds (else the sweeper does).
    private const string TakeSql = """
        UPDATE graph_walks SET resume_at = now() + make_interval(secs => @resumeSeconds), batches = batches + 1
        WHERE id = @walk
        RETURNING id
        """;

    private const string AbandonedSql = """
        SELECT id FROM graph_walks WHERE resume_at < now() ORDER BY resume_at LIMIT 1 FOR UPDATE SKIP LOCKED
        """;

    // The next parents in id order, locked in share mode: a retry of one (which revives what the walk cancelled below it)
    // waits for this batch, or this batch sees it pending again and no longer propagates its failure.
    private const string FrontierSql = """
        SELECT f.task_id AS id, f.succeeded, f.after_child AS after,
               f.succeeded OR t.status IN ('failed', 'cancelled', 'timed_out') AS propagates
        FROM graph_walk_frontier f JOIN tasks t ON t.id = f.task_id
        WHERE f.walk_id = @walk
        ORDER BY f.task_id
        LIMIT @limit
        FOR SHARE OF t
        """;

    // Parents whose children are all visited leave the frontier; the others keep the last child visited as their cursor.
    // Added: the tasks the batch cancelled last (their children are next), and the parents of a later level the batch
    // stopped in, with its cursor.
    private const string AdvanceSql = """
        WITH finished AS (
            DELETE FROM graph_walk_frontier WHERE task_id = ANY (@finished::uuid[])
        ),
        advanced AS (
            UPDATE graph_walk_frontier SET after_child = greatest(after_child, @last::uuid) WHERE task_id = ANY (@unfinished::uuid[])
        ),
        added AS (
            INSERT INTO graph_walk_frontier (task_id, walk_id, succeeded, after_child)
            SELECT a.id, @walk, false, a.after FROM unnest(@added::uuid[], @addedAfter::uuid[]) AS a (id, after)
            ON CONFLICT (task_id) DO NOTHING
        )
        UPDATE graph_walks SET rows = rows + @locked WHERE id = @walk
        """;

    // A separate statement, so it sees what the one before changed in the frontier.
    private const string EndSql = """
        DELETE FROM graph_walks w
        WHERE w.id = @walk AND NOT EXISTS (SELECT FROM graph_walk_frontier f WHERE f.walk_id = @walk)
        RETURNING w.id
        """;

    internal sealed record FrontierRow(Guid Id, bool Succeeded, Guid After, bool Propagates);

    private sealed record Batch(bool Done, int Locked, List<Lifecycle.EndedTask> Cancelled);

    /// <summary>Writes the rest of a walk (in the transaction that walked <paramref name="rows"/> so far); returns its id.</summary>
    public static async Task<Guid> StartAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<Lifecycle.WalkParent> parents, int rows, EngineOptions options,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(StartSql, connection, transaction);
        command.Parameters.Add(Sql.Parameter("parents", parents.Select(parent => parent.Id).ToArray()));
        command.Parameters.Add(Sql.Parameter("succeeded", parents.Select(parent => parent.Succeeded).ToArray()));
        command.Parameters.Add(Sql.Parameter("after", parents.Select(parent => parent.After).ToArray()));
        command.Parameters.Add(Sql.Parameter("rows", (long)rows));
        command.Parameters.Add(Sql.Parameter("resumeSeconds", (double)options.GraphWalkResumeSeconds));
        return (Guid)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

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

    // One batch; true when the walk is done (or was finished by someone else), null when it no longer exists.
    private static async Task<bool?> ContinueAsync(
        NpgsqlDataSource dataSource, Guid walk, EngineOptions options, EngineMetrics metrics, string driver, CancellationToken cancellationToken)
    {
        var batch = await dataSource.InTransactionAsync(
            (connection, transaction) => RunBatchAsync(connection, transaction, walk, options, cancellationToken), cancellationToken);
        if (batch is null)
            return null;
        metrics.WalkBatch(driver, batch.Locked);
        foreach (var task in batch.Cancelled)
            metrics.Finished(task.Kind, Features.Tasks.TaskRules.Cancelled);
        metrics.Propagated("cancelled", batch.Cancelled.Count);
        return batch.Done;
    }

    private static async Task<Batch?> RunBatchAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid walk, EngineOptions options, CancellationToken cancellationToken)
    {
        var resumeSeconds = (double)options.GraphWalkResumeSeconds;
        if (await connection.QuerySingleOrDefaultAsync<Guid?>(TakeSql, new { walk, resumeSeconds, cancellationToken }, transaction) is null)
            return null;
        var limit = options.GraphWalkBatchSize;
        var frontier = (await connection.QueryAsync<FrontierRow>(FrontierSql, new { walk, limit, cancellationToken }, transaction)).ToList();
        // Like the first transaction, level after level while the budget lasts: one batch per level would pay a
        // transaction for every layer of a deep, narrow graph.
        var level = frontier.Where(row => row.Propagates).Select(row => new Lifecycle.WalkParent(row.Id, row.Succeeded, row.After)).ToList();
        var fromFrontier = true;
        var locked = 0;
        var cancelled = new List<Lifecycle.EndedTask>();
        Lifecycle.LevelResult result = new(0, null, []);
        while (level.Count > 0)
        {
            var budget = limit - locked;
            result = await Lifecycle.RunLevelAsync(connection, transaction, level, budget, cancellationToken);
            locked += result.Locked;
            cancelled.AddRange(result.Doomed);
            if (result.Locked == budget || result.Doomed.Count == 0)
                break;
            level = result.Doomed.Select(task => new Lifecycle.WalkParent(task.Id, false, Guid.Empty)).ToList();
            fromFrontier = false;
        }
        // Stopped short of the level's end (all of the budget locked): its parents may have children after the last one.
        var unfinished = level.Count > 0 && result.Locked == limit - (locked - result.Locked) ? level : [];
        var finished = frontier.Select(row => row.Id).Except(fromFrontier ? unfinished.Select(parent => parent.Id) : []).ToArray();
        var added = (fromFrontier ? [] : unfinished.Select(parent => parent with { After = result.Last!.Value }))
            .Concat(result.Doomed.Select(task => new Lifecycle.WalkParent(task.Id, false, Guid.Empty))).ToList();
        await using (var advance = new NpgsqlCommand(AdvanceSql, connection, transaction))
        {
            advance.Parameters.Add(Sql.Parameter("finished", finished));
            advance.Parameters.Add(Sql.Parameter("unfinished", fromFrontier ? unfinished.Select(parent => parent.Id).ToArray() : []));
            advance.Parameters.Add(Sql.Parameter("last", result.Last ?? Guid.Empty));
            advance.Parameters.Add(Sql.Parameter("added", added.Select(parent => parent.Id).ToArray()));
            advance.Parameters.Add(Sql.Parameter("addedAfter", added.Select(parent => parent.After).ToArray()));
            advance.Parameters.Add(Sql.Parameter("walk", walk));
            advance.Parameters.Add(Sql.Parameter("locked", (long)locked));
            await advance.ExecuteNonQueryAsync(cancellationToken);
        }
        var done = await connection.QuerySingleOrDefaultAsync<Guid?>(EndSql, new { walk, cancellationToken }, transaction) is not null;
        return new Batch(done, locked, cancelled);
    }
}
