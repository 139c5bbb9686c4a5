using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace TaskRunner.Infrastructure.RateLimiting;

/// <summary>
/// Buckets in Redis, shared by every node. One decision is one EVAL of a token-bucket script: atomic, one round trip, on
/// Redis's clock (so nodes with skewed clocks agree). A bucket key expires once it would have refilled, so idle callers cost
/// nothing. Failures surface as exceptions; <see cref="FallbackRateLimitStore"/> turns them into local decisions.
/// </summary>
public sealed class RedisRateLimitStore : IRateLimitStore, IAsyncDisposable
{
    // KEYS[1] the bucket; ARGV capacity, tokens per millisecond, key lifetime in ms.
    // Returns {allowed (0|1), whole tokens left, ms until the next token (0 when allowed), ms until full}.
    private const string TokenBucketScript = """
        local capacity = tonumber(ARGV[1])
        local rate = tonumber(ARGV[2])
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        local state = redis.call('HMGET', KEYS[1], 't', 'at')
        local tokens = tonumber(state[1]) or capacity
        local at = tonumber(state[2]) or now
        tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
        local allowed = 0
        local retry = 0
        if tokens >= 1 then
          tokens = tokens - 1
          allowed = 1
        else
          retry = math.ceil((1 - tokens) / rate)
        end
        redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return {allowed, math.floor(tokens), retry, math.ceil((capacity - tokens) / rate)}
        """;

    private readonly Task<ConnectionMultiplexer> connection;
    private readonly string keyPrefix;

    public RedisRateLimitStore(IOptions<RateLimitingOptions> options)
    {
        var redis = options.Value.Redis;
        keyPrefix = redis.KeyPrefix;
        var configuration = ConfigurationOptions.Parse(redis.ConnectionString);
        // Redis is optional: never wait for it at start, never queue commands while it is away (fail at once, decide
        // locally), and give up on a slow answer quickly; each decision has its own, shorter, budget on top of this.
        configuration.AbortOnConnectFail = false;
        configuration.BacklogPolicy = BacklogPolicy.FailFast;
        configuration.ConnectTimeout = 2000;
        configuration.SyncTimeout = 1000;
        configuration.AsyncTimeout = 1000;
        configuration.ClientName ??= "taskrunner";
        connection = ConnectionMultiplexer.ConnectAsync(configuration);
    }

    public async ValueTask<RateLimitDecision> AcquireAsync(TokenBucketPolicy policy, string partitionKey, CancellationToken cancellationToken)
    {
        var redis = await connection.WaitAsync(cancellationToken);
        var tokensPerMillisecond = policy.TokensPerSecond / 1000;
        var lifetimeMilliseconds = (long)Math.Ceiling(policy.Capacity / tokensPerMillisecond) + 1000;
        var result = (long[])(await redis.GetDatabase().ScriptEvaluateAsync(
            TokenBucketScript,
            [Key(policy, partitionKey)],
            [policy.Capacity, tokensPerMillisecond.ToString("R", CultureInfo.InvariantCulture), lifetimeMilliseconds]))!;
        return new RateLimitDecision(
            policy, result[0] == 1, (int)result[1], TimeSpan.FromMilliseconds(result[2]), TimeSpan.FromMilliseconds(result[3]));
    }

    /// <summary>A round trip to Redis, for the health check.</summary>
    public async Task PingAsync(CancellationToken cancellationToken)
    {
        var redis = await connection.WaitAsync(cancellationToken);
        await redis.GetDatabase().PingAsync().WaitAsync(cancellationToken);
    }

    /// <summary>The partition is hashed: keys stay short whatever the caller sent, and Redis never holds an email in clear.</summary>
    private RedisKey Key(TokenBucketPolicy policy, string partitionKey)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(partitionKey), hash);
        return $"{keyPrefix}{policy.Name}:{Convert.ToHexStringLower(hash[..16])}";
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            // With AbortOnConnectFail off, connecting completes (connected or not) within ConnectTimeout.
            await (await connection).DisposeAsync();
        }
        catch (RedisException)
        {
            // Nothing was connected, so nothing is left to close.
        }
    }
}
