using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>The WebSocket endpoint's tickets and limits (docs/realtime.md). Section <c>RealTime</c>.</summary>
public sealed class RealTimeOptions
{
    public const string Section = "RealTime";

    /// <summary>How long a ticket from <c>POST /api/v1/ws/ticket</c> may wait before it opens a socket.</summary>
    [Range(1, 300, ErrorMessage = "must be between 1 and 300")]
    public int TicketSeconds { get; set; } = 30;

    /// <summary>Messages waiting to be sent to one socket; a client that lets more pile up gets <c>overflow</c> and is closed.</summary>
    [Range(1, 1_000_000, ErrorMessage = "must be between 1 and 1000000")]
    public int MaxQueuedMessages { get; set; } = 1000;

    /// <summary>Bytes waiting to be sent to one socket, the same rule by size.</summary>
    [Range(1024, 1024L * 1024 * 1024, ErrorMessage = "must be between 1024 and 1073741824")]
    public long MaxQueuedBytes { get; set; } = 1024 * 1024;

    /// <summary>Largest message a client may send; a larger one closes the socket with 1009.</summary>
    [Range(128, 1024 * 1024, ErrorMessage = "must be between 128 and 1048576")]
    public int MaxInboundMessageBytes { get; set; } = 4096;

    /// <summary>Subscriptions one socket may hold at once.</summary>
    [Range(1, 100_000, ErrorMessage = "must be between 1 and 100000")]
    public int MaxSubscriptionsPerSocket { get; set; } = 100;

    /// <summary>Sockets one user may hold open on one node; another one is refused with 429.</summary>
    [Range(1, 1_000_000, ErrorMessage = "must be between 1 and 1000000")]
    public int MaxSocketsPerUser { get; set; } = 20;

    /// <summary>Client messages per second a socket may send on average; past <see cref="InboundBurst"/> it is closed with 4429.</summary>
    [Range(1, 100_000, ErrorMessage = "must be between 1 and 100000")]
    public int InboundMessagesPerSecond { get; set; } = 10;

    /// <summary>Client messages a socket may send at once, above the average rate.</summary>
    [Range(1, 100_000, ErrorMessage = "must be between 1 and 100000")]
    public int InboundBurst { get; set; } = 50;

    /// <summary>Seconds between the server's pings.</summary>
    [Range(1, 3600, ErrorMessage = "must be between 1 and 3600")]
    public int PingSeconds { get; set; } = 30;

    /// <summary>Seconds a client may take to answer a ping before its socket is dropped as dead.</summary>
    [Range(1, 3600, ErrorMessage = "must be between 1 and 3600")]
    public int IdleTimeoutSeconds { get; set; } = 60;

    /// <summary>Seconds a socket being closed by the server gets to finish the closing handshake before it is dropped.</summary>
    [Range(1, 60, ErrorMessage = "must be between 1 and 60")]
    public int CloseTimeoutSeconds { get; set; } = 5;

    /// <summary>
    /// Seconds after a node's last heartbeat (<c>Cluster:HeartbeatSeconds</c>) before its sockets' presence is removed by
    /// another node, which announces the users gone offline and the viewers left; keep it a few heartbeats long.
    /// </summary>
    [Range(2, 3600, ErrorMessage = "must be between 2 and 3600")]
    public int PresenceNodeTimeoutSeconds { get; set; } = 20;

    /// <summary>Seconds between two looks of each node for the presence of dead nodes.</summary>
    [Range(1, 3600, ErrorMessage = "must be between 1 and 3600")]
    public int PresenceReapSeconds { get; set; } = 5;
}

[OptionsValidator]
public sealed partial class RealTimeOptionsValidator : IValidateOptions<RealTimeOptions>;
