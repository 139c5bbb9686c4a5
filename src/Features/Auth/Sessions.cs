using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using TaskRunner.Infrastructure.Audit;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.Auth;

public sealed record SessionResponse(
    Guid Id,
    DateTime CreatedAt,
    DateTime LastUsedAt,
    DateTime ExpiresAt,
    string? Ip,
    string? UserAgent,
    bool Current);

/// <summary>The caller's own sessions: list them, end one, or end the current one (logout).</summary>
public static class Sessions
{
    private const string ListSql = """
        SELECT id, created_at, last_used_at, expires_at, host(ip) AS ip, user_agent
        FROM sessions
        WHERE user_id = @userId AND revoked_at IS NULL AND expires_at > now()
        ORDER BY created_at DESC
        LIMIT 200
        """;

    /// <summary>Scoped to the caller in SQL: another user's session id is simply not found.</summary>
    private const string RevokeSql = """
        UPDATE sessions SET revoked_at = now(), revoked_reason = @reason
        WHERE id = @id AND user_id = @userId AND revoked_at IS NULL
        """;

    internal sealed record SessionRow(Guid Id, DateTime CreatedAt, DateTime LastUsedAt, DateTime ExpiresAt, string? Ip, string? UserAgent);

    public static async Task<Ok<SessionResponse[]>> List(Caller caller, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<SessionRow>(ListSql, new { userId = caller.UserId, cancellationToken });
        return TypedResults.Ok(rows
            .Select(row => new SessionResponse(row.Id, row.CreatedAt, row.LastUsedAt, row.ExpiresAt, row.Ip, row.UserAgent,
                row.Id == caller.SessionId))
            .ToArray());
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Revoke(
        Guid id, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CallerStateCache cache, CancellationToken cancellationToken) =>
        await RevokeAsync(id, "revoked", caller, http, dataSource, cache, cancellationToken)
            ? TypedResults.NoContent()
            : Problems.NotFound("No such session.");

    public static async Task<Results<NoContent, ProblemHttpResult>> Logout(
        Caller caller, HttpContext http, NpgsqlDataSource dataSource, CallerStateCache cache, CancellationToken cancellationToken)
    {
        if (caller.SessionId is not { } sessionId)
            return Problems.BadRequest("This request is authenticated with an API key, which has no session; revoke the key instead.");
        await RevokeAsync(sessionId, "logout", caller, http, dataSource, cache, cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<bool> RevokeAsync(
        Guid id, string reason, Caller caller, HttpContext http, NpgsqlDataSource dataSource, CallerStateCache cache,
        CancellationToken cancellationToken)
    {
        var revoked = await dataSource.InTransactionAsync(async (connection, transaction) =>
        {
            var rows = await connection.ExecuteAsync(RevokeSql, new { id, userId = caller.UserId, reason, cancellationToken }, transaction);
            if (rows > 0)
            {
                await AuthChanges.PublishAsync(connection, transaction, AuthChanges.Session(id), cancellationToken);
                await AuditWriter.WriteAsync(connection, transaction, new AuditEntry(
                    reason == "logout" ? "auth.logout" : "session.revoke", "session", id.ToString(), AuditActor.From(http, caller)),
                    cancellationToken);
            }
            return rows > 0;
        }, cancellationToken);
        if (revoked)
            cache.Apply(AuthChanges.Session(id));
        return revoked;
    }
}
