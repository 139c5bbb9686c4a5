using Microsoft.AspNetCore.Authorization;

namespace TaskRunner.Infrastructure.Security;

/// <summary>
/// A required second factor (<c>users.totp_required</c>, or <c>Auth:RequireTotpForAdmins</c> for admins) that is not
/// enrolled yet: the user's sessions may call only the routes that let them enrol it (and see themselves, and log out);
/// everything else is a 403 saying so. API keys are not held back: they are machine credentials without a login.
/// </summary>
public static class SecondFactorEnrolment
{
    public const string Detail =
        "This account must enrol a second factor first: POST /api/v1/auth/totp/enrol, then /api/v1/auth/totp/confirm with a code.";

    /// <summary>Marks a route a session may call before its required second factor is enrolled.</summary>
    public sealed class AllowedWhilePending;

    public static TBuilder AllowWhileSecondFactorPending<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AllowedWhilePending());

    public static bool IsPending(System.Security.Claims.ClaimsPrincipal user) => user.HasClaim(CallerClaims.SecondFactorPending, "true");

    /// <summary>The default policy's assertion: nothing pending, or a route that allows it.</summary>
    public static bool Allows(AuthorizationHandlerContext context) =>
        !IsPending(context.User)
        || context.Resource is HttpContext http && http.GetEndpoint()?.Metadata.GetMetadata<AllowedWhilePending>() is not null;
}
