using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Features.Cluster;

/// <summary>
/// A service node: <c>status</c> is <c>alive</c> (heartbeat within three intervals), <c>stale</c> (silent longer: dead or
/// cut off) or <c>stopped</c> (shut down cleanly). <c>is_leader</c> marks the live node that holds the leader lock.
/// </summary>
public sealed record NodeResponse(
    Guid Id,
    string Name,
    string Version,
    string Status,
    bool IsLeader,
    DateTime StartedAt,
    DateTime LastHeartbeatAt,
    DateTime? LeaderSince,
    DateTime? StoppedAt);

public sealed record NodesResponse(IReadOnlyList<NodeResponse> Data);

/// <summary>GET /nodes: the registry, live nodes first, newest start first. Admins only (the group's policy).</summary>
public static class ListNodes
{
    public sealed record NodeRow(
        Guid Id, string Name, string Version, string Status, DateTime StartedAt, DateTime LastHeartbeatAt, DateTime? LeaderSince,
        DateTime? StoppedAt)
    {
        public NodeResponse ToResponse() => new(
            Id, Name, Version, Status, Status == "alive" && LeaderSince is not null, StartedAt, LastHeartbeatAt,
            Status == "alive" ? LeaderSince : null, StoppedAt);
    }

    private const string ListSql = """
        SELECT id, name, version,
               CASE WHEN stopped_at IS NOT NULL THEN 'stopped'
                    WHEN last_heartbeat_at >= now() - make_interval(secs => @staleAfterSeconds) THEN 'alive'
                    ELSE 'stale' END AS status,
               started_at, last_heartbeat_at, leader_since, stopped_at
        FROM nodes
        ORDER BY stopped_at IS NOT NULL, last_heartbeat_at < now() - make_interval(secs => @staleAfterSeconds), started_at DESC, id
        """;

    public static async Task<Ok<NodesResponse>> Handle(
        NpgsqlDataSource dataSource, IOptions<ClusterOptions> options, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<NodeRow>(ListSql,
            new { staleAfterSeconds = (double)(3 * options.Value.HeartbeatSeconds), cancellationToken });
        return TypedResults.Ok(new NodesResponse(rows.Select(row => row.ToResponse()).ToList()));
    }
}
