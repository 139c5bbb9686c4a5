using Dapper;
using Npgsql;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Features.Tasks;

/// <summary>A live edge: <see cref="ParentId"/> has the live child <see cref="ChildId"/>.</summary>
internal sealed record TaskEdge(Guid ParentId, Guid ChildId);

/// <summary>
/// Walks of the dependency graph that deletes and restores need. The invariants they keep: a live task never has a deleted
/// parent (deleting a parent with live children is refused unless they go too; restoring a child needs its parents live),
/// and a live edge never joins two projects (migration 13 enforces it; restoring a child needs its parents in its project).
/// The cascading walks never leave the root's project, so a cascade only ever touches tasks the caller was allowed to change.
/// </summary>
internal static class TaskGraph
{
    private const string LiveChildrenSql = """
        SELECT d.parent_id, d.child_id
        FROM task_dependencies d JOIN tasks c ON c.id = d.child_id
        WHERE d.parent_id = ANY (@ids::uuid[]) AND c.deleted_at IS NULL
        ORDER BY d.parent_id, d.child_id
        """;

    /// <summary>Every live task below the roots, locked; the walk follows task_dependencies_parent_idx.</summary>
    private const string LockLiveDescendantsSql = """
        WITH RECURSIVE descendants (id, project_id) AS (
            SELECT d.child_id, c.project_id
            FROM task_dependencies d JOIN tasks c ON c.id = d.child_id JOIN tasks p ON p.id = d.parent_id
            WHERE d.parent_id = ANY (@ids::uuid[]) AND c.deleted_at IS NULL AND c.project_id = p.project_id
            UNION
            SELECT d.child_id, c.project_id
            FROM descendants s
            JOIN task_dependencies d ON d.parent_id = s.id
            JOIN tasks c ON c.id = d.child_id
            WHERE c.deleted_at IS NULL AND c.project_id = s.project_id
        )
        SELECT t.id FROM tasks t WHERE t.id IN (SELECT id FROM descendants) ORDER BY t.id FOR UPDATE OF t
        """;

    /// <summary>The tasks below a root that were deleted at the same instant as it (by the same cascading delete), locked.</summary>
    private const string LockDeletedTogetherSql = """
        WITH RECURSIVE descendants (id, project_id) AS (
            SELECT d.child_id, c.project_id
            FROM task_dependencies d JOIN tasks c ON c.id = d.child_id JOIN tasks p ON p.id = d.parent_id
            WHERE d.parent_id = @id AND c.deleted_at = @deletedAt AND c.project_id = p.project_id
            UNION
            SELECT d.child_id, c.project_id
            FROM descendants s
            JOIN task_dependencies d ON d.parent_id = s.id
            JOIN tasks c ON c.id = d.child_id
            WHERE c.deleted_at = @deletedAt AND c.project_id = s.project_id
        )
        SELECT t.id FROM tasks t WHERE t.id IN (SELECT id FROM descendants) ORDER BY t.id FOR UPDATE OF t
        """;

    // A parent in another project blocks as a deleted one does: restoring the child would make a live edge across projects
    // (the parent moved while the child was deleted).
    private const string BlockingParentEdgesSql = """
        SELECT d.parent_id, d.child_id
        FROM task_dependencies d JOIN tasks p ON p.id = d.parent_id JOIN tasks c ON c.id = d.child_id
        WHERE d.child_id = ANY (@ids::uuid[]) AND (p.deleted_at IS NOT NULL OR p.project_id <> c.project_id)
        ORDER BY d.child_id, d.parent_id
        """;

    public static async Task<List<TaskEdge>> LiveChildrenAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] ids, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<TaskEdge>(LiveChildrenSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction)).ToList();

    public static async Task<List<Guid>> LockLiveDescendantsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] ids, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<Guid>(LockLiveDescendantsSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction)).ToList();

    public static async Task<List<Guid>> LockDeletedTogetherAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, DateTime deletedAt, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<Guid>(LockDeletedTogetherSql, new { id, deletedAt, cancellationToken }, transaction)).ToList();

    /// <summary>Edges into the given tasks from parents that keep them from coming back: deleted, or in another project.</summary>
    public static async Task<List<TaskEdge>> BlockingParentsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] ids, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<TaskEdge>(BlockingParentEdgesSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction)).ToList();
}
