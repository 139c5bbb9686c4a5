using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

public static class AuthEndpoints
{
    public static IServiceCollection AddAuthFeature(this IServiceCollection services) =>
        services.AddSingleton<SessionTokens>();

    public static IEndpointRouteBuilder MapAuth(this IEndpointRouteBuilder api)
    {
        var auth = api.MapGroup("/auth").WithTags("Authentication");

        auth.MapPost("/register", Register.Handle)
            .WithName("Register")
            .WithSummary("Create an account (201); the first account becomes an admin. 403 when registration is switched off")
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        auth.MapPost("/login", Login.Handle)
            .WithName("Login")
            .WithSummary("Exchange email and password for an access token and a refresh token; 401 for any bad credential")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
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
