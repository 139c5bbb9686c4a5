using System.Globalization;
using Microsoft.AspNetCore.OpenApi;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// Endpoint metadata: the operation is deprecated from <see cref="Since"/> and may be removed from <see cref="Sunset"/> on;
/// <see cref="Link"/> documents the deprecation (what to use instead). Set with
/// <see cref="DeprecationHeaders.Deprecated{TBuilder}"/>; docs/versioning.md is the policy.
/// </summary>
public sealed record DeprecatedEndpoint(DateTimeOffset Since, DateTimeOffset Sunset, string Link);

/// <summary>
/// Deprecated operations tell every caller so on every response: <c>Deprecation</c> (RFC 9745, the date as
/// <c>@unix-seconds</c>), <c>Sunset</c> (RFC 8594, an HTTP date) and <c>Link: &lt;…&gt;; rel="deprecation"</c>; the OpenAPI
/// document marks them <c>deprecated: true</c> with the dates in the description.
/// </summary>
public static class DeprecationHeaders
{
    /// <summary>docs/versioning.md: a deprecated operation keeps working for at least this long.</summary>
    public static readonly TimeSpan MinimumNotice = TimeSpan.FromDays(180);

    /// <summary>Where the reference shows every operation, deprecated ones marked: the default documentation link.</summary>
    public const string ReferenceLink = "/api/docs";

    /// <summary>
    /// Marks the endpoint deprecated from <paramref name="since"/> until <paramref name="sunset"/> (dates as
    /// <c>yyyy-MM-dd</c>, UTC midnight). A sunset closer than <see cref="MinimumNotice"/> is a programming error.
    /// </summary>
    public static TBuilder Deprecated<TBuilder>(this TBuilder builder, string since, string sunset, string link = ReferenceLink)
        where TBuilder : IEndpointConventionBuilder
    {
        var from = Date(since);
        var until = Date(sunset);
        if (until - from < MinimumNotice)
            throw new ArgumentException($"a deprecated operation lives at least {MinimumNotice.TotalDays} days (docs/versioning.md): {since} → {sunset}", nameof(sunset));
        return builder.WithMetadata(new DeprecatedEndpoint(from, until, link));
    }

    /// <summary>Adds the headers to the answers of deprecated endpoints (read when the answer starts, whichever routing chose it).</summary>
    public static IApplicationBuilder UseDeprecationHeaders(this IApplicationBuilder app) => app.Use(static (context, next) =>
    {
        context.Response.OnStarting(static state =>
        {
            var http = (HttpContext)state;
            if (http.GetEndpoint()?.Metadata.GetMetadata<DeprecatedEndpoint>() is { } deprecated)
            {
                http.Response.Headers["Deprecation"] = "@" + deprecated.Since.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
                http.Response.Headers["Sunset"] = deprecated.Sunset.ToString("R", CultureInfo.InvariantCulture);
                http.Response.Headers.Append("Link", $"<{deprecated.Link}>; rel=\"deprecation\"; type=\"text/html\"");
            }
            return Task.CompletedTask;
        }, context);
        return next(context);
    });

    /// <summary>Deprecated operations say so in the OpenAPI document, with their dates.</summary>
    public static OpenApiOptions AddDeprecations(this OpenApiOptions options) => options.AddOperationTransformer((operation, context, _) =>
    {
        if (context.Description.ActionDescriptor.EndpointMetadata.OfType<DeprecatedEndpoint>().LastOrDefault() is not { } deprecated)
            return Task.CompletedTask;
        operation.Deprecated = true;
        var notice = $"**Deprecated** since {deprecated.Since:yyyy-MM-dd}; it may be removed from {deprecated.Sunset:yyyy-MM-dd} on (the "
            + $"`Deprecation` and `Sunset` response headers say the same, and `Link` rel=\"deprecation\" points to {deprecated.Link}).";
        operation.Description = string.IsNullOrEmpty(operation.Description) ? notice : notice + "\n\n" + operation.Description;
        return Task.CompletedTask;
    });

    private static DateTimeOffset Date(string value) =>
        DateTimeOffset.ParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
