using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>The node registry and leader election. Section <c>Cluster</c>.</summary>
public sealed class ClusterOptions
{
    public const string Section = "Cluster";

    /// <summary>Seconds between two heartbeats of this node; a node silent for three heartbeats is reported stale.</summary>
    [Range(1, 300, ErrorMessage = "must be between 1 and 300")]
    public int HeartbeatSeconds { get; set; } = 5;

    /// <summary>
    /// Seconds between two attempts to take the leader lock, and between two checks that the leader's lock connection is
    /// alive. A dead leader is replaced within about this long once PostgreSQL has ended its session.
    /// </summary>
    [Range(1, 60, ErrorMessage = "must be between 1 and 60")]
    public int LeaderRetrySeconds { get; set; } = 3;

    /// <summary>Whether this node stands for leader (runs the scheduler and other leader-only work). API-only nodes set false.</summary>
    public bool CanLead { get; set; } = true;

    /// <summary>Rows of nodes silent for this many hours are deleted from the registry.</summary>
    [Range(1, 8760, ErrorMessage = "must be between 1 and 8760")]
    public int ForgetNodesAfterHours { get; set; } = 24;
}

[OptionsValidator]
public sealed partial class ClusterOptionsValidator : IValidateOptions<ClusterOptions>;
