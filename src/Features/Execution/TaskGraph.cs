using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Features.Execution;

public sealed record GraphNodeResponse(Guid Id, string Title, string Kind, string Status, string? CancelReason);

public sealed record GraphEdgeResponse(Guid ParentId, Guid ChildId, string Require);

/// <summary>
/// A task's neighbourhood: every ancestor and descendant (at most <see cref="TaskGraph.MaxNodes"/> each, <c>truncated</c>
/// when there were more) and the edges between all of them.
/// </summary>
public sealed record TaskGraphResponse(
    Guid TaskId, IReadOnlyList<GraphNodeResponse> Ancestors, IReadOnlyList<GraphNodeResponse> Descendants,
    IReadOnlyList<GraphEdgeResponse> Edges, bool Truncated);

/// <summary>
/// GET /tasks/{id}/graph. Recursive CTEs over task_dependencies (its primary key upwards, task_dependencies_parent_idx
/// downwards); UNION without a depth column visits each task once, so diamonds do not multiply paths, and the LIMIT stops
/// the recursion as soon as enough tasks were found. Live dependencies never cross projects (migration 13), but a deleted
/// task may have stayed behind when its neighbour moved: every node shown is one the caller may read, and the edges are
/// those between the nodes shown.
/// </summary>
public static class TaskGraph
{
    public const int MaxNodes = 1000;

    private const string RootSql = """
        SELECT t.id FROM tasks t
        WHERE t.id = @id AND t.deleted_at IS NULL
          AND
        """ + ProjectAccess.OnTaskRow;

    private const string AncestorsSql = """
        WITH RECURSIVE ancestors (id) AS (
            SELECT d.parent_id FROM task_dependencies d WHERE d.child_id = @id
            UNION
            SELECT d.parent_id FROM ancestors a JOIN task_dependencies d ON d.child_id = a.id
        )
        SELECT t.id, t.title, t.kind, t.status, t.cancel_reason
        FROM (SELECT id FROM ancestors LIMIT @limit) a JOIN tasks t ON t.id = a.id
        WHERE
        """ + ProjectAccess.OnTaskRow + """

        ORDER BY t.created_at, t.id
        """;

    private const string DescendantsSql = """
        WITH RECURSIVE descendants (id) AS (
            SELECT d.child_id FROM task_dependencies d WHERE d.parent_id = @id
            UNION
            SELECT d.child_id FROM descendants x JOIN task_dependencies d ON d.parent_id = x.id
        )
        SELECT t.id, t.title, t.kind, t.status, t.cancel_reason
        FROM (SELECT id FROM descendants LIMIT @limit) x JOIN tasks t ON t.id = x.id
        WHERE
        """ + ProjectAccess.OnTaskRow + """

        ORDER BY t.created_at, t.id
        """;

    private const string EdgesSql = """
        SELECT parent_id, child_id, require FROM task_dependencies
        WHERE child_id = ANY (@ids::uuid[]) AND parent_id = ANY (@ids::uuid[])
        ORDER BY parent_id, child_id
        """;

    internal sealed record NodeRow(Guid Id, string Title, string Kind, string Status, string? CancelReason);

    internal sealed record EdgeRow(Guid ParentId, Guid ChildId, string Require);

    public static async Task<Results<Ok<TaskGraphResponse>, ProblemHttpResult>> Handle(
        Guid id, Caller caller, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // One snapshot for the three reads, so edges and nodes agree.
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        var root = await connection.QuerySingleOrDefaultAsync<Guid?>(RootSql, access.On(id, cancellationToken), transaction);
        if (root is null)
            return Problems.NotFound("No such task.");

        var limit = MaxNodes + 1;
        var ancestors = (await connection.QueryAsync<NodeRow>(AncestorsSql,
            new { id, limit, access.CallerId, access.CallerIsAdmin, access.CallerCanWrite, access.RequiredRank, cancellationToken }, transaction)).ToList();
        var descendants = (await connection.QueryAsync<NodeRow>(DescendantsSql,
            new { id, limit, access.CallerId, access.CallerIsAdmin, access.CallerCanWrite, access.RequiredRank, cancellationToken }, transaction)).ToList();
        var truncated = ancestors.Count > MaxNodes || descendants.Count > MaxNodes;
        ancestors = ancestors.Take(MaxNodes).ToList();
        descendants = descendants.Take(MaxNodes).ToList();
        var ids = ancestors.Concat(descendants).Select(node => node.Id).Append(id).ToArray();
        var edges = (await connection.QueryAsync<EdgeRow>(EdgesSql, new { ids = PgArray.Of(ids), cancellationToken }, transaction)).ToList();
        await transaction.CommitAsync(cancellationToken);

        return TypedResults.Ok(new TaskGraphResponse(id,
            ancestors.Select(Node).ToList(),
            descendants.Select(Node).ToList(),
            edges.Select(edge => new GraphEdgeResponse(edge.ParentId, edge.ChildId, edge.Require)).ToList(),
            truncated));
    }

    private static GraphNodeResponse Node(NodeRow row) => new(row.Id, row.Title, row.Kind, row.Status, row.CancelReason);
}
