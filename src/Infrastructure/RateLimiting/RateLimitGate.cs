using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Http;

namespace TaskRunner.Infrastructure.RateLimiting;

/// <summary>
/// Rate limits a handler applies itself, for keys only known once the body is read (login: address + email). Same buckets,
/// same store, same headers as the middleware's policies.
/// </summary>
public sealed class RateLimitGate(IRateLimitStore store, RateLimitPolicySet policies, IOptions<RateLimitingOptions> options)
{
    private readonly bool enabled = options.Value.Enabled;

    /// <summary>Takes a token of <paramref name="policy"/> for <paramref name="partitionKey"/>; null while rate limiting is off.</summary>
    public async ValueTask<RateLimitDecision?> TryAcquireAsync(string policy, string partitionKey, CancellationToken cancellationToken)
    {
        if (!enabled)
            return null;
        if (!policies.TryGet(policy, out var bucket))
            throw new ArgumentException($"no rate-limit policy is named '{policy}'", nameof(policy));
        return await store.AcquireAsync(bucket, partitionKey, cancellationToken);
    }

    /// <summary>
    /// A login attempt: one token per client address (<see cref="RateLimitPolicies.LoginIp"/>), then one per address and
    /// email (<see cref="RateLimitPolicies.Login"/>). Adds the headers of both; returns the 429 to answer, or null to go on.
    /// </summary>
    public ValueTask<ProblemHttpResult?> CheckLoginAsync(HttpContext http, string email, CancellationToken cancellationToken)
    {
        var address = ClientAddress(http);
        return CheckAsync(http, [(RateLimitPolicies.LoginIp, address), (RateLimitPolicies.Login, address + " " + email.ToUpperInvariant())], cancellationToken);
    }

    /// <summary>A registration: one token per client address (<see cref="RateLimitPolicies.Register"/>).</summary>
    public ValueTask<ProblemHttpResult?> CheckRegistrationAsync(HttpContext http, CancellationToken cancellationToken) =>
        CheckAsync(http, [(RateLimitPolicies.Register, ClientAddress(http))], cancellationToken);

    private async ValueTask<ProblemHttpResult?> CheckAsync(
        HttpContext http, (string Policy, string PartitionKey)[] buckets, CancellationToken cancellationToken)
    {
        foreach (var (policy, partitionKey) in buckets)
        {
            if (await TryAcquireAsync(policy, partitionKey, cancellationToken) is not { } decision)
                return null;
            RateLimitResponses.AppendHeaders(http.Response, decision);
            if (!decision.Allowed)
                return RateLimitResponses.TooManyRequests(http, decision);
        }
        return null;
    }

    /// <summary>The client's address as the forwarded-headers rules resolved it (see <see cref="ForwardedClientAddress"/>).</summary>
    private static string ClientAddress(HttpContext http) => (http.Connection.RemoteIpAddress ?? IPAddress.Loopback).ToString();
}

/// <summary>
/// The rate-limit fields of draft-ietf-httpapi-ratelimit-headers (the structured-field form of draft 08 and later):
/// <c>RateLimit-Policy: "api";q=120;w=12</c> (burst q, refilled in w seconds) and <c>RateLimit: "api";r=57;t=3</c>
/// (r tokens left, full again in t seconds), one list item per policy applied; a 429 adds <c>Retry-After</c> in seconds.
/// </summary>
public static class RateLimitResponses
{
    public const string PolicyHeader = "RateLimit-Policy";
    public const string StateHeader = "RateLimit";

    public static void AppendHeaders(HttpResponse response, RateLimitDecision decision)
    {
        response.Headers.Append(PolicyHeader, decision.Policy.PolicyHeader);
        response.Headers.Append(StateHeader, decision.StateHeader);
    }

    /// <summary>The 429 a handler returns.</summary>
    public static ProblemHttpResult TooManyRequests(HttpContext http, RateLimitDecision decision) =>
        Problems.TooManyRequests(http, TimeSpan.FromSeconds(decision.RetryAfterSeconds), TooManyRequestsDetail);

    /// <summary>The 429 the middleware writes.</summary>
    public static async ValueTask WriteTooManyRequestsAsync(HttpContext http, TimeSpan retryAfter)
    {
        http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        await ProblemResponses.WriteAsync(http, new ProblemDetails
        {
            Status = StatusCodes.Status429TooManyRequests,
            Title = "Too Many Requests",
            Detail = TooManyRequestsDetail,
        });
    }

    private const string TooManyRequestsDetail = "Rate limit exceeded. Retry after the number of seconds in Retry-After; the RateLimit header shows the remaining quota.";
}
