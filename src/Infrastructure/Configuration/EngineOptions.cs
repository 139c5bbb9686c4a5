using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>How the lifecycle engine retries failed tasks, dispatches pushed tasks and sweeps running ones. Section <c>Engine</c>.</summary>
public sealed class EngineOptions
{
    public const string Section = "Engine";

    /// <summary>The first retry waits about this long; each further attempt doubles it (with jitter), up to <see cref="RetryMaxSeconds"/>.</summary>
    [Range(1, 86_400, ErrorMessage = "must be between 1 and 86400")]
    public int RetryBaseSeconds { get; set; } = 10;

    /// <summary>The longest a retry ever waits.</summary>
    [Range(1, 604_800, ErrorMessage = "must be between 1 and 604800")]
    public int RetryMaxSeconds { get; set; } = 3600;

    /// <summary>
    /// The longest the leader's dispatcher sleeps between two looks at the ready tasks with a start action. It also wakes
    /// on the ready-task notification and at the next due scheduled_at; a concurrency slot freed by a task's end (which
    /// notifies nobody) is used within this long.
    /// </summary>
    [Range(1, 60, ErrorMessage = "must be between 1 and 60")]
    public int DispatchPollSeconds { get; set; } = 2;

    /// <summary>Tasks one dispatch transaction starts at most; a fuller queue continues at once in the next transaction.</summary>
    [Range(1, 1000, ErrorMessage = "must be between 1 and 1000")]
    public int DispatchBatchSize { get; set; } = 100;

    /// <summary>
    /// The lease of a pushed task without timeout_seconds (one with a timeout holds its lease for the timeout): if neither a
    /// report nor a heartbeat comes within it, the sweeper takes the task back and it is pushed again while retries last.
    /// </summary>
    [Range(5, 86_400, ErrorMessage = "must be between 5 and 86400")]
    public int PushLeaseSeconds { get; set; } = 3600;

    /// <summary>Seconds between two sweeps of the leader over passed timeouts and expired leases.</summary>
    [Range(1, 300, ErrorMessage = "must be between 1 and 300")]
    public int SweepIntervalSeconds { get; set; } = 2;

    /// <summary>Tasks one sweep transaction ends at most; a longer backlog continues in the next transaction of the same sweep.</summary>
    [Range(1, 1000, ErrorMessage = "must be between 1 and 1000")]
    public int SweepBatchSize { get; set; } = 100;

    /// <summary>
    /// Tasks one transaction of a graph walk (failure and cancel propagation) locks at most. A walk that stays within it runs
    /// in the transaction of the change that caused it; a larger one continues in further transactions of at most this many
    /// tasks each, before the request answers, its frontier kept in the database.
    /// </summary>
    [Range(1, 100_000, ErrorMessage = "must be between 1 and 100000")]
    public int GraphWalkBatchSize { get; set; } = 1000;

    /// <summary>
    /// A walk whose process stopped continuing it (a crash) for this long is resumed by the leader's sweeper; each batch
    /// pushes the moment forward.
    /// </summary>
    [Range(1, 3600, ErrorMessage = "must be between 1 and 3600")]
    public int GraphWalkResumeSeconds { get; set; } = 30;
}

[OptionsValidator]
public sealed partial class EngineOptionsValidator : IValidateOptions<EngineOptions>;
