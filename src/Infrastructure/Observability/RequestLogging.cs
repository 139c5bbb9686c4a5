using System.Diagnostics;
using System.Security.Claims;

namespace TaskRunner.Infrastructure.Observability;

/// <summary>
/// One log line per request, written when the response is done: request_id, trace_id, method, route, status, duration and
/// the caller when known. Probes and scrapes log at Debug so they do not drown the rest.
/// </summary>
public static partial class RequestLogging
{
    public static IApplicationBuilder UseRequestLogging(this IApplicationBuilder app)
    {
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("TaskRunner.Requests");
        return app.Use(async (context, next) =>
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                await next(context);
            }
            finally
            {
                var level = Telemetry.IsOperational(context.Request.Path) ? LogLevel.Debug : LogLevel.Information;
                if (logger.IsEnabled(level))
                {
                    var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
                    LogRequest(
                        logger,
                        level,
                        context.Request.Method,
                        route,
                        context.Response.StatusCode,
                        Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 2),
                        context.TraceIdentifier,
                        Activity.Current?.TraceId.ToHexString(),
                        context.User.FindFirstValue(ClaimTypes.NameIdentifier));
                }
            }
        });
    }

    [LoggerMessage(EventId = 1, EventName = "Request",
        Message = "{method} {route} {status} {duration_ms} ms request_id={request_id} trace_id={trace_id} caller={caller}")]
    private static partial void LogRequest(
        ILogger logger,
        LogLevel level,
        string method,
        string route,
        int status,
        double duration_ms,
        string request_id,
        string? trace_id,
        string? caller);
}
