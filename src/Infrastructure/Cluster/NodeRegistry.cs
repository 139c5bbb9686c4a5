using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Observability;

namespace TaskRunner.Infrastructure.Cluster;

/// <summary>This process as a node of the cluster: a new id every start, so a restarted node is a new row.</summary>
public sealed class NodeIdentity
{
    public Guid Id { get; } = Ids.New();

    /// <summary>The host and process, which is what an operator looks for; two nodes on one host differ by process id.</summary>
    public string Name { get; } = $"{Environment.MachineName}/{Environment.ProcessId}";

    public string Version { get; } = ServiceVersion.Current;

    public DateTime StartedAt { get; } = DateTime.UtcNow;
}

/// <summary>The <c>nodes</c> table: heartbeats, who reports itself leader, clean stops, and forgetting long-dead nodes.</summary>
public sealed class NodeRegistry(NpgsqlDataSource dataSource, NodeIdentity node, IOptions<ClusterOptions> options)
{
    private const string HeartbeatSql = """
        INSERT INTO nodes (id, name, version, started_at)
        VALUES (@id, @name, @version, @startedAt)
        ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now(), stopped_at = NULL
        """;

    private const string ForgetSql = """
        DELETE FROM nodes WHERE last_heartbeat_at < now() - make_interval(hours => @hours) AND leader_since IS NULL
        """;

    // A dead leader's row keeps leader_since until the next leader clears it here, before it claims the mark.
    private const string ClearOtherLeadersSql = """
        UPDATE nodes SET leader_since = NULL WHERE leader_since IS NOT NULL AND id <> @id
        """;

    private const string MarkLeaderSql = """
        INSERT INTO nodes (id, name, version, started_at, leader_since)
        VALUES (@id, @name, @version, @startedAt, now())
        ON CONFLICT (id) DO UPDATE SET leader_since = coalesce(nodes.leader_since, now()), last_heartbeat_at = now(), stopped_at = NULL
        """;

    private const string StepDownSql = "UPDATE nodes SET leader_since = NULL WHERE id = @id";

    private const string StopSql = "UPDATE nodes SET stopped_at = now(), leader_since = NULL WHERE id = @id";

    public async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(HeartbeatSql,
            new { id = node.Id, name = node.Name, version = node.Version, startedAt = node.StartedAt, cancellationToken });
        await connection.ExecuteAsync(ForgetSql, new { hours = options.Value.ForgetNodesAfterHours, cancellationToken });
    }

    /// <summary>Records that this node leads; called by the holder of the leader lock only.</summary>
    public Task MarkLeaderAsync(CancellationToken cancellationToken) =>
        dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            await connection.ExecuteAsync(ClearOtherLeadersSql, new { id = node.Id, cancellationToken }, transaction);
            return await connection.ExecuteAsync(MarkLeaderSql,
                new { id = node.Id, name = node.Name, version = node.Version, startedAt = node.StartedAt, cancellationToken }, transaction);
        }, cancellationToken);

    public async Task StepDownAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(StepDownSql, new { id = node.Id, cancellationToken });
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(StopSql, new { id = node.Id, cancellationToken });
    }
}

/// <summary>Every node: a heartbeat every <see cref="ClusterOptions.HeartbeatSeconds"/>, and a clean-stop mark on shutdown.</summary>
public sealed partial class NodeHeartbeat(
    NodeRegistry registry, BackgroundFailures failures, IOptions<ClusterOptions> options, ILogger<NodeHeartbeat> logger)
    : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        failures.RunPeriodicallyAsync("node-heartbeat", TimeSpan.FromSeconds(options.Value.HeartbeatSeconds), registry.HeartbeatAsync, stoppingToken);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            // Best effort: a node that cannot say goodbye is reported stale once its heartbeats stop. The pool can already be
            // disposed when a test host is stopped twice at once (dotnet/aspnetcore#40271).
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            await registry.StopAsync(timeout.Token);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException or ObjectDisposedException)
        {
            LogGoodbyeFailed(logger, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not mark this node stopped in the registry: {reason}")]
    private static partial void LogGoodbyeFailed(ILogger logger, string reason);
}
