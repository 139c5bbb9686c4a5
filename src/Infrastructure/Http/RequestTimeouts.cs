using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.RateLimiting;

namespace TaskRunner.Infrastructure.Http;

/// <summary>
/// How long a request of each route group may run. Past it, the request's cancellation token fires (so its database command
/// is cancelled in PostgreSQL) and the client gets a 503 problem with code <c>request_timeout</c>. Section <c>RequestTimeouts</c>.
/// </summary>
public sealed class RequestTimeoutsOptions
{
    public const string Section = "RequestTimeouts";

    /// <summary>Off: requests run until they finish or the client goes away.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Every /api/v1 route without a group of its own.</summary>
    [Range(10, 600_000, ErrorMessage = "must be between 10 and 600000")]
    public int ApiMilliseconds { get; set; } = 30_000;

    /// <summary>Search and title suggestions.</summary>
    [Range(10, 600_000, ErrorMessage = "must be between 10 and 600000")]
    public int SearchMilliseconds { get; set; } = 10_000;

    /// <summary>Bulk writes (up to 1,000 tasks a request).</summary>
    [Range(10, 600_000, ErrorMessage = "must be between 10 and 600000")]
    public int BulkMilliseconds { get; set; } = 60_000;

    /// <summary>Completions and heartbeats (claims long-poll and are excepted).</summary>
    [Range(10, 600_000, ErrorMessage = "must be between 10 and 600000")]
    public int WorkerMilliseconds { get; set; } = 10_000;

    /// <summary>The /auth routes; a login may wait for a password-hashing slot (Auth:PasswordHashQueueMilliseconds).</summary>
    [Range(10, 600_000, ErrorMessage = "must be between 10 and 600000")]
    public int AuthMilliseconds { get; set; } = 30_000;
}

[OptionsValidator]
public sealed partial class RequestTimeoutsOptionsValidator : IValidateOptions<RequestTimeoutsOptions>;

/// <summary>
/// The route groups that have limits of their own: each name is both a rate-limit policy (<see cref="RateLimitPolicies"/>) and
/// a request-timeout policy, and a group sets both with <see cref="WithRouteLimits{TBuilder}"/>. Routes that stream or
/// long-poll (exports, downloads, uploads, the WebSocket, a claim that waits) opt out of the timeout with
/// <see cref="DisableRequestTimeoutAttribute"/>; they keep their rate limit.
/// </summary>
public static class RouteLimits
{
    public static TBuilder WithRouteLimits<TBuilder>(this TBuilder builder, string group) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireRateLimiting(group).WithMetadata(new RequestTimeoutAttribute(group));

    public static IServiceCollection AddRequestTimeoutPolicies(this IServiceCollection services)
    {
        services.AddOptions<RequestTimeoutsOptions>().BindConfiguration(RequestTimeoutsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RequestTimeoutsOptions>, RequestTimeoutsOptionsValidator>();
        services.AddRequestTimeouts();
        services.AddOptions<RequestTimeoutOptions>().Configure<IOptions<RequestTimeoutsOptions>>((timeouts, settings) =>
        {
            var configured = settings.Value;
            timeouts.AddPolicy(RateLimitPolicies.Api, Policy(configured.ApiMilliseconds));
            timeouts.AddPolicy(RateLimitPolicies.Search, Policy(configured.SearchMilliseconds));
            timeouts.AddPolicy(RateLimitPolicies.Bulk, Policy(configured.BulkMilliseconds));
            timeouts.AddPolicy(RateLimitPolicies.Worker, Policy(configured.WorkerMilliseconds));
            timeouts.AddPolicy(RateLimitPolicies.Auth, Policy(configured.AuthMilliseconds));
        });
        return services;
    }

    /// <summary>Inside authentication and rate limiting, so a request's time limit covers its handler's work.</summary>
    public static IApplicationBuilder UseRequestTimeoutPolicies(this IApplicationBuilder app) =>
        app.ApplicationServices.GetRequiredService<IOptions<RequestTimeoutsOptions>>().Value.Enabled ? app.UseRequestTimeouts() : app;

    private static RequestTimeoutPolicy Policy(int milliseconds) => new()
    {
        Timeout = TimeSpan.FromMilliseconds(milliseconds),
        TimeoutStatusCode = StatusCodes.Status503ServiceUnavailable,
        WriteTimeoutResponse = http => WriteTimeoutAsync(http, milliseconds),
    };

    private static async Task WriteTimeoutAsync(HttpContext http, int milliseconds)
    {
        http.Response.Headers.RetryAfter = ProblemResponses.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        await ProblemResponses.WriteAsync(http, new ProblemDetails
        {
            Status = StatusCodes.Status503ServiceUnavailable,
            Title = "Service Unavailable",
            Detail = string.Create(CultureInfo.InvariantCulture,
                $"The request did not finish within its time limit ({milliseconds} ms) and was stopped; its database work was cancelled. Retry after the number of seconds in Retry-After."),
            Extensions = { ["code"] = "request_timeout" },
        });
    }
}
