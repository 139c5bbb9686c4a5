using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Whether this node writes the event log (real-time events), how long it is kept and how it is purged. Section <c>Events</c>.</summary>
public sealed class EventsOptions
{
    public const string Section = "Events";

    /// <summary>
    /// False: the node's changes write no events (its database sessions switch the log's triggers off) and its WebSocket
    /// endpoints answer 404. Set it alike on every node: a node with the log on still writes its own changes' events.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Events older than this many minutes are deleted: a client that reconnects within it resumes without a gap; after
    /// it, it is told to re-read.
    /// </summary>
    [Range(1, 10_080, ErrorMessage = "must be between 1 and 10080")]
    public int RetentionMinutes { get; set; } = 60;

    /// <summary>Rows deleted per statement: small batches keep locks, WAL bursts and replica lag short.</summary>
    [Range(1, 100_000, ErrorMessage = "must be between 1 and 100000")]
    public int RetentionBatchSize { get; set; } = 5000;

    /// <summary>Seconds between two retention sweeps on each node.</summary>
    [Range(1, 3600, ErrorMessage = "must be between 1 and 3600")]
    public int RetentionSweepSeconds { get; set; } = 60;
}

[OptionsValidator]
public sealed partial class EventsOptionsValidator : IValidateOptions<EventsOptions>;
