using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Limits and policies of the task write model. Section <c>Tasks</c>.</summary>
public sealed class TasksOptions
{
    public const string Section = "Tasks";

    /// <summary>
    /// Whether action URLs may point at loopback, private, link-local or otherwise internal addresses. Off (the production
    /// default) keeps the service from being used to reach its own network; local development and tests switch it on.
    /// </summary>
    public bool AllowPrivateActionDestinations { get; set; }

    /// <summary>Most tasks one bulk request may create, update or delete.</summary>
    [Range(1, 10_000, ErrorMessage = "must be between 1 and 10000")]
    public int MaxBulkItems { get; set; } = 1000;

    /// <summary>The largest body a bulk request may send (a 1,000-task DAG with metadata outgrows the general limit).</summary>
    [Range(1024, 256 * 1024 * 1024, ErrorMessage = "must be between 1024 and 268435456")]
    public long MaxBulkBodyBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Soft-deleted tasks and comments are purged after this many days.</summary>
    [Range(1, 36_500, ErrorMessage = "must be between 1 and 36500")]
    public int RetentionDays { get; set; } = 30;

    /// <summary>Rows purged per statement: small batches keep locks and WAL bursts short.</summary>
    [Range(1, 100_000, ErrorMessage = "must be between 1 and 100000")]
    public int RetentionBatchSize { get; set; } = 500;

    /// <summary>Minutes between two purge sweeps on each node.</summary>
    [Range(1, 10_080, ErrorMessage = "must be between 1 and 10080")]
    public int RetentionSweepMinutes { get; set; } = 60;
}

[OptionsValidator]
public sealed partial class TasksOptionsValidator : IValidateOptions<TasksOptions>;
