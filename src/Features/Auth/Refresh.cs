using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

public sealed record RefreshRequest([property: ApiRequired] string? RefreshToken);

/// <summary>
/// Trades a refresh token for a new pair. Each refresh token works once: presenting one that was already used means it was
/// copied, so the whole session is revoked (theft detection) and both the thief and the owner must log in again.
/// </summary>
public static class Refresh
{
    public const string Rejected = "The refresh token is invalid, expired or revoked.";

    private const string FindSql = """
        SELECT t.session_id, s.user_id, t.used_at IS NOT NULL AS used,
               (s.revoked_at IS NULL AND s.expires_at > now()
                AND s.last_used_at > now() - make_interval(mins => @idleMinutes)
                AND NOT u.disabled AND u.deleted_at IS NULL) AS active
        FROM refresh_tokens t
        JOIN sessions s ON s.id = t.session_id
        JOIN users u ON u.id = s.user_id
        WHERE t.token_hash = decode(@tokenHash, 'hex')
        FOR UPDATE OF t, s
        """;

    private const string RevokeSessionSql = """
        UPDATE sessions SET revoked_at = now(), revoked_reason = 'refresh_reuse'
        WHERE id = @sessionId AND revoked_at IS NULL
        """;

    private const string RotateSql = """
        UPDATE refresh_tokens SET used_at = now() WHERE token_hash = decode(@tokenHash, 'hex');
        UPDATE sessions SET last_used_at = now() WHERE id = @sessionId;
        """;

    internal sealed record RefreshTokenRow(Guid SessionId, Guid UserId, bool Used, bool Active);

    private enum Outcome { Rotated, Reused, Rejected }

    public static async Task<Results<Ok<TokenResponse>, ProblemHttpResult>> Handle(
        RefreshRequest request,
        HttpContext http,
        NpgsqlDataSource dataSource,
        SessionTokens sessions,
        CallerStateCache cache,
        IOptions<AuthOptions> options,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        errors.RequireLength("refresh_token", request.RefreshToken, 1, 256);
        if (!errors.IsEmpty)
            return errors.ToProblem();

        var tokenHash = OpaqueTokens.HashHex(request.RefreshToken!);
        var (outcome, tokens, sessionId) = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var row = await connection.QuerySingleOrDefaultAsync<RefreshTokenRow>(FindSql,
                new { tokenHash, idleMinutes = options.Value.SessionIdleMinutes, cancellationToken }, transaction);
            if (row is null || !row.Used && !row.Active)
                return (Outcome.Rejected, (TokenResponse?)null, Guid.Empty);
            var actor = AuditActor.From(http, null) with { UserId = row.UserId };
            if (row.Used)
            {
                await connection.ExecuteAsync(RevokeSessionSql, new { sessionId = row.SessionId, cancellationToken }, transaction);
                await AuditWriter.WriteAsync(connection, transaction,
                    new AuditEntry("auth.refresh_reuse", "session", row.SessionId.ToString(), actor), cancellationToken);
                await AuthChanges.PublishAsync(connection, transaction, AuthChanges.Session(row.SessionId), cancellationToken);
                return (Outcome.Reused, null, row.SessionId);
            }
            await connection.ExecuteAsync(RotateSql, new { tokenHash, sessionId = row.SessionId, cancellationToken }, transaction);
            var issued = await sessions.IssueAsync(connection, transaction, row.UserId, row.SessionId, cancellationToken);
            http.Response.Headers.CacheControl = "no-store";
            await AuditWriter.WriteAsync(connection, transaction,
                new AuditEntry("auth.refresh", "session", row.SessionId.ToString(), actor), cancellationToken);
            return (Outcome.Rotated, issued, row.SessionId);
        }, cancellationToken);

        if (outcome == Outcome.Reused)
            cache.Apply(AuthChanges.Session(sessionId));
        return tokens is null ? Problems.Unauthorized(http, Rejected) : TypedResults.Ok(tokens);
    }
}
