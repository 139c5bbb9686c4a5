using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.RateLimiting;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

public static class AuthEndpoints
{
    public static IServiceCollection AddAuthFeature(this IServiceCollection services) =>
        services.AddSingleton<SessionTokens>().AddRetention<AuthOptions>(AuthRetention.Job);

    public static IEndpointRouteBuilder MapAuth(this IEndpointRouteBuilder api)
    {
        var auth = api.MapGroup("/auth").WithTags("Authentication").WithRouteLimits(RateLimitPolicies.Auth);

        auth.MapPost("/register", Register.Handle)
            .WithName("Register")
            .WithSummary("Create an account")
            .WithDescription("Create an account (201); the first account becomes an admin. 403 when registration is switched off"
                + "\n\n" + """
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
            .WithSummary("Log in")
            .WithDescription("Exchange email and password for an access token and a refresh token; 401 for any bad credential"
                + "\n\n" + """
                An account with a TOTP second factor sends a current `totp_code` (or one of its `recovery_code`s) in the
                same request; without one, once the password is right, the answer is a 401 saying a second factor is
                needed, and a wrong or reused code is a 401 saying so. Each attempt counts towards the lockout before the
                password or the code is checked, so a burst of wrong codes locks the account as wrong passwords do.
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
            .WithSummary("Refresh the tokens")
            .WithDescription("Rotate a refresh token into a new pair; reusing a spent one revokes the whole session")
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        auth.MapPost("/password-tokens/redeem", RedeemPasswordToken.Handle)
            .WithName("RedeemPasswordToken")
            .WithSummary("Redeem a password token")
            .WithDescription("Set a password with a one-time token"
                + "\n\n" + """
                Redeems a set-password token (from `POST /users`) or a reset token (from `POST /users/{id}/password-reset`)
                with the new password (12–128 characters). A token works once and only until its `expires_at`; an unknown,
                expired or used token is 401. Every session of the account ends and a lockout is lifted. 204 on success.
                """)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);

        var browser = auth.MapGroup("/browser")
            .ProducesProblem(StatusCodes.Status403Forbidden);
        browser.MapPost("/login", BrowserSessions.SignIn)
            .WithName("BrowserLogin")
            .WithSummary("Browser sign-in (refresh cookie)")
            .WithDescription($"""
                As `POST /auth/login` (the same body, limits and answers), but the refresh token is set as the cookie
                `{BrowserSessions.CookieName}` and the body carries the access token only. Needs `{BrowserSessions.CsrfHeader}: 1`.
                """)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        browser.MapPost("/refresh", BrowserSessions.Renew)
            .WithName("BrowserRefresh")
            .WithSummary("Browser token refresh (cookie)")
            .WithDescription($"""
                Rotates the refresh token in the cookie `{BrowserSessions.CookieName}` as `POST /auth/refresh` does (reusing a
                spent one revokes the session) and answers a new access token. A missing, spent or expired cookie is 401 and
                the cookie is cleared. Needs `{BrowserSessions.CsrfHeader}: 1`.
                """)
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        browser.MapPost("/logout", BrowserSessions.SignOut)
            .WithName("BrowserLogout")
            .WithSummary("Browser sign-out (cookie)")
            .WithDescription($"""
                Ends the session of the refresh cookie `{BrowserSessions.CookieName}` and clears the cookie; 204 also when
                there was no live session. Needs `{BrowserSessions.CsrfHeader}: 1`.
                """);

        var session = auth.MapGroup("").RequireAuthorization().ProducesProblem(StatusCodes.Status401Unauthorized);
        session.MapPost("/logout", Logout.Handle)
            .AllowWhileSecondFactorPending()
            .WithName("Logout")
            .WithSummary("End the current session");
        session.MapPost("/password", ChangePassword.Handle)
            .WithName("ChangePassword")
            .WithSummary("Change the caller's password")
            .WithDescription("""
                From a session only (an API key is 403). `current_password` is required and counts towards the account's
                lockout like a login: a wrong one (or any while the account is locked) is 422 on `current_password`.
                On success (204) every other session of the user ends; the one making the request stays.
                """)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        session.MapPost("/totp/enrol", SecondFactor.Enrol)
            .AllowWhileSecondFactorPending()
            .WithName("EnrolTotp")
            .WithSummary("Start enrolling a TOTP second factor")
            .WithDescription("""
                Answers a new shared secret (base32) and its `otpauth://` URI for an authenticator app (RFC 6238: SHA-1,
                6 digits, 30 s). It is not in force until `POST /auth/totp/confirm` proves a code; enrolling again before
                that replaces it. 409 when a second factor is already enabled; 403 for an API key.
                """)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict);
        session.MapPost("/totp/confirm", SecondFactor.Confirm)
            .AllowWhileSecondFactorPending()
            .WithName("ConfirmTotp")
            .WithSummary("Enable the enrolled TOTP second factor")
            .WithDescription("""
                With a current `code` from the authenticator, enables the second factor and answers ten recovery codes,
                shown this once (stored hashed; each replaces a TOTP code at one login). From then on `POST /auth/login`
                needs `totp_code` or `recovery_code` beside the password. A wrong code is 422; 409 when nothing is enrolled.
                """)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        session.MapPost("/totp/disable", SecondFactor.Disable)
            .WithName("DisableTotp")
            .WithSummary("Turn the TOTP second factor off")
            .WithDescription("""
                Needs a current `totp_code` or an unused `recovery_code` (422 when wrong). Its recovery codes are deleted.
                When a second factor is required of the user, their sessions can then only enrol one again.
                """)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        session.MapGet("/sessions", ListSessions.Handle)
            .WithName("ListSessions")
            .WithSummary("List the caller's sessions")
            .WithDescription("""
                The caller's live sessions (neither revoked nor past their absolute expiry), newest first, as a list:
                `limit`, `cursor` and `fields` as on every list. `current` marks the session making the request.
                """)
            .ProducesProblem(StatusCodes.Status400BadRequest);
        session.MapDelete("/sessions/{id:guid}", RevokeSession.Handle)
            .WithName("RevokeSession")
            .WithSummary("End one of the caller's sessions")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
