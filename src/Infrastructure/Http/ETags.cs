using System.Globalization;
using Microsoft.Net.Http.Headers;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// Strong entity tags of single resources, derived from the row's <c>version</c> column (bumped by a trigger on every
/// change), and the conditional headers that use them: <c>If-None-Match</c> on reads, <c>If-Match</c> on writes.
/// </summary>
public static class ETags
{
    public static string Of(long version) => "\"" + version.ToString(CultureInfo.InvariantCulture) + "\"";

    /// <summary>Sets <c>ETag</c> and the revalidation policy on a single resource's response.</summary>
    public static void Set(HttpContext http, long version)
    {
        http.Response.Headers.ETag = Of(version);
        http.Response.Headers.CacheControl = "private, no-cache";
    }

    /// <summary>True when the request's <c>If-None-Match</c> names the current version (or is <c>*</c>): answer 304.</summary>
    public static bool IsNotModified(HttpRequest request, long version) => IsNotModified(request, Of(version));

    /// <summary>True when the request's <c>If-None-Match</c> names <paramref name="tag"/> (quoted, weak or not) or is <c>*</c>.</summary>
    public static bool IsNotModified(HttpRequest request, string tag)
    {
        var header = request.Headers.IfNoneMatch;
        if (header.Count == 0)
            return false;
        // If-None-Match uses the weak comparison: W/"3" matches "3".
        return EntityTagHeaderValue.TryParseList(header, out var tags)
            && tags.Any(candidate => candidate.Equals(EntityTagHeaderValue.Any) || candidate.Tag == tag);
    }

    /// <summary>
    /// The versions an <c>If-Match</c> header accepts, for an atomic <c>WHERE version = ANY(@versions)</c>: null when the
    /// header is absent or <c>*</c> (any version); an empty array when it names no strong tag of ours (nothing matches).
    /// </summary>
    public static long[]? IfMatchVersions(HttpRequest request)
    {
        var header = request.Headers.IfMatch;
        if (header.Count == 0)
            return null;
        if (!EntityTagHeaderValue.TryParseList(header, out var tags))
            return [];
        if (tags.Any(tag => tag.Equals(EntityTagHeaderValue.Any)))
            return null;
        // If-Match uses the strong comparison: a weak tag never matches.
        return tags
            .Where(tag => !tag.IsWeak)
            .Select(tag => long.TryParse(tag.Tag.AsSpan().Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var version)
                ? version
                : -1)
            .Where(version => version > 0)
            .ToArray();
    }

    /// <summary>The 412 answer when <c>If-Match</c> named another version than the current one.</summary>
    public static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult PreconditionFailed() => TypedResults.Problem(
        new Microsoft.AspNetCore.Mvc.ProblemDetails
        {
            Status = StatusCodes.Status412PreconditionFailed,
            Title = "Precondition Failed",
            Detail = "The resource changed since you read it (If-Match did not match its ETag); read it again and retry.",
        });
}
