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
    private const string SelectSql = """
        SELECT id, created_at, last_used_at, expires_at, host(ip) AS ip, user_agent
        FROM sessions
        """;

    private const string LiveOfCaller = "user_id = @userId AND revoked_at IS NULL AND expires_at > now()";

    /// <summary>One order, newest first (the sessions index on the user, then a small sort).</summary>
    internal static readonly ListDefinition<SessionRow, SessionResponse> Definition = new(
        new SortKeys<SessionRow>("id", row => row.Id)
            .Timestamp("created_at", "created_at", row => row.CreatedAt)
            .FixedSort("-created_at"),
        new ResponseFields<SessionResponse>(AppJsonContext.Default.SessionResponse));

    /// <summary>Scoped to the caller in SQL: another user's session id is simply not found.</summary>
    private const string RevokeSql = """
        UPDATE sessions SET revoked_at = now(), revoked_reason = @reason
        WHERE id = @id AND user_id = @userId AND revoked_at IS NULL
        """;

    internal sealed record SessionRow(Guid Id, DateTime CreatedAt, DateTime LastUsedAt, DateTime ExpiresAt, string? Ip, string? UserAgent);

    public static async Task<Results<ListResult<SessionResponse>, ProblemHttpResult>> List(
        [AsParameters] PageQuery query, Caller caller, NpgsqlDataSource dataSource, ListPaging paging, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        var page = paging.Parse(query, Definition, new CursorBinding("sessions"), errors);
        if (page is null)
            return errors.ToQueryProblem();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var rows = await new FilteredQuery(command).Where(LiveOfCaller, "userId", caller.UserId).ReadPageAsync(SelectSql, page.Keyset,
            row => new SessionRow(row.Get<Guid>("id"), row.Get<DateTime>("created_at"), row.Get<DateTime>("last_used_at"),
                row.Get<DateTime>("expires_at"), row.GetOrNull<string>("ip"), row.GetOrNull<string>("user_agent")), cancellationToken);
        return page.Result(rows, row => new SessionResponse(row.Id, row.CreatedAt, row.LastUsedAt, row.ExpiresAt, row.Ip, row.UserAgent,
            row.Id == caller.SessionId));
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
