using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Infrastructure.RateLimiting;

/// <summary>
/// ASP.NET Core's rate-limiting middleware, with buckets kept by an <see cref="IRateLimitStore"/> (this process, or Redis
/// shared by every node). Routes opt in with <c>RequireRateLimiting(RateLimitPolicies.Api)</c>; operational endpoints never do.
/// </summary>
public static class RateLimits
{
    public static IServiceCollection AddRateLimits(this IServiceCollection services)
    {
        services.AddHttpContextAccessor();
        services.AddSingleton<LocalRateLimitStore>();
        services.AddSingleton<RedisRateLimitStore>();
        services.AddSingleton<FallbackRateLimitStore>();
        services.AddSingleton<IRateLimitStore>(provider =>
            provider.GetRequiredService<IOptions<RateLimitingOptions>>().Value.Store == RateLimitingOptions.RedisStore
                ? provider.GetRequiredService<FallbackRateLimitStore>()
                : provider.GetRequiredService<LocalRateLimitStore>());
        services.AddSingleton<RateLimitGate>();
        services.AddSingleton<ApiPolicy>();

        services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.OnRejected = static (context, _) => RateLimitResponses.WriteTooManyRequestsAsync(
                context.HttpContext,
                context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1));
        });
        services.AddOptions<RateLimiterOptions>()
            .Configure<ApiPolicy>((options, api) => options.AddPolicy(RateLimitPolicies.Api, api));

        services.AddHealthChecks().AddCheck<RateLimitStoreHealthCheck>(
            RateLimitStoreHealthCheck.Name, tags: [RateLimitStoreHealthCheck.Tag]);
        return services;
    }

    /// <summary>
    /// After authentication, so partitions can use the caller's identity, and before authorization, so even requests that
    /// end in 401/403 are counted (an anonymous flood is limited per address).
    /// </summary>
    public static IApplicationBuilder UseRateLimits(this IApplicationBuilder app) => app.UseRateLimiter();

    /// <summary>
    /// The /api/v1 policy: a bucket per API key, else per user, else per client address; admins skip it when configured.
    /// The limiter per partition is a thin handle on the store, so the middleware may drop and recreate it at will.
    /// </summary>
    internal sealed class ApiPolicy : IRateLimiterPolicy<string>
    {
        private readonly RateLimitingOptions options;
        private readonly Func<string, RateLimiter> createLimiter;

        public ApiPolicy(IOptions<RateLimitingOptions> options, IRateLimitStore store, IHttpContextAccessor accessor, TimeProvider time)
        {
            this.options = options.Value;
            var policy = new TokenBucketPolicy(RateLimitPolicies.Api, this.options.Api);
            createLimiter = partitionKey => new StoreRateLimiter(store, policy, partitionKey, accessor, time);
        }

        /// <summary>The options' OnRejected answers for every policy.</summary>
        public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected => null;

        public RateLimitPartition<string> GetPartition(HttpContext httpContext)
        {
            var caller = Caller.From(httpContext.User);
            if (!options.Enabled || (options.ExemptAdmins && caller is { IsAdmin: true }))
                return RateLimitPartition.GetNoLimiter("unlimited");
            var partitionKey = caller switch
            {
                { ApiKeyId: { } keyId } => "key:" + keyId.ToString("N"),
                { } user => "user:" + user.UserId.ToString("N"),
                null => "ip:" + httpContext.Connection.RemoteIpAddress,
            };
            return RateLimitPartition.Get(partitionKey, createLimiter);
        }
    }

    /// <summary>
    /// One partition's limiter: every decision is the store's. The middleware tries a synchronous acquire first and only then
    /// the asynchronous one; a store may need a network round trip, so the synchronous attempt always declines.
    /// The middleware never hands a granted lease to the application, so the limiter writes the RateLimit headers onto the
    /// request it is deciding for, found through the request's execution context.
    /// </summary>
    private sealed class StoreRateLimiter(
        IRateLimitStore store, TokenBucketPolicy policy, string partitionKey, IHttpContextAccessor accessor, TimeProvider time) : RateLimiter
    {
        private long lastUsed = time.GetTimestamp();

        public override TimeSpan? IdleDuration => time.GetElapsedTime(Volatile.Read(ref lastUsed));

        public override RateLimiterStatistics? GetStatistics() => null;

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => DecisionLease.Declined;

        protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
        {
            Volatile.Write(ref lastUsed, time.GetTimestamp());
            var decision = await store.AcquireAsync(policy, partitionKey, cancellationToken);
            if (accessor.HttpContext is { } http)
                RateLimitResponses.AppendHeaders(http.Response, decision);
            return decision.Allowed ? DecisionLease.Granted : new DecisionLease(false, decision.RetryAfter);
        }
    }

    private sealed class DecisionLease(bool acquired, TimeSpan retryAfter) : RateLimitLease
    {
        public static readonly DecisionLease Granted = new(true, TimeSpan.Zero);
        public static readonly DecisionLease Declined = new(false, TimeSpan.Zero);

        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => acquired ? [] : [MetadataName.RetryAfter.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = !acquired && metadataName == MetadataName.RetryAfter.Name ? retryAfter : null;
            return metadata is not null;
        }
    }
}
