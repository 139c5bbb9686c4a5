using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Infrastructure.RateLimiting;

/// <summary>
/// ASP.NET Core's rate-limiting middleware, with buckets kept by an <see cref="IRateLimitStore"/> (this process, or Redis
/// shared by every node). Routes opt in with <c>RequireRateLimiting(RateLimitPolicies.Api)</c>; operational endpoints never do.
/// </summary>
public static class RateLimits
{
    /// <summary>The policies routes opt into, each with the buckets it takes a token from, in order.</summary>
    private static readonly (string Name, string[] Buckets)[] RoutePolicies =
    [
        (RateLimitPolicies.Api, [RateLimitPolicies.Api]),
        (RateLimitPolicies.Search, [RateLimitPolicies.Api, RateLimitPolicies.Search]),
        (RateLimitPolicies.Bulk, [RateLimitPolicies.Api, RateLimitPolicies.Bulk]),
        (RateLimitPolicies.Worker, [RateLimitPolicies.Api, RateLimitPolicies.Worker]),
        (RateLimitPolicies.Auth, [RateLimitPolicies.Api, RateLimitPolicies.Auth]),
    ];

    public static IServiceCollection AddRateLimits(this IServiceCollection services)
    {
        services.AddHttpContextAccessor();
        services.AddSingleton<Reloadable<RateLimitingOptions>>();
        services.AddSingleton<RateLimitPolicySet>();
        services.AddSingleton<LocalRateLimitStore>();
        services.AddSingleton<RedisRateLimitStore>();
        services.AddSingleton<FallbackRateLimitStore>();
        services.AddSingleton<IRateLimitStore>(provider =>
            provider.GetRequiredService<IOptions<RateLimitingOptions>>().Value.Store == RateLimitingOptions.RedisStore
                ? provider.GetRequiredService<FallbackRateLimitStore>()
                : provider.GetRequiredService<LocalRateLimitStore>());
        services.AddSingleton<RateLimitGate>();

        services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.OnRejected = static (context, _) => RateLimitResponses.WriteTooManyRequestsAsync(
                context.HttpContext,
                context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1));
        });
        services.AddOptions<RateLimiterOptions>()
            .Configure<IServiceProvider>((options, provider) =>
            {
                foreach (var (name, buckets) in RoutePolicies)
                    options.AddPolicy(name, new RoutePolicy(buckets, provider));
            });

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
    /// A route policy: a bucket per API key, else per user, else per client address, in each of its buckets; admins skip it
    /// when configured. A route carries one policy (the innermost wins), so the group policies name the <c>api</c> bucket as
    /// well as their own: a search takes a token from both and reports both.
    /// The limiter per partition is a thin handle on the store, so the middleware may drop and recreate it at will.
    /// </summary>
    private sealed class RoutePolicy : IRateLimiterPolicy<string>
    {
        private readonly bool enabled;
        private readonly Reloadable<RateLimitingOptions> options;
        private readonly Func<string, RateLimiter> createLimiter;

        public RoutePolicy(string[] buckets, IServiceProvider provider)
        {
            enabled = provider.GetRequiredService<IOptions<RateLimitingOptions>>().Value.Enabled;
            options = provider.GetRequiredService<Reloadable<RateLimitingOptions>>();
            var policies = provider.GetRequiredService<RateLimitPolicySet>();
            var store = provider.GetRequiredService<IRateLimitStore>();
            var accessor = provider.GetRequiredService<IHttpContextAccessor>();
            var time = provider.GetRequiredService<TimeProvider>();
            createLimiter = partitionKey => new StoreRateLimiter(store, policies, buckets, partitionKey, accessor, time);
        }

        /// <summary>The options' OnRejected answers for every policy.</summary>
        public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected => null;

        public RateLimitPartition<string> GetPartition(HttpContext httpContext)
        {
            var caller = Caller.From(httpContext.User);
            if (!enabled || (options.Current.ExemptAdmins && caller is { IsAdmin: true }))
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
    /// One partition's limiter: every decision is the store's, one bucket after the other; the first that refuses refuses the
    /// request. The middleware tries a synchronous acquire first and only then the asynchronous one; a store may need a
    /// network round trip, so the synchronous attempt always declines.
    /// The middleware never hands a granted lease to the application, so the limiter writes the RateLimit headers onto the
    /// request it is deciding for, found through the request's execution context.
    /// </summary>
    private sealed class StoreRateLimiter(
        IRateLimitStore store, RateLimitPolicySet policies, string[] buckets, string partitionKey, IHttpContextAccessor accessor, TimeProvider time)
        : RateLimiter
    {
        private long lastUsed = time.GetTimestamp();

        public override TimeSpan? IdleDuration => time.GetElapsedTime(Volatile.Read(ref lastUsed));

        public override RateLimiterStatistics? GetStatistics() => null;

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => DecisionLease.Declined;

        protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
        {
            Volatile.Write(ref lastUsed, time.GetTimestamp());
            foreach (var bucket in buckets)
            {
                var decision = await store.AcquireAsync(policies[bucket], partitionKey, cancellationToken);
                if (accessor.HttpContext is { } http)
                    RateLimitResponses.AppendHeaders(http.Response, decision);
                if (!decision.Allowed)
                    return new DecisionLease(false, decision.RetryAfter);
            }
            return DecisionLease.Granted;
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

/// <summary>
/// The bucket figures in force, by policy name: built from the settings at start and rebuilt when the rate-limit numbers
/// change in configuration. Buckets already filled keep their tokens; the new capacity and refill rate apply from the next request.
/// </summary>
public sealed class RateLimitPolicySet
{
    private IReadOnlyDictionary<string, TokenBucketPolicy> policies;

    public RateLimitPolicySet(Reloadable<RateLimitingOptions> options)
    {
        policies = TokenBucketPolicy.From(options.Current);
        options.Changed += changed => Volatile.Write(ref policies, TokenBucketPolicy.From(changed));
    }

    public TokenBucketPolicy this[string name] => Volatile.Read(ref policies)[name];

    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TokenBucketPolicy? policy) =>
        Volatile.Read(ref policies).TryGetValue(name, out policy);
}
