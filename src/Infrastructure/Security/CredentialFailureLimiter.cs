using System.Net;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.RateLimiting;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// Failed credential checks (API keys and bearer tokens) per client address (<see cref="RateLimitingOptions.CredentialFailures"/>),
/// counted on this node. Every failure takes a token; with none left, a credential is refused before it is looked up or
/// audited, and a route that needs authentication answers 429. A flood of made-up credentials therefore costs neither
/// queries nor audit rows nor cache memory. Per node on purpose: the cost it bounds, the lookups, is per node.
/// </summary>
public sealed class CredentialFailureLimiter(LocalRateLimitStore store, RateLimitPolicySet policies, IOptions<RateLimitingOptions> options)
{
    /// <summary>Why a credential was not even looked up.</summary>
    public const string RefusedBeforeLookup = "too many failed credential checks from this address";

    private static readonly object RefusalKey = new();

    private readonly bool enabled = options.Value.Enabled;

    private TokenBucketPolicy Policy => policies[RateLimitPolicies.CredentialFailures];

    /// <summary>True when the request's client has spent its budget; the request is marked so its challenge answers 429.</summary>
    public bool Refuses(HttpContext http)
    {
        if (!enabled || store.TimeUntilToken(Policy, ClientKey(http)) is not { } wait)
            return false;
        http.Items[RefusalKey] = wait;
        return true;
    }

    public void RecordFailure(HttpContext http)
    {
        if (enabled)
            store.Acquire(Policy, ClientKey(http));
    }

    /// <summary>Answers a refused request's challenge with 429 and Retry-After; false when the request was not refused.</summary>
    public static async Task<bool> TryAnswerRefusalAsync(HttpContext http)
    {
        if (!http.Items.TryGetValue(RefusalKey, out var wait) || wait is not TimeSpan retryAfter)
            return false;
        await RateLimitResponses.WriteTooManyRequestsAsync(http, retryAfter);
        return true;
    }

    private static string ClientKey(HttpContext http) => (http.Connection.RemoteIpAddress ?? IPAddress.Loopback).ToString();
}
