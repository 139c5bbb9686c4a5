using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>How long soft-deleted projects stay restorable and how they are purged. Section <c>Projects</c>.</summary>
public sealed class ProjectsOptions
{
    public const string Section = "Projects";

    /// <summary>Projects deleted longer ago than this many days are removed for good, with their tasks and members.</summary>
    [Range(1, 36_500, ErrorMessage = "must be between 1 and 36500")]
    public int RetentionDays { get; set; } = 30;

    /// <summary>Projects removed per statement: small batches keep locks, WAL bursts and replica lag short.</summary>
    [Range(1, 10_000, ErrorMessage = "must be between 1 and 10000")]
    public int RetentionBatchSize { get; set; } = 500;

    /// <summary>Minutes between two purge sweeps on each node.</summary>
    [Range(1, 10_080, ErrorMessage = "must be between 1 and 10080")]
    public int RetentionSweepMinutes { get; set; } = 60;
}

[OptionsValidator]
public sealed partial class ProjectsOptionsValidator : IValidateOptions<ProjectsOptions>;
