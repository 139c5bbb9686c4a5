using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace TaskRunner.Infrastructure.RateLimiting;

/// <summary>Request rate limits: which store keeps the buckets and how big each policy's bucket is. Section <c>RateLimiting</c>.</summary>
public sealed class RateLimitingOptions : IValidatableObject
{
    public const string Section = "RateLimiting";
    public const string LocalStore = "local";
    public const string RedisStore = "redis";

    /// <summary>Off: no route is limited and no RateLimit headers are sent.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary><c>local</c>: buckets in this process (each node limits alone); <c>redis</c>: buckets shared by every node.</summary>
    public string Store { get; set; } = LocalStore;

    /// <summary>Callers with the admin role skip the API policy.</summary>
    public bool ExemptAdmins { get; set; }

    public RedisStoreOptions Redis { get; set; } = new();

    /// <summary>Every /api/v1 route, per API key, else per user, else per client address.</summary>
    public TokenBucketOptions Api { get; set; } = new() { PermitLimit = 120, TokensPerPeriod = 600, PeriodSeconds = 60 };

    /// <summary>Search and title suggestions, per caller like <see cref="Api"/> and taken as well as it.</summary>
    public TokenBucketOptions Search { get; set; } = new() { PermitLimit = 30, TokensPerPeriod = 120, PeriodSeconds = 60 };

    /// <summary>Bulk writes (create, edit, delete and lifecycle commands on many tasks), per caller, on top of <see cref="Api"/>.</summary>
    public TokenBucketOptions Bulk { get; set; } = new() { PermitLimit = 10, TokensPerPeriod = 60, PeriodSeconds = 60 };

    /// <summary>Claims, completions and heartbeats, per caller, on top of <see cref="Api"/>.</summary>
    public TokenBucketOptions Worker { get; set; } = new() { PermitLimit = 120, TokensPerPeriod = 600, PeriodSeconds = 60 };

    /// <summary>Every /auth route (login and registration also keep their own per-address buckets), per caller, on top of <see cref="Api"/>.</summary>
    public TokenBucketOptions Auth { get; set; } = new() { PermitLimit = 30, TokensPerPeriod = 60, PeriodSeconds = 60 };

    /// <summary>Login attempts per client address and email.</summary>
    public TokenBucketOptions Login { get; set; } = new() { PermitLimit = 5, TokensPerPeriod = 5, PeriodSeconds = 300 };

    /// <summary>Login attempts per client address, whatever the email: stops one address trying many accounts.</summary>
    public TokenBucketOptions LoginIp { get; set; } = new() { PermitLimit = 20, TokensPerPeriod = 20, PeriodSeconds = 300 };

    /// <summary>Registrations per client address: stops one address creating accounts (and hashing passwords) in bulk.</summary>
    public TokenBucketOptions Register { get; set; } = new() { PermitLimit = 5, TokensPerPeriod = 5, PeriodSeconds = 3600 };

    /// <summary>
    /// Failed API-key checks per client address on each node. Once spent, a key the node has not cached is refused with 429
    /// before it is looked up, so made-up keys cannot turn into a database query each.
    /// </summary>
    public TokenBucketOptions CredentialFailures { get; set; } = new() { PermitLimit = 20, TokensPerPeriod = 20, PeriodSeconds = 60 };

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Store is not (LocalStore or RedisStore))
            yield return new ValidationResult($"must be {LocalStore} or {RedisStore}", [nameof(Store)]);
        if (Store == RedisStore && RedisConnectionProblem(Redis.ConnectionString) is { } problem)
            yield return new ValidationResult(problem, [$"{nameof(Redis)}:{nameof(RedisStoreOptions.ConnectionString)}"]);
        if (Redis.DecisionTimeoutMilliseconds is < 10 or > 5000)
            yield return new ValidationResult("must be between 10 and 5000", [$"{nameof(Redis)}:{nameof(RedisStoreOptions.DecisionTimeoutMilliseconds)}"]);
        if (string.IsNullOrWhiteSpace(Redis.KeyPrefix))
            yield return new ValidationResult("is required", [$"{nameof(Redis)}:{nameof(RedisStoreOptions.KeyPrefix)}"]);
        foreach (var result in Buckets().SelectMany(bucket => bucket.Options.Validate(bucket.Name)))
            yield return result;
    }

    private IEnumerable<(string Name, TokenBucketOptions Options)> Buckets() =>
    [
        (nameof(Api), Api), (nameof(Search), Search), (nameof(Bulk), Bulk), (nameof(Worker), Worker), (nameof(Auth), Auth),
        (nameof(Login), Login), (nameof(LoginIp), LoginIp), (nameof(Register), Register), (nameof(CredentialFailures), CredentialFailures),
    ];

    private static string? RedisConnectionProblem(string connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
            return $"is required when Store is {RedisStore} (a StackExchange.Redis configuration string, e.g. 127.0.0.1:6379)";
        try
        {
            return ConfigurationOptions.Parse(connectionString).EndPoints.Count == 0 ? "names no endpoint" : null;
        }
        catch (ArgumentException e)
        {
            return $"is not a valid StackExchange.Redis configuration string ({e.Message})";
        }
    }
}

/// <summary>The shared store. Each decision is bounded by a short timeout; past it, or on any Redis error, this node decides alone.</summary>
public sealed class RedisStoreOptions
{
    /// <summary>A StackExchange.Redis configuration string (<c>host:port,password=...,ssl=true</c>).</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Prefix of every bucket key, so several services (or test runs) can share one Redis.</summary>
    public string KeyPrefix { get; set; } = "taskrunner:ratelimit:";

    /// <summary>How long a request waits for Redis's decision before this node decides alone.</summary>
    public int DecisionTimeoutMilliseconds { get; set; } = 100;
}

/// <summary>
/// A token bucket: it holds at most <see cref="PermitLimit"/> tokens (the burst), refills continuously at
/// <see cref="TokensPerPeriod"/> per <see cref="PeriodSeconds"/>, and each request takes one token.
/// </summary>
public sealed class TokenBucketOptions
{
    public int PermitLimit { get; set; }

    public int TokensPerPeriod { get; set; }

    public int PeriodSeconds { get; set; }

    /// <summary>Failures keyed like the configuration (<c>Api:PermitLimit</c>), as operators search their settings for them.</summary>
    internal IEnumerable<ValidationResult> Validate(string policy)
    {
        if (PermitLimit is < 1 or > 1_000_000)
            yield return new ValidationResult("must be between 1 and 1000000", [$"{policy}:{nameof(PermitLimit)}"]);
        if (TokensPerPeriod is < 1 or > 1_000_000)
            yield return new ValidationResult("must be between 1 and 1000000", [$"{policy}:{nameof(TokensPerPeriod)}"]);
        if (PeriodSeconds is < 1 or > 86_400)
            yield return new ValidationResult("must be between 1 and 86400", [$"{policy}:{nameof(PeriodSeconds)}"]);
    }
}

[OptionsValidator]
public sealed partial class RateLimitingOptionsValidator : IValidateOptions<RateLimitingOptions>;
