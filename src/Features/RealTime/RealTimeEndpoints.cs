using Microsoft.AspNetCore.Http.Timeouts;
using TaskRunner.Infrastructure.Http;
using TaskRunner.Infrastructure.Database;

namespace TaskRunner.Features.RealTime;

public static class RealTimeEndpoints
{
    public static IServiceCollection AddRealTimeFeature(this IServiceCollection services)
    {
        services.AddSingleton<RealTimeMetrics>();
        services.AddSingleton<RealTimeHub>();
        services.AddSingleton<Presence>();
        services.AddHostedService<PresenceReaper>();
        services.AddHostedService(provider => provider.GetRequiredService<RealTimeHub>());
        services.AddRetention(IssueTicket.Retention);
        return services;
    }

    public static IEndpointRouteBuilder MapRealTime(this IEndpointRouteBuilder api)
    {
        var realTime = api.MapGroup("/ws").WithTags("Real time");

        realTime.MapPost("/ticket", IssueTicket.Handle)
            .RequireAuthorization()
            .WithName("IssueSocketTicket")
            .WithSummary("Get a WebSocket ticket")
            .WithDescription("A ticket that opens one WebSocket (GET /api/v1/ws?ticket=…) as the caller's session or API key: "
                + "single use, valid for RealTime:TicketSeconds (30 s by default), on any node. Browsers cannot set headers on a "
                + "WebSocket; the ticket keeps tokens out of URLs. 404 while the service's event log is off (Events:Enabled).")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);
        realTime.MapGet("", OpenSocket.Handle)
            .AllowAnonymous()
            .WithName("OpenSocket")
            .WithMetadata(new DisableRequestTimeoutAttribute()) // a WebSocket lives for hours
            .WithSummary("Open a WebSocket of events")
            .WithDescription("Upgrades to a WebSocket (docs/realtime.md) authenticated by `ticket`, by `Sec-WebSocket-Protocol: "
                + "bearer, <access token>` (answered with the subprotocol `bearer`) or by the usual credential headers. "
                + "`last_event_id` resumes: each subscription first replays the events after it that the log still holds "
                + "(else the socket starts with a `resync` message). Refused before the upgrade: the event log turned off "
                + "(Events:Enabled, 404), not an upgrade or a malformed "
                + "last_event_id (400), no live credential or a bad, expired or used ticket (401), a browser Origin that is neither "
                + "the service's own nor a CORS origin (403), more sockets than RealTime:MaxSocketsPerUser (429), a draining node (503).")
            .Produces(StatusCodes.Status101SwitchingProtocols)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        api.MapGet("/projects/{id:guid}/presence", GetProjectPresence.Handle)
            .RequireAuthorization()
            .WithTags("Real time")
            .WithName("GetProjectPresence")
            .WithSummary("Who is online and viewing")
            .WithDescription("The project's members who hold a WebSocket on any live node (`online`, by display name), and for each "
                + "task someone views over a socket (`{\"type\":\"view\",\"task_id\":…}`) the viewers' ids (`viewers`). Anyone who may "
                + "read the project; 404 otherwise. The same changes arrive on sockets subscribed to the project as `user.online`, "
                + "`user.offline`, `task.viewer_joined` and `task.viewer_left` events (docs/realtime.md).")
            .Produces<ProjectPresenceResponse>()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }
}
