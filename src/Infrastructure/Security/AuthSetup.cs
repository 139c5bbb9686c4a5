using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using TaskRunner.Infrastructure.Configuration;

namespace TaskRunner.Infrastructure.Security;

public static class AuthSetup
{
    /// <summary>The scheme endpoints authenticate with: an API key when the request carries one, else a bearer token.</summary>
    public const string Scheme = "TaskRunner";

    public const string AdminPolicy = "admin";

    public static IServiceCollection AddIdentityAndAccess(this IServiceCollection services)
    {
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<AccessTokens>();
        services.AddSingleton<CallerStateCache>();
        services.AddSingleton<CredentialFailureLimiter>();
        services.AddSingleton<ApiKeyUsage>();
        services.AddSingleton<RequestSignatures>();
        services.AddSingleton<PasswordHashingSlots>();
        services.AddHostedService<AuthChangeListener>();

        services.AddAuthentication(Scheme)
            .AddPolicyScheme(Scheme, "API key or bearer token", options => options.ForwardDefaultSelector = context =>
                context.Request.Headers[ApiKeyFormat.HeaderName].ToString().Length > 0
                    ? ApiKeyAuthenticationHandler.SchemeName
                    : JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer()
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);

        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<IOptions<AuthOptions>, TimeProvider>((jwt, auth, clock) =>
            {
                jwt.MapInboundClaims = false;
                jwt.TokenHandlers.Clear();
                jwt.TokenHandlers.Add(new CachingTokenHandler(clock) { MapInboundClaims = false });
                jwt.TokenValidationParameters = AccessTokens.ValidationParameters(auth.Value);
                jwt.Events = new JwtBearerEvents
                {
                    OnMessageReceived = WebSocketBearer.ReadTokenAsync,
                    OnTokenValidated = ApplyCurrentSessionStateAsync,
                    OnAuthenticationFailed = CountFailure,
                    OnChallenge = AnswerRefusalAsync,
                };
            });

        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, AuditedAuthorizationResults>();
        services.AddAuthorizationBuilder()
            .SetDefaultPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().RequireAssertion(SecondFactorEnrolment.Allows).Build())
            .AddPolicy(AdminPolicy, policy => policy.RequireRole(Roles.Admin));
        return services;
    }

    /// <summary>
    /// A forged, expired or malformed token. Checking a signature costs no query, so tokens are always checked (a valid
    /// one from a busy address still works), but past the client's budget of failures (see
    /// <see cref="CredentialFailureLimiter"/>) a failure is answered 429 and not audited.
    /// </summary>
    private static Task CountFailure(AuthenticationFailedContext context)
    {
        if (Refused(context.HttpContext))
            context.Fail(CredentialFailureLimiter.RefusedBeforeLookup);
        return Task.CompletedTask;
    }

    /// <summary>True when the client has spent its budget of failed checks; otherwise this failure is counted.</summary>
    private static bool Refused(HttpContext http)
    {
        var limiter = http.RequestServices.GetRequiredService<CredentialFailureLimiter>();
        if (limiter.Refuses(http))
            return true;
        limiter.RecordFailure(http);
        return false;
    }

    private static async Task AnswerRefusalAsync(JwtBearerChallengeContext context)
    {
        if (await CredentialFailureLimiter.TryAnswerRefusalAsync(context.HttpContext))
            context.HandleResponse();
    }

    /// <summary>
    /// A valid signature is not enough: the session must still be live and the user enabled. The role comes from the
    /// user's current row, not the token, so a demotion takes effect at once.
    /// </summary>
    private static async Task ApplyCurrentSessionStateAsync(TokenValidatedContext context)
    {
        var principal = context.Principal!;
        if (!Guid.TryParse(principal.FindFirst(AccessTokens.SubjectClaim)?.Value, out var userId)
            || !Guid.TryParse(principal.FindFirst(AccessTokens.SessionClaim)?.Value, out var sessionId))
        {
            context.Fail("token lacks subject or session");
            return;
        }
        var cache = context.HttpContext.RequestServices.GetRequiredService<CallerStateCache>();
        var session = await cache.GetSessionAsync(sessionId, context.HttpContext.RequestAborted);
        if (session is not { Active: true } || session.UserId != userId)
        {
            context.Fail(Refused(context.HttpContext) ? CredentialFailureLimiter.RefusedBeforeLookup : "session ended");
            return;
        }
        context.Principal = CallerPrincipal.Create(userId, session.Role, sessionId, null, JwtBearerDefaults.AuthenticationScheme,
            session.SecondFactorPending);
    }
}
