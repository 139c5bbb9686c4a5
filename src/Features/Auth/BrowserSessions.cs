using System.Diagnostics;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.RateLimiting;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

/// <summary>What the browser's sign-in and refresh answer: the access token only; the refresh token is in the cookie.</summary>
public sealed record BrowserSessionResponse(string AccessToken, string TokenType, int ExpiresIn, Guid SessionId);

/// <summary>
/// Sign-in for the dashboard, which must keep tokens out of script-readable storage: the refresh token travels in an
/// HttpOnly, Secure, SameSite=Strict cookie that is sent only to these endpoints, and the access token lives in the page's
/// memory. Every one of them needs the <see cref="CsrfHeader"/> header, which a form or a simple request from another site
/// cannot carry (a cross-site fetch with it needs a CORS preflight the service refuses), on top of SameSite=Strict.
/// Login and refresh are the JSON use cases (<see cref="Login"/>, <see cref="Refresh"/>) with the cookie around them.
/// </summary>
public static class BrowserSessions
{
    public const string CookieName = "taskrunner_refresh";
    public const string CookiePath = "/api/v1/auth/browser";
    public const string CsrfHeader = "X-TaskRunner-Csrf";
    public const string CsrfMissing = $"Browser session endpoints need the {CsrfHeader} header.";

    /// <summary>Ends the session that the refresh token belongs to; any of its tokens, spent or not, identifies it.</summary>
    private const string RevokeSql = """
        UPDATE sessions s SET revoked_at = now(), revoked_reason = 'logout'
        FROM refresh_tokens t
        WHERE t.token_hash = decode(@tokenHash, 'hex') AND s.id = t.session_id AND s.revoked_at IS NULL
        RETURNING s.id, s.user_id
        """;

    internal sealed record RevokedSession(Guid Id, Guid UserId);

    public static async Task<Results<Ok<BrowserSessionResponse>, ProblemHttpResult>> SignIn(
        LoginRequest request,
        HttpContext http,
        NpgsqlDataSource dataSource,
        SessionTokens sessions,
        RateLimitGate gate,
        PasswordHashingSlots hashing,
        IOptions<AuthOptions> options,
        TimeProvider clock,
        CancellationToken cancellationToken)
    {
        if (!HasCsrfHeader(http))
            return Problems.Forbidden(CsrfMissing);
        var signedIn = await Login.Handle(request, http, dataSource, sessions, gate, hashing, options, clock, cancellationToken);
        return WithCookie(signedIn.Result, http, options.Value);
    }

    public static async Task<Results<Ok<BrowserSessionResponse>, ProblemHttpResult>> Renew(
        HttpContext http,
        NpgsqlDataSource dataSource,
        SessionTokens sessions,
        CallerStateCache cache,
        IOptions<AuthOptions> options,
        CancellationToken cancellationToken)
    {
        if (!HasCsrfHeader(http))
            return Problems.Forbidden(CsrfMissing);
        if (http.Request.Cookies[CookieName] is not { Length: > 0 } refreshToken)
            return Problems.Unauthorized(http, Refresh.Rejected);
        var renewed = await Refresh.Handle(new RefreshRequest(refreshToken), http, dataSource, sessions, cache, options, cancellationToken);
        return WithCookie(renewed.Result, http, options.Value);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> SignOut(
        HttpContext http, NpgsqlDataSource dataSource, CallerStateCache cache, CancellationToken cancellationToken)
    {
        if (!HasCsrfHeader(http))
            return Problems.Forbidden(CsrfMissing);
        if (http.Request.Cookies[CookieName] is { Length: > 0 and <= 256 } refreshToken)
        {
            var tokenHash = OpaqueTokens.HashHex(refreshToken);
            var revoked = await dataSource.InTransactionAsync(async (connection, transaction) =>
            {
                var session = await connection.QuerySingleOrDefaultAsync<RevokedSession>(RevokeSql, new { tokenHash, cancellationToken }, transaction);
                if (session is not null)
                {
                    await AuthChanges.PublishAsync(connection, transaction, AuthChanges.Session(session.Id), cancellationToken);
                    await AuditWriter.WriteAsync(connection, transaction, new AuditEntry("auth.logout", "session", session.Id.ToString(),
                        AuditActor.From(http, null) with { UserId = session.UserId }), cancellationToken);
                }
                return session;
            }, cancellationToken);
            if (revoked is not null)
                cache.Apply(AuthChanges.Session(revoked.Id));
        }
        http.Response.Cookies.Delete(CookieName, CookieOptions(null));
        return TypedResults.NoContent();
    }

    private static bool HasCsrfHeader(HttpContext http) => http.Request.Headers[CsrfHeader] == "1";

    /// <summary>A new pair puts its refresh token in the cookie; a refusal clears the cookie, so a dead session is not retried.</summary>
    private static Results<Ok<BrowserSessionResponse>, ProblemHttpResult> WithCookie(IResult result, HttpContext http, AuthOptions options)
    {
        switch (result)
        {
            case Ok<TokenResponse> { Value: { } tokens }:
                http.Response.Cookies.Append(CookieName, tokens.RefreshToken, CookieOptions(TimeSpan.FromDays(options.SessionAbsoluteDays)));
                return TypedResults.Ok(new BrowserSessionResponse(tokens.AccessToken, tokens.TokenType, tokens.ExpiresIn, tokens.SessionId));
            case ProblemHttpResult problem:
                if (problem.StatusCode == StatusCodes.Status401Unauthorized)
                    http.Response.Cookies.Delete(CookieName, CookieOptions(null));
                return problem;
            default:
                throw new UnreachableException($"login and refresh answer a token pair or a problem, not {result.GetType().Name}");
        }
    }

    private static CookieOptions CookieOptions(TimeSpan? maxAge) => new()
    {
        HttpOnly = true,
        Secure = true,
        SameSite = SameSiteMode.Strict,
        Path = CookiePath,
        MaxAge = maxAge,
        IsEssential = true,
    };
}
