using Dapper;
using Npgsql;
using TaskRunner.Features.Execution;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Features.Tasks;

/// <summary>A live edge: <see cref="ParentId"/> has the live child <see cref="ChildId"/>.</summary>
internal sealed record TaskEdge(Guid ParentId, Guid ChildId);

/// <summary>
/// Walks of the dependency graph that deletes and restores need. The invariants they keep: a live task never has a deleted
/// parent (deleting a parent with live children is refused unless they go too; restoring a child needs its parents live),
/// and a live edge never joins two projects (migration 13 enforces it; restoring a child needs its parents in its project).
/// The cascading walks never leave the root's project, so a cascade only ever touches tasks the caller was allowed to change.
/// Every cascade (soft and permanent delete, bulk delete, restore) walks level after level as <see cref="GraphWalks"/>
/// (bounded batches, continued after the request's transaction).
/// </summary>
internal static class TaskGraph
{
    private const string LiveChildrenSql = """
        SELECT d.parent_id, d.child_id
        FROM task_dependencies d JOIN tasks c ON c.id = d.child_id
        WHERE d.parent_id = ANY (@ids::uuid[]) AND c.deleted_at IS NULL
        ORDER BY d.parent_id, d.child_id
        """;

    // A purge's tasks whose children were all visited, locked by the walk already: their edges, comments and leases go
    // with them (foreign keys cascade).
    private const string PurgeSql = """
        DELETE FROM tasks WHERE id = ANY (@ids::uuid[])
        """;

    // The children of a cascade's level after each parent's cursor, in its project, locked in id order; at most @limit.
    private const string LevelChildrenSql = """
        WITH children AS (
            SELECT d.child_id
            FROM unnest(@parents::uuid[], @after::uuid[]) AS p (id, after)
            JOIN task_dependencies d ON d.parent_id = p.id AND d.child_id > p.after
        ),
        locked AS (
            SELECT t.id
            FROM tasks t
            WHERE t.id IN (SELECT child_id FROM children) AND t.project_id = @projectId
        """;

    private const string LevelAnswerSql = """

        SELECT s.locked, s.last, c.id, c.kind
        FROM (SELECT count(*)::int AS locked, (SELECT l.id FROM locked l ORDER BY l.id DESC LIMIT 1) AS last FROM locked) s
        LEFT JOIN changed c ON true
        """;

    /// <summary>
    /// A delete (or purge) cascade's level: the live children are deleted at the cascade's instant (<c>@stamp</c>); a
    /// purge removes them for good once their own children were visited (<see cref="PurgeAsync"/>).
    /// </summary>
    private const string DeleteLevelSql = LevelChildrenSql + """
              AND t.deleted_at IS NULL
            ORDER BY t.id
            LIMIT @limit
            FOR UPDATE OF t
        ),
        changed AS (
            UPDATE tasks t SET deleted_at = @stamp FROM locked l WHERE t.id = l.id RETURNING t.id, t.kind
        )
        """ + LevelAnswerSql;

    /// <summary>
    /// A restore cascade's level: the children deleted at the cascade's instant come back when none of their parents is
    /// deleted or in another project (a child whose last deleted parent comes back later is looked at again then). With
    /// <c>@takenDedupeKeysStay</c> (a continuing batch, which cannot refuse what committed before it), a child whose
    /// dedupe_key another unfinished task took since the restore began stays deleted (one that commits while the statement
    /// runs fails the batch, which runs again: <see cref="GraphWalks"/>); else the unique index refuses the whole restore.
    /// </summary>
    private const string RestoreLevelSql = LevelChildrenSql + """
              AND t.deleted_at = @stamp
            ORDER BY t.id
            LIMIT @limit
            FOR UPDATE OF t
        ),
        changed AS (
            UPDATE tasks t SET deleted_at = NULL
            FROM locked l
            WHERE t.id = l.id
              AND NOT EXISTS (SELECT FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id
                              WHERE d.child_id = t.id AND (p.deleted_at IS NOT NULL OR p.project_id <> t.project_id))
              AND NOT (@takenDedupeKeysStay AND t.dedupe_key IS NOT NULL AND t.status IN ('pending', 'paused', 'running')
                       AND EXISTS (SELECT FROM tasks o
                                   WHERE o.project_id = t.project_id AND o.dedupe_key = t.dedupe_key AND o.deleted_at IS NULL
                                     AND o.status IN ('pending', 'paused', 'running')))
            RETURNING t.id, t.kind
        )
        """ + LevelAnswerSql;

    // A parent in another project blocks as a deleted one does: restoring the child would make a live edge across projects
    // (the parent moved while the child was deleted).
    private const string BlockingParentEdgesSql = """
        SELECT d.parent_id, d.child_id
        FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id JOIN tasks c ON c.id = d.child_id
        WHERE d.child_id = ANY (@ids::uuid[]) AND (p.deleted_at IS NOT NULL OR p.project_id <> c.project_id)
        ORDER BY d.child_id, d.parent_id
        """;

    /// <summary>
    /// The unfinished live tasks that hold the dedupe_key of an unfinished task a restore would bring back: the root, and
    /// with <c>@cascade</c> the descendants deleted at its instant, reached through such tasks (a superset of what the
    /// walk brings back: it read without locks, before the first level).
    /// </summary>
    private const string DedupeHoldersSql = """
        WITH RECURSIVE restoring (id) AS (
            SELECT @id::uuid
            UNION
            SELECT d.child_id
            FROM restoring r
            JOIN task_dependencies d ON d.parent_id = r.id
            JOIN tasks c ON c.id = d.child_id
            WHERE @cascade AND c.deleted_at = @stamp AND c.project_id = @projectId
        )
        SELECT DISTINCT o.id
        FROM restoring r
        JOIN tasks t ON t.id = r.id
        JOIN tasks o ON o.project_id = t.project_id AND o.dedupe_key = t.dedupe_key
        WHERE t.dedupe_key IS NOT NULL AND t.status IN ('pending', 'paused', 'running')
          AND o.deleted_at IS NULL AND o.status IN ('pending', 'paused', 'running')
        ORDER BY o.id
        """;

    public static async Task<List<Guid>> DedupeHoldersAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, Guid projectId, DateTime stamp, bool cascade,
        CancellationToken cancellationToken) =>
        (await connection.QueryAsync<Guid>(DedupeHoldersSql, new { id, projectId, stamp, cascade, cancellationToken }, transaction)).ToList();

    public static async Task<List<TaskEdge>> LiveChildrenAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] ids, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<TaskEdge>(LiveChildrenSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction)).ToList();

    public static async Task PurgeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] ids, CancellationToken cancellationToken)
    {
        if (ids.Length > 0)
            await connection.ExecuteAsync(PurgeSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction);
    }

    internal sealed record LevelRow(int Locked, Guid? Last, Guid? Id, string? Kind);

    /// <summary>One level of a delete cascade (a <see cref="Execution.GraphWalks"/> kind).</summary>
    public static async Task<Lifecycle.LevelResult> DeleteLevelAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<Lifecycle.WalkParent> parents, Guid projectId, DateTime stamp,
        int limit, CancellationToken cancellationToken) =>
        Level(await connection.QueryAsync<LevelRow>(DeleteLevelSql, new
        {
            parents = PgArray.Of(parents.Select(parent => parent.Id)), after = PgArray.Of(parents.Select(parent => parent.After)),
            projectId, stamp, limit, cancellationToken,
        }, transaction));

    /// <summary>One level of a restore cascade (a <see cref="Execution.GraphWalks"/> kind).</summary>
    public static async Task<Lifecycle.LevelResult> RestoreLevelAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<Lifecycle.WalkParent> parents, Guid projectId, DateTime stamp,
        int limit, bool takenDedupeKeysStay, CancellationToken cancellationToken) =>
        Level(await connection.QueryAsync<LevelRow>(RestoreLevelSql, new
        {
            parents = PgArray.Of(parents.Select(parent => parent.Id)), after = PgArray.Of(parents.Select(parent => parent.After)),
            projectId, stamp, limit, takenDedupeKeysStay, cancellationToken,
        }, transaction));

    private static Lifecycle.LevelResult Level(IEnumerable<LevelRow> rows)
    {
        var result = new Lifecycle.LevelResult(0, null, []);
        foreach (var row in rows)
        {
            result = result with { Locked = row.Locked, Last = row.Last };
            if (row.Id is { } id)
                result.Doomed.Add(new Lifecycle.EndedTask(id, row.Kind!));
        }
        return result;
    }

    /// <summary>Edges into the given tasks from parents that keep them from coming back: deleted, or in another project.</summary>
    public static async Task<List<TaskEdge>> BlockingParentsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] ids, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<TaskEdge>(BlockingParentEdgesSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction)).ToList();
}
