using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Cluster;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Hosting;

namespace TaskRunner.Features.RealTime;

/// <summary>
/// The <c>presence</c> rows (migration 30) of this node's sockets: one per socket, with the task it views. The table's
/// triggers write the online/offline and viewer events; each change here first locks its user (before writing, so the
/// events of one user are decided and ordered in the log one transaction after another, whichever nodes change them).
/// </summary>
public sealed class Presence(NpgsqlDataSource dataSource, NodeIdentity node, IOptions<RealTimeOptions> options)
{
    /// <summary>The first key of the per-user advisory locks ("pres"); the second is <c>hashtext(user_id::text)</c>.</summary>
    private const string LockUserSql = "SELECT pg_advisory_xact_lock(1886545267, hashtext(@userId::text))";

    private const string OpenSql = "INSERT INTO presence (socket_id, node_id, user_id) VALUES (@socketId, @nodeId, @userId)";

    private const string ViewSql = """
        UPDATE presence SET task_id = @taskId::uuid, project_id = @projectId::uuid
        WHERE socket_id = @socketId AND task_id IS DISTINCT FROM @taskId::uuid
        """;

    // Only while the socket still views a task of that project: a later view of another project stays.
    private const string LeaveProjectSql = "UPDATE presence SET task_id = NULL, project_id = NULL WHERE socket_id = @socketId AND project_id = @projectId";

    private const string CloseSql = "DELETE FROM presence WHERE socket_id = @socketId";

    /// <summary>A node is dead once it stopped, or its heartbeat is older than the timeout (a node not yet registered is alive).</summary>
    public const string DeadNode = "(n.stopped_at IS NOT NULL OR n.last_heartbeat_at < now() - make_interval(secs => @nodeTimeoutSeconds))";

    // The users of dead nodes' rows, locked in one order (two reapers wait for each other rather than deadlock).
    private const string LockDeadNodesUsersSql = """
        SELECT k.key
        FROM (SELECT DISTINCT hashtext(p.user_id::text) AS key
              FROM presence p JOIN nodes n ON n.id = p.node_id
              WHERE
        """ + DeadNode + """

              ORDER BY 1) k
        CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock(1886545267, k.key)) l
        """;

    private const string ReapSql = """
        DELETE FROM presence p USING nodes n
        WHERE n.id = p.node_id AND hashtext(p.user_id::text) = ANY (@keys::int[]) AND
        """ + DeadNode;

    public Task OpenAsync(Guid socketId, Guid userId, CancellationToken cancellationToken) =>
        ChangeAsync(userId, (connection, transaction) =>
            connection.ExecuteAsync(OpenSql, new { socketId, nodeId = node.Id, userId }, transaction), cancellationToken);

    /// <summary>The socket views <paramref name="taskId"/> of <paramref name="projectId"/>, or nothing when both are null.</summary>
    public Task ViewAsync(Guid socketId, Guid userId, Guid? taskId, Guid? projectId, CancellationToken cancellationToken) =>
        ChangeAsync(userId, (connection, transaction) =>
            connection.ExecuteAsync(ViewSql, new { socketId, taskId, projectId }, transaction), cancellationToken);

    /// <summary>Its access to <paramref name="projectId"/> ended: the socket stops viewing a task there.</summary>
    public Task LeaveProjectAsync(Guid socketId, Guid userId, Guid projectId, CancellationToken cancellationToken) =>
        ChangeAsync(userId, (connection, transaction) =>
            connection.ExecuteAsync(LeaveProjectSql, new { socketId, projectId }, transaction), cancellationToken);

    public Task CloseAsync(Guid socketId, Guid userId, CancellationToken cancellationToken) =>
        ChangeAsync(userId, (connection, transaction) => connection.ExecuteAsync(CloseSql, new { socketId }, transaction), cancellationToken);

    private Task<int> ChangeAsync(Guid userId, Func<NpgsqlConnection, NpgsqlTransaction, Task<int>> change, CancellationToken cancellationToken) =>
        dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            await connection.ExecuteAsync(LockUserSql, new { userId }, transaction);
            return await change(connection, transaction);
        }, cancellationToken);

    /// <summary>Removes the presence of every dead node (announcing who went offline and stopped viewing); how many rows.</summary>
    public Task<int> ReapDeadNodesAsync(CancellationToken cancellationToken) =>
        dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var nodeTimeoutSeconds = options.Value.PresenceNodeTimeoutSeconds;
            var keys = (await connection.QueryAsync<int>(LockDeadNodesUsersSql, new { nodeTimeoutSeconds }, transaction)).ToList();
            if (keys.Count == 0)
                return 0;
            return await connection.ExecuteAsync(ReapSql, new { keys = PgArray.Of(keys.Select(key => (long)key)), nodeTimeoutSeconds }, transaction);
        }, cancellationToken);
}

/// <summary>Every node, every <see cref="RealTimeOptions.PresenceReapSeconds"/>: removes the presence of nodes that died.</summary>
public sealed class PresenceReaper(Presence presence, BackgroundFailures failures, IOptions<RealTimeOptions> options)
    : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        failures.RunPeriodicallyAsync("presence-reaper", TimeSpan.FromSeconds(options.Value.PresenceReapSeconds),
            presence.ReapDeadNodesAsync, stoppingToken);
}
