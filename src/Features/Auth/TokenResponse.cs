using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

/// <summary>What login and refresh answer: a short-lived access token and the refresh token that renews it.</summary>
public sealed record TokenResponse(string AccessToken, string TokenType, int ExpiresIn, string RefreshToken, Guid SessionId);

/// <summary>Sessions and their refresh tokens, written inside the caller's transaction.</summary>
public sealed class SessionTokens(AccessTokens accessTokens, IOptions<AuthOptions> options)
{
    private const string InsertSessionSql = """
        INSERT INTO sessions (id, user_id, expires_at, ip, user_agent)
        VALUES (@id, @userId, now() + make_interval(days => @absoluteDays), @ip, @userAgent)
        """;

    private const string InsertRefreshTokenSql = """
        INSERT INTO refresh_tokens (token_hash, session_id) VALUES (decode(@tokenHash, 'hex'), @sessionId)
        """;

    public async Task<TokenResponse> StartSessionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid userId, HttpContext http, CancellationToken cancellationToken)
    {
        var sessionId = Ids.New();
        var userAgent = http.Request.Headers.UserAgent.ToString();
        await connection.ExecuteAsync(InsertSessionSql, new
        {
            id = sessionId,
            userId,
            absoluteDays = options.Value.SessionAbsoluteDays,
            ip = http.Connection.RemoteIpAddress,
            userAgent = userAgent.Length == 0 ? null : userAgent[..Math.Min(userAgent.Length, 512)],
            cancellationToken,
        }, transaction);
        return await IssueAsync(connection, transaction, userId, sessionId, cancellationToken);
    }

    /// <summary>A new access token and a new refresh token for an existing session.</summary>
    public async Task<TokenResponse> IssueAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid userId, Guid sessionId, CancellationToken cancellationToken)
    {
        var refreshToken = OpaqueTokens.New();
        await connection.ExecuteAsync(InsertRefreshTokenSql,
            new { tokenHash = OpaqueTokens.HashHex(refreshToken), sessionId, cancellationToken }, transaction);
        return new TokenResponse(
            accessTokens.Issue(userId, sessionId),
            "Bearer",
            (int)accessTokens.Lifetime.TotalSeconds,
            refreshToken,
            sessionId);
    }
}
