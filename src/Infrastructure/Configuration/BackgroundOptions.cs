using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>How background loops (dispatcher, sweeper, scheduler, delivery, retention, listeners) survive failures. Section <c>Background</c>.</summary>
public sealed class BackgroundOptions
{
    public const string Section = "Background";

    /// <summary>The wait after a loop's first failed iteration; it doubles with every further failure in a row.</summary>
    [Range(10, 60_000, ErrorMessage = "must be between 10 and 60000")]
    public int FailureBackoffMilliseconds { get; set; } = 1000;

    /// <summary>The longest wait between two failed iterations of a loop; the first success resets it.</summary>
    [Range(1, 3600, ErrorMessage = "must be between 1 and 3600")]
    public int MaxFailureBackoffSeconds { get; set; } = 10;
}

[OptionsValidator]
public sealed partial class BackgroundOptionsValidator : IValidateOptions<BackgroundOptions>;
