using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.RealTime;

public sealed record OnlineUserResponse(Guid UserId, string DisplayName);

public sealed record TaskViewersResponse(Guid TaskId, IReadOnlyList<Guid> UserIds);

public sealed record ProjectPresenceResponse(IReadOnlyList<OnlineUserResponse> Online, IReadOnlyList<TaskViewersResponse> Viewers);

/// <summary>
/// GET /projects/{id}/presence: the project's members holding a socket on any live node, and who views which of its
/// tasks, for anyone who may read the project (otherwise 404). Presence of a node that died counts until it is reaped.
/// </summary>
public static class GetProjectPresence
{
    private const string LiveRow = " NOT coalesce(" + Presence.DeadNode + ", false)";

    private const string OnlineSql = """
        SELECT u.id AS user_id, u.display_name
        FROM project_members m JOIN users u ON u.id = m.user_id
        WHERE m.project_id = @id AND EXISTS (
            SELECT FROM presence p LEFT JOIN nodes n ON n.id = p.node_id
            WHERE p.user_id = m.user_id AND
        """ + LiveRow + """
        )
        ORDER BY u.display_name, u.id
        """;

    private const string ViewersSql = """
        SELECT DISTINCT p.task_id, p.user_id
        FROM presence p LEFT JOIN nodes n ON n.id = p.node_id
        WHERE p.project_id = @id AND
        """ + LiveRow + """

        ORDER BY p.task_id, p.user_id
        """;

    internal sealed record OnlineRow(Guid UserId, string DisplayName);

    internal sealed record ViewerRow(Guid TaskId, Guid UserId);

    public static async Task<Results<Ok<ProjectPresenceResponse>, ProblemHttpResult>> Handle(
        Guid id, Caller caller, NpgsqlDataSource dataSource, IOptions<RealTimeOptions> options, CancellationToken cancellationToken)
    {
        var access = ProjectAccess.Bind(caller, ProjectRoles.Viewer);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (!await connection.ExecuteScalarAsync<bool>(ProjectAccess.LiveProjectReadableSql,
                access.On(id, cancellationToken)))
            return Problems.NotFound("No such project.");

        var nodeTimeoutSeconds = options.Value.PresenceNodeTimeoutSeconds;
        var online = await connection.QueryAsync<OnlineRow>(OnlineSql, new { id, nodeTimeoutSeconds, cancellationToken });
        var viewers = await connection.QueryAsync<ViewerRow>(ViewersSql, new { id, nodeTimeoutSeconds, cancellationToken });
        return TypedResults.Ok(new ProjectPresenceResponse(
            [.. online.Select(row => new OnlineUserResponse(row.UserId, row.DisplayName))],
            [.. viewers.GroupBy(row => row.TaskId).Select(task => new TaskViewersResponse(task.Key, [.. task.Select(row => row.UserId)]))]));
    }
}
