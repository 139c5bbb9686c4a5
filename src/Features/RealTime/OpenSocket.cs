using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskRunner.Infrastructure.Configuration;
using TaskRunner.Infrastructure.Events;
using TaskRunner.Infrastructure.Hosting;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Security;

namespace TaskRunner.Features.RealTime;

/// <summary>
/// GET /ws: upgrades to a WebSocket for a ticket (<c>?ticket=</c>), a bearer subprotocol or the usual credential headers.
/// Everything that can refuse the socket does so before the upgrade, as a problem: the event log turned off (404), not an
/// upgrade (400), a browser origin that is neither the service's own nor a configured CORS origin (403), no live credential
/// (401), the user's socket cap (429), a draining node (503).
/// </summary>
public static partial class OpenSocket
{
    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> Handle(
        HttpContext http,
        [FromQuery(Name = "ticket")] string? ticket,
        [FromQuery(Name = "last_event_id")] string? lastEventId,
        RealTimeHub hub,
        NpgsqlDataSource dataSource,
        Presence presence,
        IOptions<RealTimeOptions> options,
        IOptions<EventsOptions> events,
        Reloadable<HttpOptions> httpOptions,
        ShutdownState shutdown,
        RealTimeMetrics metrics,
        TimeProvider clock,
        ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        if (!events.Value.Enabled)
            return Problems.NotFound(RealTimeHub.EventLogOffDetail);
        if (!http.WebSockets.IsWebSocketRequest)
            return Problems.BadRequest("GET /api/v1/ws opens a WebSocket: send it as a WebSocket upgrade.");
        if (!OriginAllowed(http.Request, httpOptions.Current.CorsAllowedOrigins))
            return Problems.Forbidden("WebSockets are opened only from the service's own origin or a configured CORS origin.");
        EventPosition? resumeFrom = null;
        if (lastEventId is not null)
        {
            if (!EventPosition.TryParse(lastEventId, out var parsed))
                return Problems.BadRequest("last_event_id is the id of an event this service sent (\"<number>-<number>\").");
            resumeFrom = parsed;
        }

        var bearer = WebSocketBearer.TryReadToken(http.Request, out _);
        SocketCredential? credential;
        if (ticket is not null)
            credential = await SocketAccess.RedeemTicketAsync(dataSource, ticket, cancellationToken);
        else if (Caller.From(http.User) is { } caller && !SecondFactorEnrolment.IsPending(http.User))
            credential = new SocketCredential(caller.UserId, caller.SessionId, caller.ApiKeyId, caller.Role);
        else
            credential = null;
        if (credential is null)
            return Problems.Unauthorized(http, ticket is not null
                ? "The ticket is unknown, expired or already used: get a new one from POST /api/v1/ws/ticket."
                : "Open the socket with ?ticket= from POST /api/v1/ws/ticket, or send Sec-WebSocket-Protocol: bearer, <access token>.");
        if (shutdown.IsDraining)
            return Problems.ServiceUnavailable(http, TimeSpan.FromSeconds(1), "This node is shutting down: connect again (to another node).");

        var settings = options.Value;
        var feedStart = await hub.StartFeedAsync(cancellationToken);
        var resync = resumeFrom is { } from && !await EventLog.HoldsAsync(dataSource, from, cancellationToken);
        using var connection = new SocketConnection(credential, resync ? null : resumeFrom, settings, metrics, dataSource, presence, clock,
            loggers.CreateLogger(typeof(SocketConnection).FullName!));
        if (!hub.TryAdd(connection, feedStart))
            return Problems.TooManyRequests(http, TimeSpan.FromSeconds(5),
                $"A user may hold {settings.MaxSocketsPerUser} WebSockets on a node: close one first.");
        var logger = loggers.CreateLogger(typeof(OpenSocket).FullName!);
        try
        {
            // Online before the upgrade answers, so a client that got its socket is already in the presence it reads.
            await presence.OpenAsync(connection.Id, credential.UserId, cancellationToken);
            using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                SubProtocol = ticket is null && bearer ? WebSocketBearer.Subprotocol : null,
                KeepAliveInterval = TimeSpan.FromSeconds(settings.PingSeconds),
                KeepAliveTimeout = TimeSpan.FromSeconds(settings.IdleTimeoutSeconds),
            });
            await connection.RunAsync(socket, resync, cancellationToken);
        }
        finally
        {
            hub.Remove(connection);
            await ClosePresenceAsync(presence, connection, logger);
        }
        return TypedResults.Empty;
    }

    private static async Task ClosePresenceAsync(Presence presence, SocketConnection connection, ILogger logger)
    {
        try
        {
            // Not the request's token: it is cancelled when the client goes, which is when this must run.
            await presence.CloseAsync(connection.Id, connection.Credential.UserId, CancellationToken.None);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or ObjectDisposedException)
        {
            LogPresenceNotClosed(logger, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "A closed WebSocket's presence could not be removed; it stays until this node stops or dies: {reason}")]
    private static partial void LogPresenceNotClosed(ILogger logger, string reason);

    /// <summary>
    /// Browsers send Origin on every WebSocket handshake and let any page open a socket to any site, so the origin is the
    /// only defence against another site's page riding on the user's credentials. Clients that are not browsers send none.
    /// </summary>
    private static bool OriginAllowed(HttpRequest request, string[] corsOrigins)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0)
            return true;
        var own = $"{request.Scheme}://{request.Host}";
        return string.Equals(origin, own, StringComparison.OrdinalIgnoreCase)
            || corsOrigins.Any(allowed => string.Equals(origin, allowed.TrimEnd('/'), StringComparison.OrdinalIgnoreCase));
    }
}
