using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Limits and cross-origin rules of the HTTP surface. Section <c>Http</c>.</summary>
public sealed class HttpOptions
{
    public const string Section = "Http";

    /// <summary>Largest request body accepted; larger ones get 413.</summary>
    [Range(1024, 1024L * 1024 * 1024, ErrorMessage = "must be between 1024 and 1073741824")]
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Origins allowed to call the API from a browser. Empty (the default) leaves CORS off.</summary>
    public string[] CorsAllowedOrigins { get; set; } = [];
}

[OptionsValidator]
public sealed partial class HttpOptionsValidator : IValidateOptions<HttpOptions>;
