using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;

namespace TaskRunner.Infrastructure.Configuration;

/// <summary>Limits and cross-origin rules of the HTTP surface. Section <c>Http</c>.</summary>
public sealed class HttpOptions : IValidatableObject
{
    public const string Section = "Http";
    public const string XForwardedFor = "X-Forwarded-For";
    public const string ForwardedRfc7239 = "Forwarded";

    /// <summary>Largest request body accepted; larger ones get 413.</summary>
    [Range(1024, 1024L * 1024 * 1024, ErrorMessage = "must be between 1024 and 1073741824")]
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Origins allowed to call the API from a browser. Empty (the default) leaves CORS off.</summary>
    public string[] CorsAllowedOrigins { get; set; } = [];

    /// <summary>
    /// Proxies (addresses or CIDR networks) whose forwarding header names the client. Empty (the default): forwarding
    /// headers are ignored and the client is the socket peer.
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];

    /// <summary>The header trusted proxies write: <c>X-Forwarded-For</c> (the default) or <c>Forwarded</c> (RFC 7239).</summary>
    public string ForwardedHeader { get; set; } = XForwardedFor;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var proxy in TrustedProxies)
        {
            if (!TryParseNetwork(proxy, out _))
                yield return new ValidationResult($"'{proxy}' is not an IP address or a CIDR network (10.0.0.0/8)", [nameof(TrustedProxies)]);
        }
        if (!string.Equals(ForwardedHeader, XForwardedFor, StringComparison.OrdinalIgnoreCase)
            && !string.Equals(ForwardedHeader, ForwardedRfc7239, StringComparison.OrdinalIgnoreCase))
            yield return new ValidationResult($"must be {XForwardedFor} or {ForwardedRfc7239}", [nameof(ForwardedHeader)]);
    }

    /// <summary>A CIDR network, or one address as a network of itself.</summary>
    public static bool TryParseNetwork(string? text, out IPNetwork network)
    {
        network = default;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        if (IPNetwork.TryParse(text.Trim(), out network))
            return true;
        if (!IPAddress.TryParse(text.Trim(), out var address))
            return false;
        network = new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
        return true;
    }
}

[OptionsValidator]
public sealed partial class HttpOptionsValidator : IValidateOptions<HttpOptions>;
