using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

public static class AuthEndpoints
{
    public static IServiceCollection AddAuthFeature(this IServiceCollection services) =>
        services.AddSingleton<SessionTokens>().AddRetention<AuthOptions>(AuthRetention.Job);

    public static IEndpointRouteBuilder MapAuth(this IEndpointRouteBuilder api)
    {
        var auth = api.MapGroup("/auth").WithTags("Authentication");

        auth.MapPost("/register", Register.Handle)
            .WithName("Register")
            .WithSummary("Create an account (201); the first account becomes an admin. 403 when registration is switched off")
            .WithDescription("""
                Registrations are limited per client address (the `register` policy, by default 5 per hour): past it the
                answer is 429 with `Retry-After` and the `RateLimit` fields. Passwords are hashed in a bounded number of slots
                per node; when none comes free within a short wait the answer is 503 with `Retry-After`, and the same request
                may be sent again.
                """)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        auth.MapPost("/login", Login.Handle)
            .WithName("Login")
            .WithSummary("Exchange email and password for an access token and a refresh token; 401 for any bad credential")
            .WithDescription("""
                Every wrong password counts towards the account's lockout, also within a parallel burst: once the limit is
                reached no further password is checked until the lock runs out. Attempts are limited per client address and
                per address and email (429 with `Retry-After`), and an address with too many failures is blocked for a while
                (429). Passwords are checked in a bounded number of slots per node; when none comes free within a short wait
                the answer is 503 with `Retry-After`, and the same request may be sent again.
                """)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        auth.MapPost("/refresh", Refresh.Handle)
            .WithName("RefreshTokens")
            .WithSummary("Rotate a refresh token into a new pair; reusing a spent one revokes the whole session")
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        var session = auth.MapGroup("").RequireAuthorization().ProducesProblem(StatusCodes.Status401Unauthorized);
        session.MapPost("/logout", Sessions.Logout)
            .WithName("Logout")
            .WithSummary("End the current session");
        session.MapGet("/sessions", Sessions.List)
            .WithName("ListSessions")
            .WithSummary("The caller's live sessions, newest first; `current` marks the one making the request");
        session.MapDelete("/sessions/{id:guid}", Sessions.Revoke)
            .WithName("RevokeSession")
            .WithSummary("End one of the caller's sessions")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
