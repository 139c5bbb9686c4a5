using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace TaskRunner.Infrastructure.RateLimiting;

/// <summary>Where the decisions of a node configured for Redis come from.</summary>
public enum RateLimitStoreState
{
    /// <summary>Limits are shared through Redis.</summary>
    Redis,

    /// <summary>Configured for Redis, which is unreachable: each node limits alone until it answers again.</summary>
    Fallback,
}

/// <summary>
/// The Redis store as the service uses it: a decision Redis does not give within its budget, or fails to give, is taken
/// locally instead, so Redis being away never fails or slows a request. After a failure Redis is left alone for a moment, so
/// a Redis that swallows packets costs one timeout per moment rather than one per request. The outage is logged at most once
/// a minute and reported by <see cref="RateLimitStoreHealthCheck"/>.
/// </summary>
public sealed partial class FallbackRateLimitStore(
    RedisRateLimitStore redis,
    LocalRateLimitStore local,
    IOptions<RateLimitingOptions> options,
    TimeProvider time,
    ILogger<FallbackRateLimitStore> logger) : IRateLimitStore
{
    private static readonly TimeSpan RetryRedisAfter = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan WarningInterval = TimeSpan.FromSeconds(60);

    private readonly TimeSpan decisionTimeout = TimeSpan.FromMilliseconds(options.Value.Redis.DecisionTimeoutMilliseconds);
    private readonly Lock gate = new();
    private long retryRedisAt;
    private long lastWarningAt;
    private bool warnedOnce;

    public RateLimitStoreState State { get; private set; } = RateLimitStoreState.Redis;

    /// <summary>Why the last Redis decision failed, while <see cref="State"/> is Fallback.</summary>
    public string? LastFailure { get; private set; }

    public async ValueTask<RateLimitDecision> AcquireAsync(TokenBucketPolicy policy, string partitionKey, CancellationToken cancellationToken)
    {
        if (State == RateLimitStoreState.Fallback && time.GetTimestamp() < Volatile.Read(ref retryRedisAt))
            return local.Acquire(policy, partitionKey);
        try
        {
            var decision = await redis.AcquireAsync(policy, partitionKey, cancellationToken).AsTask().WaitAsync(decisionTimeout, time, cancellationToken);
            Recovered();
            return decision;
        }
        catch (Exception e) when (IsRedisFailure(e) && !cancellationToken.IsCancellationRequested)
        {
            Failed(e);
            return local.Acquire(policy, partitionKey);
        }
    }

    /// <summary>Asks Redis directly (the health check), so the state is current even when no request has come.</summary>
    public async Task<RateLimitStoreState> ProbeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await redis.PingAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(1), time, cancellationToken);
            Recovered();
        }
        catch (Exception e) when (IsRedisFailure(e) && !cancellationToken.IsCancellationRequested)
        {
            Failed(e);
        }
        return State;
    }

    private static bool IsRedisFailure(Exception e) => e is RedisException or TimeoutException or ObjectDisposedException;

    private void Recovered()
    {
        if (State == RateLimitStoreState.Redis)
            return;
        lock (gate)
        {
            if (State == RateLimitStoreState.Redis)
                return;
            State = RateLimitStoreState.Redis;
            LastFailure = null;
        }
        LogRecovered(logger);
    }

    private void Failed(Exception e)
    {
        var now = time.GetTimestamp();
        bool warn;
        lock (gate)
        {
            State = RateLimitStoreState.Fallback;
            LastFailure = e is TimeoutException ? "no answer within the decision timeout" : e.Message;
            Volatile.Write(ref retryRedisAt, now + (long)(RetryRedisAfter.TotalSeconds * time.TimestampFrequency));
            warn = !warnedOnce || time.GetElapsedTime(lastWarningAt, now) >= WarningInterval;
            if (warn)
            {
                warnedOnce = true;
                lastWarningAt = now;
            }
        }
        if (warn)
            LogFallback(logger, LastFailure);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis rate-limit store unavailable, limiting per node until it answers: {Reason}")]
    private static partial void LogFallback(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis rate-limit store answers again; limits are shared")]
    private static partial void LogRecovered(ILogger logger);
}

/// <summary>Which store decides: <c>local</c>, <c>redis</c>, or degraded while falling back from an unreachable Redis.</summary>
public sealed class RateLimitStoreHealthCheck(IRateLimitStore store) : IHealthCheck
{
    public const string Name = "rate_limit_store";

    /// <summary>Shown by the detailed health report; never part of readiness, as limiting carries on without Redis.</summary>
    public const string Tag = "detailed";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        if (store is not FallbackRateLimitStore shared)
            return HealthCheckResult.Healthy("local");
        return await shared.ProbeAsync(cancellationToken) == RateLimitStoreState.Redis
            ? HealthCheckResult.Healthy("redis")
            : HealthCheckResult.Degraded($"fallback to local limits: {shared.LastFailure}");
    }
}
