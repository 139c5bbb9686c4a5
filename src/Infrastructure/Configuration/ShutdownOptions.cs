using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Graceful shutdown timing. Section <c>Shutdown</c>.</summary>
public sealed class ShutdownOptions
{
    public const string Section = "Shutdown";

    /// <summary>
    /// How long the node keeps serving after SIGTERM while reporting not-ready, so load balancers stop sending it traffic
    /// before it stops accepting connections.
    /// </summary>
    [Range(0, 300, ErrorMessage = "must be between 0 and 300")]
    public int DrainDelaySeconds { get; set; } = 5;

    /// <summary>How long in-flight requests and background services get to finish once the drain delay has passed.</summary>
    [Range(1, 600, ErrorMessage = "must be between 1 and 600")]
    public int TimeoutSeconds { get; set; } = 30;
}

[OptionsValidator]
public sealed partial class ShutdownOptionsValidator : IValidateOptions<ShutdownOptions>;
