using Dapper;
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

/// <summary>What the caller's own sessions' use cases share (<see cref="ListSessions"/>, <see cref="RevokeSession"/>, <see cref="Logout"/>).</summary>
public static class Sessions
{
    internal const string SelectSql = """
        SELECT id, created_at, last_used_at, expires_at, host(ip) AS ip, user_agent
        FROM sessions
        """;

    internal const string LiveOfCaller = "user_id = @userId AND revoked_at IS NULL AND expires_at > now()";

    /// <summary>One order, newest first (the sessions index on the user, then a small sort).</summary>
    internal static readonly ListDefinition<SessionRow, SessionResponse> Definition = new(
        new SortKeys<SessionRow>("id", row => row.Id)
            .Timestamp("created_at", "created_at", row => row.CreatedAt)
            .FixedSort("-created_at"),
        new ResponseFields<SessionResponse>(AppJsonContext.Default.SessionResponse));

    /// <summary>Scoped to the caller in SQL: another user's session id is simply not found.</summary>
    internal const string RevokeSql = """
        UPDATE sessions SET revoked_at = now(), revoked_reason = @reason
        WHERE id = @id AND user_id = @userId AND revoked_at IS NULL
        """;

    internal sealed record SessionRow(Guid Id, DateTime CreatedAt, DateTime LastUsedAt, DateTime ExpiresAt, string? Ip, string? UserAgent);

    internal static async Task<bool> RevokeAsync(
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
