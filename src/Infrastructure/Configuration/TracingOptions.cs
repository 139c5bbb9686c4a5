using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>
/// Distributed tracing, exported over OTLP/HTTP (protobuf). Section <c>Tracing</c>. Off unless <see cref="OtlpEndpoint"/>
/// is set: then no span is recorded and nothing is exported, and only the request's trace id is kept for logs.
/// </summary>
public sealed class TracingOptions
{
    public const string Section = "Tracing";

    /// <summary>The collector's base URL (<c>http://otel-collector:4318</c>); spans go to <c>/v1/traces</c> under it.</summary>
    [Url(ErrorMessage = "must be an absolute http or https URL")]
    public string? OtlpEndpoint { get; set; }

    /// <summary>The share of new traces recorded; a trace whose caller sampled (or dropped) it follows the caller's decision.</summary>
    [Range(0.0, 1.0, ErrorMessage = "must be between 0 and 1")]
    public double SampleRatio { get; set; } = 1.0;

    /// <summary>How long finished spans wait to be sent in one batch.</summary>
    [Range(100, 60_000, ErrorMessage = "must be between 100 and 60000")]
    public int ExportDelayMilliseconds { get; set; } = 5_000;

    public bool Enabled => !string.IsNullOrWhiteSpace(OtlpEndpoint);
}

[OptionsValidator]
public sealed partial class TracingOptionsValidator : IValidateOptions<TracingOptions>;
