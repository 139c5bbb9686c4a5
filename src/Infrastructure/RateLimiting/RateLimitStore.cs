using System.Collections.Concurrent;
using System.Globalization;

namespace TaskRunner.Infrastructure.RateLimiting;

/// <summary>Names of the rate-limit policies: for <c>RequireRateLimiting(...)</c> and <see cref="RateLimitGate"/>.</summary>
public static class RateLimitPolicies
{
    /// <summary>The default of the /api/v1 group: per API key, else per user, else per client address.</summary>
    public const string Api = "api";

    /// <summary>Search and type-ahead, on top of <see cref="Api"/>: each costs a ranked full-text query.</summary>
    public const string Search = "search";

    /// <summary>Bulk writes (up to 1,000 tasks a request), on top of <see cref="Api"/>.</summary>
    public const string Bulk = "bulk";

    /// <summary>What workers send (claim, complete, heartbeat), on top of <see cref="Api"/>.</summary>
    public const string Worker = "worker";

    /// <summary>The /auth routes (login, refresh, password tokens, sessions), on top of <see cref="Api"/>.</summary>
    public const string Auth = "auth";

    /// <summary>Login attempts per client address and email (consumed by the login handler through <see cref="RateLimitGate"/>).</summary>
    public const string Login = "login";

    /// <summary>Login attempts per client address, whatever the email.</summary>
    public const string LoginIp = "login-ip";

    /// <summary>Registrations per client address (consumed by the registration handler through <see cref="RateLimitGate"/>).</summary>
    public const string Register = "register";

    /// <summary>
    /// Failed API-key checks per client address, on this node: once spent, keys this node has not cached are refused
    /// before they are looked up (see <see cref="Security.CredentialFailureLimiter"/>).
    /// </summary>
    public const string CredentialFailures = "credential-failures";
}

/// <summary>One configured policy, with the figures its headers announce.</summary>
public sealed class TokenBucketPolicy
{
    public TokenBucketPolicy(string name, TokenBucketOptions options)
    {
        Name = name;
        Capacity = options.PermitLimit;
        TokensPerSecond = (double)options.TokensPerPeriod / options.PeriodSeconds;
        // The draft's window: the time an empty bucket takes to refill, so "q per w" is both the burst and the sustained rate.
        WindowSeconds = (int)Math.Ceiling(Capacity / TokensPerSecond);
        PolicyHeader = string.Create(CultureInfo.InvariantCulture, $"\"{name}\";q={Capacity};w={WindowSeconds}");
    }

    public string Name { get; }

    public int Capacity { get; }

    public double TokensPerSecond { get; }

    public int WindowSeconds { get; }

    /// <summary>This policy's item of the <c>RateLimit-Policy</c> header.</summary>
    public string PolicyHeader { get; }

    public static IReadOnlyDictionary<string, TokenBucketPolicy> From(RateLimitingOptions options) =>
        new Dictionary<string, TokenBucketPolicy>(StringComparer.Ordinal)
        {
            [RateLimitPolicies.Api] = new(RateLimitPolicies.Api, options.Api),
            [RateLimitPolicies.Search] = new(RateLimitPolicies.Search, options.Search),
            [RateLimitPolicies.Bulk] = new(RateLimitPolicies.Bulk, options.Bulk),
            [RateLimitPolicies.Worker] = new(RateLimitPolicies.Worker, options.Worker),
            [RateLimitPolicies.Auth] = new(RateLimitPolicies.Auth, options.Auth),
            [RateLimitPolicies.Login] = new(RateLimitPolicies.Login, options.Login),
            [RateLimitPolicies.LoginIp] = new(RateLimitPolicies.LoginIp, options.LoginIp),
            [RateLimitPolicies.Register] = new(RateLimitPolicies.Register, options.Register),
            [RateLimitPolicies.CredentialFailures] = new(RateLimitPolicies.CredentialFailures, options.CredentialFailures),
        };
}

/// <summary>
/// The outcome of taking one token: allowed or not, tokens left, when the next token comes (<see cref="RetryAfter"/>, for a
/// 429) and when the bucket is full again (<see cref="ResetAfter"/>, the draft's <c>t</c>).
/// </summary>
public readonly record struct RateLimitDecision(TokenBucketPolicy Policy, bool Allowed, int Remaining, TimeSpan RetryAfter, TimeSpan ResetAfter)
{
    /// <summary>Whole seconds, at least 1: what Retry-After says.</summary>
    public int RetryAfterSeconds => Math.Max(1, (int)Math.Ceiling(RetryAfter.TotalSeconds));

    /// <summary>This decision's item of the <c>RateLimit</c> header.</summary>
    public string StateHeader => string.Create(
        CultureInfo.InvariantCulture, $"\"{Policy.Name}\";r={Remaining};t={(int)Math.Ceiling(ResetAfter.TotalSeconds)}");

    /// <summary>The token-bucket arithmetic both stores share (Redis runs the same in Lua).</summary>
    public static RateLimitDecision Take(TokenBucketPolicy policy, ref double tokens)
    {
        var allowed = tokens >= 1;
        if (allowed)
            tokens -= 1;
        var retryAfter = allowed ? TimeSpan.Zero : TimeSpan.FromSeconds((1 - tokens) / policy.TokensPerSecond);
        var resetAfter = TimeSpan.FromSeconds((policy.Capacity - tokens) / policy.TokensPerSecond);
        return new RateLimitDecision(policy, allowed, (int)Math.Floor(tokens), retryAfter, resetAfter);
    }
}

/// <summary>Where buckets live. One call is one decision: take a token from the bucket of (policy, partition).</summary>
public interface IRateLimitStore
{
    ValueTask<RateLimitDecision> AcquireAsync(TokenBucketPolicy policy, string partitionKey, CancellationToken cancellationToken);
}

/// <summary>Buckets in this process's memory: exact for one node, and what a node falls back to when Redis is away.</summary>
public sealed class LocalRateLimitStore : IRateLimitStore, IDisposable
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<(string Policy, string Partition), Bucket> buckets = new();
    private readonly TimeProvider time;
    private readonly ITimer sweeper;

    public LocalRateLimitStore(TimeProvider time)
    {
        this.time = time;
        sweeper = time.CreateTimer(static state => ((LocalRateLimitStore)state!).Sweep(), this, SweepInterval, SweepInterval);
    }

    public ValueTask<RateLimitDecision> AcquireAsync(TokenBucketPolicy policy, string partitionKey, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Acquire(policy, partitionKey));

    public RateLimitDecision Acquire(TokenBucketPolicy policy, string partitionKey)
    {
        var now = time.GetTimestamp();
        var bucket = buckets.GetOrAdd((policy.Name, partitionKey), static (_, state) => new Bucket(state.Capacity, state.Now), (policy.Capacity, Now: now));
        lock (bucket)
        {
            var elapsed = time.GetElapsedTime(bucket.UpdatedAt, now).TotalSeconds;
            bucket.Tokens = Math.Min(policy.Capacity, bucket.Tokens + Math.Max(0, elapsed) * policy.TokensPerSecond);
            bucket.UpdatedAt = now;
            var decision = RateLimitDecision.Take(policy, ref bucket.Tokens);
            bucket.FullAt = now + (long)(decision.ResetAfter.TotalSeconds * time.TimestampFrequency);
            return decision;
        }
    }

    /// <summary>How long until the bucket holds a token again, without taking one; null when it holds one now.</summary>
    public TimeSpan? TimeUntilToken(TokenBucketPolicy policy, string partitionKey)
    {
        if (!buckets.TryGetValue((policy.Name, partitionKey), out var bucket))
            return null;
        lock (bucket)
        {
            var elapsed = Math.Max(0, time.GetElapsedTime(bucket.UpdatedAt).TotalSeconds);
            var tokens = Math.Min(policy.Capacity, bucket.Tokens + elapsed * policy.TokensPerSecond);
            return tokens >= 1 ? null : TimeSpan.FromSeconds((1 - tokens) / policy.TokensPerSecond);
        }
    }

    /// <summary>
    /// A bucket that has refilled completely is the same as no bucket, so it is dropped: memory follows the callers active in
    /// the last refill window, not every address ever seen. A request racing the removal may use the dropped bucket once more,
    /// which at worst grants one extra token.
    /// </summary>
    private void Sweep()
    {
        var now = time.GetTimestamp();
        foreach (var entry in buckets)
        {
            if (Volatile.Read(ref entry.Value.FullAt) <= now)
                buckets.TryRemove(entry);
        }
    }

    public void Dispose() => sweeper.Dispose();

    private sealed class Bucket(double tokens, long updatedAt)
    {
        public double Tokens = tokens;
        public long UpdatedAt = updatedAt;
        public long FullAt = updatedAt;
    }
}
