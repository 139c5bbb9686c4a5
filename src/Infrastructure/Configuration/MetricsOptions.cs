using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Bounds on what /metrics and per-destination state may grow to. Section <c>Metrics</c>.</summary>
public sealed class MetricsOptions
{
    public const string Section = "Metrics";

    /// <summary>
    /// Distinct values one label (<c>kind</c>, <c>host</c>, <c>authority</c>) reports per node: the first this many seen
    /// are reported as themselves, every later one as <c>other</c>, so clients inventing kinds or destinations cannot
    /// grow /metrics without bound.
    /// </summary>
    [Range(1, 10_000, ErrorMessage = "must be between 1 and 10000")]
    public int MaxLabelValues { get; set; } = 100;

    /// <summary>A destination's circuit (and its state series) is forgotten after this long without a delivery to it.</summary>
    [Range(1, 10_080, ErrorMessage = "must be between 1 and 10080")]
    public int IdleDestinationMinutes { get; set; } = 60;
}

[OptionsValidator]
public sealed partial class MetricsOptionsValidator : IValidateOptions<MetricsOptions>;
