using System.Diagnostics.Metrics;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Database;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Observability;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.RealTime;

public sealed record SocketTicketResponse(string Ticket, DateTime ExpiresAt);

/// <summary>
/// POST /ws/ticket: a ticket that opens one WebSocket (<c>GET /ws?ticket=…</c>) for the caller's session or API key, so a
/// browser, which cannot set headers on a WebSocket, never puts a token in a URL. Random, stored only as its SHA-256, used
/// once, valid for <see cref="RealTimeOptions.TicketSeconds"/>, and good on any node.
/// </summary>
public static class IssueTicket
{
    private const string InsertSql = """
        INSERT INTO ws_tickets (secret_hash, user_id, session_id, api_key_id, expires_at)
        VALUES (decode(@secretHash, 'hex'), @userId, @sessionId, @apiKeyId, now() + make_interval(secs => @seconds))
        RETURNING expires_at
        """;

    // Tickets never used: the redeeming statement ignores them once expired; this removes them.
    private const string DeleteExpiredSql = """
        DELETE FROM ws_tickets
        WHERE secret_hash = ANY (ARRAY(
            SELECT secret_hash FROM ws_tickets WHERE expires_at < now() ORDER BY expires_at LIMIT @batchSize FOR UPDATE SKIP LOCKED))
        """;

    public static async Task<Results<Ok<SocketTicketResponse>, ProblemHttpResult>> Handle(
        Caller caller, NpgsqlDataSource dataSource, IOptions<RealTimeOptions> options, IOptions<EventsOptions> events,
        CancellationToken cancellationToken)
    {
        if (!events.Value.Enabled)
            return Problems.NotFound(RealTimeHub.EventLogOffDetail);
        var ticket = OpaqueTokens.New();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var expiresAt = await connection.ExecuteScalarAsync<DateTime>(InsertSql, new
        {
            secretHash = OpaqueTokens.HashHex(ticket),
            userId = caller.UserId,
            sessionId = caller.SessionId,
            apiKeyId = caller.ApiKeyId,
            seconds = options.Value.TicketSeconds,
            cancellationToken,
        });
        return TypedResults.Ok(new SocketTicketResponse(ticket, expiresAt));
    }

    public static RetentionJob Retention(IMeterFactory meters) =>
        new("ws-ticket-retention", TimeSpan.FromMinutes(1), 0, 1000,
        [
            new("ws_tickets", DeleteExpiredSql, meters.Create(Telemetry.ServiceName)
                .CreateCounter<long>("taskrunner.realtime.tickets.deleted", "{ticket}", "Expired WebSocket tickets that were never used, deleted")),
        ]);
}
