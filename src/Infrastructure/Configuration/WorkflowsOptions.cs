using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Limits of workflow definitions and runs. Section <c>Workflows</c>.</summary>
public sealed class WorkflowsOptions
{
    public const string Section = "Workflows";

    /// <summary>The largest definition body (YAML or JSON) accepted; a larger one is refused with 413 before it is parsed.</summary>
    [Range(1024, 16 * 1024 * 1024, ErrorMessage = "must be between 1024 and 16777216")]
    public int MaxDefinitionBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Most nodes a definition may hold once every YAML alias is expanded: a document of nested aliases ("billion laughs")
    /// is refused after counting, before anything is copied.
    /// </summary>
    [Range(100, 10_000_000, ErrorMessage = "must be between 100 and 10000000")]
    public int MaxDocumentNodes { get; set; } = 200_000;

    /// <summary>Most copies one for_each task makes in a run (the run as a whole stays within Tasks:MaxBulkItems).</summary>
    [Range(1, 10_000, ErrorMessage = "must be between 1 and 10000")]
    public int MaxFanOut { get; set; } = 1000;
}

[OptionsValidator]
public sealed partial class WorkflowsOptionsValidator : IValidateOptions<WorkflowsOptions>;
