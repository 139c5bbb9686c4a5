using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Limits and policies of the task write model. Section <c>Tasks</c>.</summary>
public sealed class TasksOptions : IValidatableObject
{
    public const string Section = "Tasks";

    /// <summary>
    /// Whether action URLs may point at loopback, private, link-local or otherwise internal addresses. Off (the production
    /// default) keeps the service from being used to reach its own network; local development and tests switch it on.
    /// </summary>
    public bool AllowPrivateActionDestinations { get; set; }

    /// <summary>
    /// The only ports action URLs may use, comma-separated (<c>443,8443</c>), checked when an action is saved and again at
    /// connect time. Empty (the default): any port.
    /// </summary>
    public string AllowedActionPorts { get; set; } = "";

    /// <summary>Where actions may send, as one policy; valid after startup validation.</summary>
    public DestinationPolicy ActionDestinations() => new(AllowPrivateActionDestinations, ParsePorts(AllowedActionPorts) ?? []);

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

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (ParsePorts(AllowedActionPorts) is null)
            yield return new ValidationResult("must be empty (any port) or a comma-separated list of ports from 1 to 65535",
                [nameof(AllowedActionPorts)]);
    }

    /// <summary>The ports of a comma-separated list; empty for an empty list, null when an entry is not a port.</summary>
    public static int[]? ParsePorts(string? ports)
    {
        if (string.IsNullOrWhiteSpace(ports))
            return [];
        var parts = ports.Split(',', StringSplitOptions.TrimEntries);
        var parsed = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out parsed[i]) || parsed[i] is < 1 or > 65_535)
                return null;
        return parsed;
    }
}

[OptionsValidator]
public sealed partial class TasksOptionsValidator : IValidateOptions<TasksOptions>;
