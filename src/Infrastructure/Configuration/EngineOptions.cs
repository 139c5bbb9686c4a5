using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>How the lifecycle engine retries failed tasks. Section <c>Engine</c>.</summary>
public sealed class EngineOptions
{
    public const string Section = "Engine";

    /// <summary>The first retry waits about this long; each further attempt doubles it (with jitter), up to <see cref="RetryMaxSeconds"/>.</summary>
    [Range(1, 86_400, ErrorMessage = "must be between 1 and 86400")]
    public int RetryBaseSeconds { get; set; } = 10;

    /// <summary>The longest a retry ever waits.</summary>
    [Range(1, 604_800, ErrorMessage = "must be between 1 and 604800")]
    public int RetryMaxSeconds { get; set; } = 3600;
}

[OptionsValidator]
public sealed partial class EngineOptionsValidator : IValidateOptions<EngineOptions>;
